"""Speech enhancement: noisy speech in, clean speech out."""
