"""audiodiff: diffusion models for audio in JAX/Flax.

`audiodiff.load(directory)` returns a trained model (audiodiff/run/api.py).

The package in layers, top to bottom:

  run/          experiment, training, checkpoints, the modes, load and export;
                loads the other trained runs a task declares
  tasks/        one module per task (generate, vocoder, enhance, tts,
                autoencoder, latent): batches -> diffusion inputs, losses,
                what to sample, decoding, metrics
  tts/ enhancement/ restoration/ latent/    a task family's own parts
  models/       Flax modules, each built from its own config section
  data/         TFDS builders (ArrayRecord) and the Grain pipeline
  metrics/      audio metrics, generative metrics, the classifier
  diffusion/    schedules, time grids, the forward process, the SDE,
                samplers, analytic denoisers
  audio/        file I/O, STFT and mel, windows (overlap-add), filters, plots
  defaults.py (the base config), registry.py, errors.py

Imports point down only (tests/test_layout.py checks every import):
diffusion/ and audio/ import none of models/, data/, tasks/ or run/;
tasks/ never imports run/ (a task declares the runs it needs, and run/
hands them in); nothing in audiodiff/ imports `experiments`; no cycle.
"""


from audiodiff.errors import UserError  # noqa: E402  what every check raises


def load(directory, config=None, *, checkpoint_step=None):
  """A trained model from an export or a work directory (audiodiff.run.api.load)."""
  from audiodiff.run import api  # pylint: disable=g-import-not-at-top
  return api.load(directory, config, checkpoint_step=checkpoint_step)
