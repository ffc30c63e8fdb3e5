"""TensorBoard event files (tensorboardX); only process 0 writes."""

import jax
import numpy as np


class SummaryWriter:
  """Scalars and audio to workdir's TensorBoard event files."""

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

  def close(self) -> None:
    if self._writer:
      self._writer.close()
