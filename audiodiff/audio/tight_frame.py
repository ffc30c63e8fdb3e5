"""A Parseval (tight) STFT frame: analysis S and its adjoint, with S^T S = I.

    coeffs = analysis(x, n_fft)            # complex [B, L / hop + 1, n_fft / 2 + 1]
    x == synthesis(coeffs, n_fft, L)       # exactly, for any x [B, L]

Frames of n_fft samples every hop = n_fft / 2, windowed by the square root
of the periodic Hann window (whose squares at hop n_fft / 2 sum to 1), each
transformed by the orthonormal real DFT (bins 1 .. n_fft/2 - 1 scaled by
sqrt 2, so a frame's coefficients hold its energy). The signal is padded
with hop zeros on each side (and at the end up to a multiple of hop), so
every sample lies under two frames. Then ||S x|| = ||x||, and `synthesis`
is the adjoint S^T: for any coefficients Z (consistent or not)
<S x, Z> = <x, S^T Z>, with complex coefficients read as pairs of reals.

A waveform model that computes on S x and returns S^T of its output keeps
the waveform as the diffusion's state, so every restoration operator (a
time mask, a low-pass, clipping) keeps its closed form (A A^T diagonal).
"""

import jax.numpy as jnp
import numpy as np


def window(n_fft: int) -> np.ndarray:
  """float64 [n_fft]: sqrt of the periodic Hann window."""
  return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft))


def _bin_scale(n_fft: int) -> np.ndarray:
  """float64 [n_fft // 2 + 1]: 1 at DC and Nyquist, sqrt 2 between."""
  scale = np.full(n_fft // 2 + 1, np.sqrt(2.0))
  scale[0] = scale[-1] = 1.0
  return scale


def _check(n_fft: int) -> int:
  if n_fft < 4 or n_fft % 2:
    raise ValueError(f'A tight frame needs an even n_fft >= 4, got {n_fft}.')
  return n_fft // 2


def num_frames(length: int, n_fft: int) -> int:
  """Frames `analysis` makes of `length` samples."""
  hop = _check(n_fft)
  return -(-int(length) // hop) + 1


def analysis(x, n_fft: int):
  """S x: float [B, L] -> complex64 [B, num_frames(L), n_fft // 2 + 1]."""
  hop = _check(n_fft)
  x = jnp.asarray(x, jnp.float32)
  batch, length = x.shape
  end = -length % hop
  blocks = jnp.pad(x, ((0, 0), (hop, hop + end))).reshape(batch, -1, hop)
  frames = jnp.concatenate([blocks[:, :-1], blocks[:, 1:]], axis=-1)   # [B, F, n_fft]
  frames = frames * jnp.asarray(window(n_fft), jnp.float32)
  spec = jnp.fft.rfft(frames, axis=-1, norm='ortho')
  return spec * jnp.asarray(_bin_scale(n_fft), jnp.float32)


def synthesis(coeffs, n_fft: int, length: int):
  """S^T Z: complex [B, F, n_fft // 2 + 1] -> float32 [B, length], where F is
  num_frames(length, n_fft)."""
  hop = _check(n_fft)
  batch, frames_count, _ = coeffs.shape
  if frames_count != num_frames(length, n_fft):
    raise ValueError(f'{frames_count} frames are not the frame of {length} samples '
                     f'({num_frames(length, n_fft)} frames at n_fft {n_fft}).')
  coeffs = coeffs / jnp.asarray(_bin_scale(n_fft), jnp.float32)
  frames = jnp.fft.irfft(coeffs, n=n_fft, axis=-1, norm='ortho')
  frames = frames * jnp.asarray(window(n_fft), jnp.float32)
  zeros = jnp.zeros((batch, 1, hop), frames.dtype)
  blocks = (jnp.concatenate([frames[:, :, :hop], zeros], axis=1)
            + jnp.concatenate([zeros, frames[:, :, hop:]], axis=1))   # [B, F + 1, hop]
  return blocks.reshape(batch, -1)[:, hop:hop + length].astype(jnp.float32)
