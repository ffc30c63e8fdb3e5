"""What a run prints: its own progress, on process 0 only.

Library INFO logs (Orbax option dumps, TFDS and Grain notices) stay at
WARNING unless `--verbose` (main.py) asks for them; `say` is for the lines a
user reads: progress, losses, ETA, evaluation and where files went.
"""

import logging as python_logging
import time

import jax
from absl import logging


def say(message: str) -> None:
  """Prints message (process 0) and logs it at INFO for log files."""
  logging.info(message)
  if jax.process_index() == 0:
    print(message, flush=True)


class Progress:
  """Progress over `total` items of an inference mode, with an ETA.

      progress = Progress(len(files), 'files')
      for path in files:
        ...
        progress.done(path)

  Prints '[k/N files] name  12 s, ETA 0:45' at most every `every` seconds
  and for the last item, so a long run is never silent and a short one
  prints one line.
  """

  def __init__(self, total: int, what: str, every: float = 2.0):
    self.total, self.what, self.every = int(total), what, every
    self.count, self.start = 0, time.time()
    self.last = self.start

  def done(self, name: str = '', count: int = 1) -> None:
    self.count += count
    now = time.time()
    if now - self.last < self.every and self.count < self.total:
      return
    self.last = now
    elapsed = now - self.start
    remaining = elapsed / self.count * (self.total - self.count)
    minutes, seconds = divmod(int(round(remaining)), 60)
    say(f'[{self.count}/{self.total} {self.what}] {name}  {elapsed:.0f} s, '
        f'ETA {minutes}:{seconds:02d}')


_LIBRARIES = ('tensorflow_datasets', 'orbax', 'grain', 'etils')


def _is_own_or_serious(record) -> bool:
  """Library records below ERROR are dropped (their INFO/WARNING notices,
  e.g. TFDS's "Using custom data configuration", are not for users)."""
  return record.levelno >= python_logging.ERROR or not any(
      f'/{name}/' in record.pathname for name in _LIBRARIES)


class _PlainFormatter(python_logging.Formatter):
  """'warning: <message>' (absl's own prefix names a source line, not for users)."""

  def format(self, record):
    text = f'{record.levelname.lower()}: {record.getMessage()}'
    return text + ('\n' + self.formatException(record.exc_info) if record.exc_info else '')


def set_verbosity(verbose: bool) -> None:
  """verbose: every INFO log. Otherwise the run's own lines and warnings
  only, as plain 'warning: ...' lines."""
  if verbose:
    logging.set_verbosity(logging.INFO)
    return
  logging.set_verbosity(logging.WARNING)
  logging.get_absl_logger().addFilter(_is_own_or_serious)
  logging.get_absl_handler().setFormatter(_PlainFormatter())
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()
