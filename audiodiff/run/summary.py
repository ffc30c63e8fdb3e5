"""TensorBoard event files (tensorboardX); only process 0 writes."""

import os

import jax
import matplotlib.image
import numpy as np


def flat_hparams(config) -> dict:
  """config -> {'train.learning_rate': 0.001, ...} of TensorBoard-ready values
  (numbers, strings, booleans; sequences as strings)."""
  flat = {}

  def walk(prefix, node):
    for key, value in node.items():
      name = f'{prefix}{key}'
      if hasattr(value, 'items'):
        walk(name + '.', value)
      elif isinstance(value, (bool, int, float, str)):
        flat[name] = value
      else:
        flat[name] = str(value)

  walk('', config)
  return flat


class SummaryWriter:
  """Scalars, audio, pictures and hyperparameters to workdir's TensorBoard
  event files."""

  def __init__(self, logdir: str):
    self._writer = None
    if jax.process_index() == 0:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._writer = tensorboardX.SummaryWriter(logdir)

  def scalars(self, values: dict, step: int) -> None:
    if self._writer:
      for name, value in values.items():
        self._writer.add_scalar(name, float(value), step)
      self._writer.flush()

  def audio(self, name: str, audio, step: int, sample_rate: int) -> None:
    if self._writer:
      clip = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
      self._writer.add_audio(name, clip[:, None], step, sample_rate=sample_rate)

  def image(self, name: str, png_path: str, step: int) -> None:
    """A PNG written beside a sample (its spectrogram), as an image."""
    if self._writer and os.path.exists(png_path):
      picture = matplotlib.image.imread(png_path)[..., :3]
      self._writer.add_image(name, picture, step, dataformats='HWC')

  def hparams(self, config, metrics: dict) -> None:
    """The run's config beside its final metrics (TensorBoard's HParams tab)."""
    if self._writer:
      self._writer.add_hparams(flat_hparams(config),
                               {f'hparam/{k}': float(v) for k, v in metrics.items()},
                               name='hparams')
      self._writer.flush()

  def close(self) -> None:
    if self._writer:
      self._writer.close()
