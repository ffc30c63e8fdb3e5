"""audiodiff: diffusion models for audio in JAX/Flax.

`audiodiff.load(directory)` returns a trained model (see audiodiff/run/api.py).
"""


def load(directory, config=None, *, checkpoint_step=None):
  """A trained model from an export or a work directory (audiodiff.run.api.load)."""
  from audiodiff.run import api  # pylint: disable=g-import-not-at-top
  return api.load(directory, config, checkpoint_step=checkpoint_step)
