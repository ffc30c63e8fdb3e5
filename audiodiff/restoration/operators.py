"""Measurement operators of restoration: what the degraded signal says.

Every operator maps a clean signal x [..., L] to its measurement y [..., L]
(same shape: a measurement here is a degraded waveform) and knows

    op(x)                  -> y = A x, the degradation;
    op.residual(x, y)      -> the measurement error of x as a vector: A x - y
                              for linear operators, x - project(x, y) for
                              clipping (zero exactly when x is consistent);
    op.project(x, y)       -> the closest signal consistent with y;
    op.linear_part()       -> a linear operator the method's linear algebra
                              uses (itself when linear).

Linear operators here are diagonal in a known basis: the time samples
(`TimeDiagonal`, gaps) or the real DFT (`FourierDiagonal`, low-pass filters).
So A is symmetric (A^T = A), and the pseudo-inverse and (A A^T + r I)^-1
that projection and Pi-GDM need are elementwise in that basis, exact at any
length. Clipping (`Clipping`) is not linear; its consistent set is convex:
reliable samples equal y, clipped ones lie at or beyond the level with the
sign of y.
"""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff.audio import filters
from audiodiff.errors import UserError

_PINV_FLOOR = 1e-3   # weights below this count as "not measured" in A^+
# A filter's gains below -20 dB count as not measured: inverting them would
# amplify what a recording holds there (noise, another filter's leak) more than 10x.
_FILTER_PINV_FLOOR = 0.1


def _pinv_weights(weights, floor=_PINV_FLOOR):
  return jnp.where(weights > floor, 1.0 / jnp.maximum(weights, floor), 0.0)


def _pytree(data_fields, meta_fields=()):
  """Registers an operator dataclass as a pytree, so it can enter jit."""
  return functools.partial(jax.tree_util.register_dataclass, data_fields=data_fields,
                           meta_fields=meta_fields)


@_pytree(('weights',))
@dataclasses.dataclass(frozen=True)
class TimeDiagonal:
  """A x = w * x with weights w [L] in [0, 1] (1 reliable, 0 missing)."""
  weights: Any

  def __call__(self, x):
    return self.weights * x

  adjoint = __call__

  def pinv(self, v):
    return _pinv_weights(self.weights) * v

  def solve(self, v, r2):
    """(A A^T + r2 I)^-1 v; r2 a scalar (> 0 where weights are 0)."""
    return v / (self.weights ** 2 + r2)

  def residual(self, x, y):
    return self(x) - y

  def project(self, x, y):
    """x + A^+ (y - A x): for binary weights, y on the reliable samples and x
    elsewhere; in a taper, the reliable value shows through as w grows."""
    return x + self.pinv(y - self(x))

  def linear_part(self):
    return self


@_pytree(('response',), ('length',))
@dataclasses.dataclass(frozen=True)
class FourierDiagonal:
  """A x = irfft(h * rfft(x)) with a real response h [L // 2 + 1] in [0, 1]:
  a zero-phase (circular) filter."""
  response: Any
  length: int

  def _apply(self, gains, x):
    return jnp.fft.irfft(gains * jnp.fft.rfft(x, axis=-1), n=self.length, axis=-1)

  def __call__(self, x):
    return self._apply(self.response, x)

  adjoint = __call__

  def pinv(self, v):
    return self._apply(_pinv_weights(self.response, _FILTER_PINV_FLOOR), v)

  def solve(self, v, r2):
    return self._apply(1.0 / (self.response ** 2 + r2), v)

  def residual(self, x, y):
    return self(x) - y

  def project(self, x, y):
    return x + self.pinv(y - self(x))

  def linear_part(self):
    return self


@_pytree(('level', 'clipped'))
@dataclasses.dataclass(frozen=True)
class Clipping:
  """y = clip(x, -level, level); `clipped` [L] is +1 / -1 where y sits at
  +level / -level and 0 where it is reliable."""
  level: Any
  clipped: Any

  def __call__(self, x):
    return jnp.clip(x, -self.level, self.level)

  def project(self, x, y):
    reliable = self.clipped == 0
    above = jnp.maximum(x, self.level)
    below = jnp.minimum(x, -self.level)
    return jnp.where(reliable, y, jnp.where(self.clipped > 0, above, below))

  def residual(self, x, y):
    return x - self.project(x, y)

  def linear_part(self):
    """The reliable samples as a mask (the inequalities are not linear)."""
    return TimeDiagonal((self.clipped == 0).astype(jnp.float32))


# ---------------------------------------------------------------------------
# Building operators from user settings (numpy, outside jit).


def runs(mask):
  """[(start, end)] of the True runs of a bool [L] (e.g. a gap mask's)."""
  edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask).astype(np.int8), [0]])))
  return list(zip(edges[::2], edges[1::2]))


def parse_gaps(text):
  """'0.50-0.55,1.20-1.30' -> [(0.5, 0.55), (1.2, 1.3)] in seconds.

  Raises:
    UserError: a malformed or empty interval, named with the expected form.
  """
  gaps = []
  for part in str(text).split(','):
    part = part.strip()
    if not part:
      continue
    try:
      start, end = (float(v) for v in part.split('-'))
    except ValueError:
      raise UserError(f"config.restore.gaps: cannot read {part!r}; write gaps as "
                      "'START-END' in seconds, comma separated, e.g. "
                      "'0.50-0.55,1.20-1.30'.") from None
    if not 0 <= start < end:
      raise UserError(f'config.restore.gaps: {part!r} must have 0 <= start < end '
                      '(seconds).')
    gaps.append((start, end))
  if not gaps:
    raise UserError("config.restore.gaps is empty; give the gaps to fill in seconds, "
                    "e.g. --config.restore.gaps='0.50-0.55'.")
  return sorted(gaps)


def gap_weights(length, gaps, sample_rate, taper_ms=0.0):
  """float32 [length]: 0 inside each gap, 1 elsewhere, with raised-cosine
  ramps of taper_ms on both sides outside the gap (restore.py cross-fades
  the input into the restoration over them, so fills start without clicks).

  Args:
    length: samples in the signal.
    gaps: [(start_s, end_s)], from parse_gaps.
    sample_rate: Hz.
    taper_ms: ramp length; 0 for a binary mask.

  Raises:
    UserError: a gap that ends beyond the signal.
  """
  check_gaps_inside(gaps, length / sample_rate)
  weights = np.ones(length, np.float64)
  ramp = int(round(taper_ms * 1e-3 * sample_rate))
  for start, end in gaps:
    a, b = int(round(start * sample_rate)), int(round(end * sample_rate))
    b = max(b, a + 1)
    weights[a:b] = 0.0
    if ramp:
      fade = 0.5 - 0.5 * np.cos(np.pi * (np.arange(1, ramp + 1) / (ramp + 1)))
      left = slice(max(0, a - ramp), a)
      if a > left.start:  # falling towards the gap
        weights[left] = np.minimum(weights[left], fade[::-1][ramp - (a - left.start):])
      right = slice(b, min(length, b + ramp))
      weights[right] = np.minimum(weights[right], fade[:right.stop - right.start])
  return weights.astype(np.float32)


def lowpass_response(length, sample_rate, cutoff_hz, kind='brickwall', order=8):
  """float32 [length // 2 + 1]: filters.lowpass_gain of config.restore's
  filter ('brickwall', an orthogonal projector, or 'butterworth').

  Raises:
    UserError: cutoff at or above Nyquist, or not positive; another kind.
  """
  nyquist = sample_rate / 2
  if not 0 < cutoff_hz < nyquist:
    raise UserError(f'config.restore.cutoff_hz={cutoff_hz:g} must lie between 0 and the '
                    f'Nyquist frequency {nyquist:g} Hz of the model\'s {sample_rate} Hz '
                    '(inputs are resampled to it).')
  if kind not in ('brickwall', 'butterworth'):
    raise UserError(f"config.restore.filter={kind!r} must be 'brickwall' or 'butterworth'.")
  return filters.lowpass_gain(length, sample_rate, cutoff_hz, kind, order)


def count_at_level(blocks, level, tolerance=1e-4):
  """Samples of a signal, given as consecutive float blocks [n_i], whose |y|
  reaches level (within tolerance), and how many of those sit on plateaus
  (runs of two or more), as clipping leaves them. Returns (at, on_plateaus)."""
  at_count = plateau = 0
  previous = np.zeros(1, bool)   # whether the sample before the block is at the level
  blocks = iter(blocks)
  block = next(blocks, None)
  while block is not None:
    following = next(blocks, None)
    at = np.abs(block) >= level * (1 - tolerance) - 1e-7
    after = (np.abs(following[:1]) >= level * (1 - tolerance) - 1e-7
             if following is not None else np.zeros(1, bool))
    plateau += int(np.sum(at & (np.concatenate([previous, at[:-1]])
                                | np.concatenate([at[1:], after]))))
    at_count += int(np.sum(at))
    previous, block = at[-1:], following
  return at_count, plateau


def check_gaps_inside(gaps, duration) -> None:
  """A UserError for the first gap [(start_s, end_s)] that ends beyond a
  signal of `duration` seconds."""
  for start, end in gaps:
    if end > duration + 1e-9:
      raise UserError(f'Gap {start:g}-{end:g} s ends beyond the input ({duration:.3f} s '
                      'long); give gaps inside the file (config.restore.gaps).')


def clipped_signs(y, level, tolerance=1e-4):
  """float32 [L]: +1 / -1 where |y| reaches level (within tolerance), else 0."""
  y = np.asarray(y, np.float32)
  at_level = np.abs(y) >= level * (1 - tolerance) - 1e-7
  return (np.sign(y) * at_level).astype(np.float32)
