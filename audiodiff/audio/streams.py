"""Recordings of any length a block at a time: read, resampled and written
without holding the whole file.

    source = FileSource.scan('long.wav', rate=16000)   # one pass: checked, measured
    for block in source.blocks(): ...                  # mono float32 at 16 kHz
    write_blocks('out.wav', blocks, rate=16000, file_rate=source.file_rate,
                 length=source.file_length)           # back at the file's rate

Memory is bounded by a block and the resampler's filter, whatever the length;
the results equal the whole-array functions of `audio_io` (`read_audio`,
`resample`, `save_audio`) to float rounding.
"""

import ctypes
import dataclasses
import math
import os

import numpy as np
import scipy.signal
import soundfile as sf

from audiodiff.audio import audio_io
from audiodiff.errors import UserError

# Frames read from a file at a time.
BLOCK = 1 << 16


# What broken output means where no input is to blame.
SETTINGS_OR_MODEL = ('The sampler settings may not suit the model (config.sampler: more steps, '
                     'its own sampler or less guidance), or its parameters are broken: '
                     'retrain or re-export it.')


def return_freed_arrays_to_the_os() -> None:
  """Fixes glibc's mmap threshold at 128 KiB (M_MMAP_THRESHOLD), so every
  large array is mapped and unmapped on its own. By default glibc raises the
  threshold to the size of each large array freed, and serves later ones
  from its heap, which fragments: restoring 2,000 s in 4 s spans grew the
  peak by 30 MB, and by nothing with the threshold fixed. A no-op without
  glibc."""
  try:
    ctypes.CDLL('libc.so.6').mallopt(-3, 128 * 1024)
  except (OSError, AttributeError):
    pass


def resample_blocks(blocks, orig_rate: int, target_rate: int):
  """Yields the polyphase resampling (`audio_io.resample`) of the
  concatenated float32 blocks [n_i], in blocks, holding a block and the
  filter's reach at a time: output sample n reads the input within
  10 * max(up, down) / up samples of n * down / up, so each stretch of output
  is resampled from its own stretch of input with that much on each side."""
  orig_rate, target_rate = int(orig_rate), int(target_rate)
  if orig_rate == target_rate:
    for block in blocks:
      yield np.asarray(block, np.float32)
    return
  g = math.gcd(orig_rate, target_rate)
  up, down = target_rate // g, orig_rate // g
  half = 10 * max(up, down)   # scipy's filter: 2 half + 1 taps at up x the rate
  fir = scipy.signal.firwin(2 * half + 1, 1.0 / max(up, down), window=('kaiser', 5.0))
  reach = half // up + 2      # input samples an output sample reads on each side
  held = np.zeros(0, np.float32)  # input samples [base, base + len(held))
  base = produced = read = 0

  def stretch(end, final):
    """Outputs [produced, end) from `held`; the input ends there if final."""
    nonlocal held, base, produced
    first = max(0, (produced * down // up - reach) // down * down)  # a multiple of down
    stop = len(held) + base if final else min(len(held) + base, -(-end * down // up) + reach)
    out = scipy.signal.resample_poly(held[first - base:stop - base], up, down, window=fir)
    offset = first * up // down
    piece = out[produced - offset:end - offset].astype(np.float32)
    produced = end
    keep = max(0, (produced * down // up - reach) // down * down)
    held, base = held[keep - base:], keep
    return piece

  for block in blocks:
    held = np.concatenate([held, np.asarray(block, np.float32)])
    read += len(block)
    ready = (read - reach) * up // down   # outputs whose reach lies in what was read
    if ready - produced >= BLOCK // 4:
      yield stretch(ready, False)
  total = -(-read * up // down)
  if total > produced:
    yield stretch(total, True)


class Tape:
  """The stretch of a long signal that is still needed: read from its blocks
  as far as asked (`read_to`), dropped once no longer needed (`drop_before`);
  `held` is samples [base, base + len(held)) of the [length] signal."""

  def __init__(self, blocks, length: int):
    self.length = length
    self._blocks = iter(blocks)
    self.held = np.zeros(0, np.float32)
    self.base = 0

  def read_to(self, end: int) -> None:
    while self.base + len(self.held) < min(end, self.length):
      self.held = np.concatenate([self.held, next(self._blocks)]).astype(np.float32)

  def drop_before(self, start: int) -> None:
    start = min(max(start, self.base), self.base + len(self.held))
    self.held, self.base = self.held[start - self.base:], start

  def segment(self, start: int, end: int) -> np.ndarray:
    """Samples [start, end) (within what is held once read), float32."""
    self.read_to(end)
    return self.held[start - self.base:end - self.base]


@dataclasses.dataclass
class FileSource:
  """A checked recording on disk, read as mono blocks at the model's rate.

  file_rate, channels, file_length: the file's; rate: the model's; peak,
  level: the peak and RMS of its mono mix; loudest_channel: the largest
  RMS of one channel; channels_differ: whether they are not all the
  same; scale: the gain taking a float file
  that peaks above full scale down to it (1.0 otherwise)."""
  path: str
  rate: int
  file_rate: int
  channels: int
  file_length: int
  peak: float
  level: float
  loudest_channel: float = 0.0
  channels_differ: bool = False

  @property
  def scale(self) -> float:
    return 1.0 / self.peak if self.peak > 1.0 else 1.0

  @property
  def length(self) -> int:
    """Samples at the model's rate (as `audio_io.resample` makes them)."""
    return -(-self.file_length * self.rate // self.file_rate)

  @classmethod
  def scan(cls, path, rate: int) -> 'FileSource':
    """One pass over the file, with `audio_io.read_audio`'s checks.

    Raises:
      audio_io.AudioFileError: as read_audio.
    """
    info = audio_io.file_info(path)
    peak, squares, channel_squares, same = 0.0, 0.0, np.zeros(info.channels), True
    for block in _file_blocks(path):
      audio_io.check_samples(path, block)
      mono = block.mean(axis=1)
      peak = max(peak, float(np.max(np.abs(mono))))
      squares += float(np.sum(np.square(mono, dtype=np.float64)))
      channel_squares += np.sum(np.square(block, dtype=np.float64), axis=0)
      same = same and bool(np.all(block == block[:, :1]))
    return cls(os.fspath(path), int(rate), info.samplerate, info.channels, info.frames, peak,
               math.sqrt(squares / info.frames),
               float(np.sqrt(np.max(channel_squares) / info.frames)), not same)

  def file_blocks(self):
    """Yields the mono mix float32 [n] at the file's rate, scaled to full scale."""
    for block in _file_blocks(self.path):
      mono = block.mean(axis=1)
      yield mono if self.scale == 1.0 else mono * self.scale

  def blocks(self):
    """Yields the mono mix float32 [n] at the model's rate."""
    return resample_blocks(self.file_blocks(), self.file_rate, self.rate)

  def rms(self) -> float:
    """The RMS at the model's rate (one more pass)."""
    squares = sum(float(np.sum(np.square(b, dtype=np.float64))) for b in self.blocks())
    return math.sqrt(squares / self.length)


def _file_blocks(path):
  """Yields float32 [n, channels] blocks of a sound file."""
  try:
    with sf.SoundFile(os.fspath(path)) as f:
      while True:
        block = f.read(BLOCK, dtype='float32', always_2d=True)
        if not len(block):
          return
        yield block
  except (RuntimeError, sf.LibsndfileError) as error:
    raise audio_io.AudioFileError(
        path, f'could not be read to its end ({error})',
        'Re-encode it as wav/flac/ogg (e.g. `ffmpeg -i in out.wav`) or remove it.') from None


def write_blocks(path, blocks, *, rate: int, file_rate: int, length: int, keep=None) -> float:
  """Writes float32 blocks [n_i] at the model's `rate` to `path` as a wav at
  `file_rate` and exactly `length` samples (cut, or padded with silence):
  16-bit as `audio_io.save_audio` would write the whole, or 32-bit float when
  the samples go above full scale (restored peaks of a declipped file), which
  keeps them instead of clipping, or stay below audio_io.QUIET_DBFS. The samples are checked as
  `outputs.check_output` checks a whole output: nothing is left at `path`
  when they are not finite or mostly clipped (the partial file is removed).
  keep(block), if given, sees each block written (at `rate`).

  Returns:
    the peak |sample| written; above 1.0 means the file is float.

  Raises:
    UserError: non-finite or mostly clipped output (naming `path`).
  """
  path = os.fspath(path)
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  partial = audio_io.beside(path)
  written = clipped = 0
  peak = 0.0
  try:
    with audio_io.disk_full_named(path), sf.SoundFile(
        partial, 'w', samplerate=int(file_rate), channels=1, subtype='FLOAT',
        format='WAV') as out:

      def model_rate_blocks():
        for block in blocks:
          block = np.asarray(block, np.float32)
          if not np.all(np.isfinite(block)):
            raise UserError(f'{path}: the model produced NaN or inf samples; nothing was '
                            f'written for it. {SETTINGS_OR_MODEL}')
          if keep is not None:
            keep(block)
          yield block

      for block in resample_blocks(model_rate_blocks(), rate, file_rate):
        block = block[:max(0, length - written)]
        clipped += int(np.sum(np.abs(block) >= 1.0))
        peak = max(peak, float(np.max(np.abs(block), initial=0.0)))
        out.write(block)
        written += len(block)
      if written < length:
        out.write(np.zeros(length - written, np.float32))
    if clipped > audio_io.MAX_CLIPPED_FRACTION * max(written, 1):
      raise UserError(f'{path}: the model produced audio clipped at full scale or beyond '
                      f'({clipped / written:.0%} of samples); nothing was written for it. '
                      f'{SETTINGS_OR_MODEL}')
    if peak <= 1.0 and audio_io.wav_subtype(peak) == 'PCM_16':
      with audio_io.disk_full_named(path):
        _to_16_bit(partial)
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)
  return peak


def _to_16_bit(path) -> None:
  """Rewrites a float wav whose samples lie in [-1, 1] as 16-bit, in blocks."""
  converted = f'{path}.16'
  try:
    with sf.SoundFile(path) as source, sf.SoundFile(
        converted, 'w', samplerate=source.samplerate, channels=source.channels,
        subtype='PCM_16', format='WAV') as out:
      for block in source.blocks(BLOCK, dtype='float32'):
        out.write(block)
    os.replace(converted, path)
  finally:
    if os.path.exists(converted):
      os.remove(converted)
