"""Text-to-speech parts: the text front end, alignment, the model and the recogniser
used to score intelligibility."""
