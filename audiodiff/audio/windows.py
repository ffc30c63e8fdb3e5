"""Overlapping windows over a long signal, and joining their outputs.

Models see fixed-size windows; a recording of any length is cut into
windows that overlap by a few frames or samples, each is processed, and the
outputs are added back with taper weights that cross-fade the overlaps:

    join = OverlapAdd(length)
    for start in window_starts(length, window, overlap):
      join.add(start, process(x[start:start + window]), taper)
    y = join.result()

The vocoder and the enhancer count in STFT frames and taper linearly
(`cross_fade`); restoration counts in samples and tapers with raised cosines.
"""

from typing import Sequence

import numpy as np


def window_starts(length: int, window: int, overlap: int) -> list:
  """Start indices of windows of `window` covering [0, length), each
  overlapping the previous by at least `overlap`; one window at 0 when the
  signal is no longer than a window."""
  hop = max(1, window - overlap)
  last = max(0, length - window)
  starts = list(range(0, last + 1, hop))
  if starts[-1] != last:
    starts.append(last)
  return starts


def linear_taper(size: int, fade: int, *, fade_in: bool = True,
                 fade_out: bool = True) -> np.ndarray:
  """[size] float32 weights: 1, with linear ramps of `fade` samples at the
  ends asked for (never exactly 0)."""
  weights = np.ones(size, np.float32)
  if fade > 0:
    ramp = np.linspace(0.0, 1.0, fade + 2, dtype=np.float32)[1:-1]
    if fade_in:
      weights[:fade] = ramp
    if fade_out:
      weights[-fade:] = ramp[::-1]
  return weights


def raised_cosine_taper(size: int, ramp: int) -> np.ndarray:
  """[size] float32 weights: raised-cosine ramps of `ramp` samples at both
  ends (never exactly 0, so a single window still covers its edges)."""
  weights = np.ones(size, np.float32)
  if ramp > 0:
    fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    weights[:ramp] = fade
    weights[-ramp:] = np.minimum(weights[-ramp:], fade[::-1])
  return weights


class OverlapAdd:
  """Accumulates weighted pieces of a [length] signal."""

  def __init__(self, length: int, dtype=np.float32):
    self.total = np.zeros(length, dtype)
    self.weight = np.zeros(length, dtype)

  def add(self, start: int, piece, weights) -> None:
    """Adds weights * piece (both [n]) at [start, start + n)."""
    end = start + len(piece)
    self.total[start:end] += weights * np.asarray(piece, self.total.dtype)
    self.weight[start:end] += weights

  @property
  def covered(self) -> np.ndarray:
    return self.weight > 0

  def result(self, default=0.0) -> np.ndarray:
    """[length]: the weighted mean of the pieces; `default` (a scalar or a
    [length] array) where no piece fell."""
    covered = self.covered
    return np.where(covered, self.total / np.where(covered, self.weight, 1.0), default)


class RunningOverlapAdd:
  """OverlapAdd for pieces added in the order of their starts, whose head
  can be taken as soon as no later piece reaches it: memory holds the
  pieces' overlap, not the signal (arithmetic as OverlapAdd's)."""

  def __init__(self, dtype=np.float32):
    self.offset = 0                      # the first sample not taken yet
    self.total = np.zeros(0, dtype)
    self.weight = np.zeros(0, dtype)

  def add(self, start: int, piece, weights) -> None:
    """Adds weights * piece (both [n]) at [start, start + n); start must not
    lie before what was taken."""
    begin, end = start - self.offset, start - self.offset + len(piece)
    if begin < 0:
      raise ValueError(f'A piece at {start} reaches samples already taken (< {self.offset}).')
    if end > len(self.total):
      grow = end - len(self.total)
      self.total = np.concatenate([self.total, np.zeros(grow, self.total.dtype)])
      self.weight = np.concatenate([self.weight, np.zeros(grow, self.weight.dtype)])
    self.total[begin:end] += weights * np.asarray(piece, self.total.dtype)
    self.weight[begin:end] += weights

  def take(self, upto: int) -> np.ndarray:
    """The weighted mean of the pieces over [taken so far, upto) (0 where no
    piece fell), which no later piece may reach."""
    count = max(0, upto - self.offset)
    total = np.pad(self.total[:count], (0, max(0, count - len(self.total))))
    weight = np.pad(self.weight[:count], (0, max(0, count - len(self.weight))))
    self.total, self.weight = self.total[count:], self.weight[count:]
    self.offset += count
    covered = weight > 0
    return np.where(covered, total / np.where(covered, weight, 1.0), 0.0).astype(
        self.total.dtype)


def cross_fade(pieces: Sequence[np.ndarray], starts: Sequence[int], length: int,
               fade: int) -> np.ndarray:
  """Pieces (each [n]) at sample `starts` -> one float32 [length] signal, the
  overlaps joined with linear ramps of `fade` samples (none at the signal's
  own ends)."""
  join = OverlapAdd(length)
  for start, piece in zip(starts, pieces):
    taper = linear_taper(len(piece), fade if len(starts) > 1 else 0,
                         fade_in=start > 0, fade_out=start + len(piece) < length)
    join.add(start, piece, taper)
  return join.result().astype(np.float32)
