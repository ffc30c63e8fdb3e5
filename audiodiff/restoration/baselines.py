"""Classical restoration, in numpy: the numbers the diffusion methods beat.

  inpaint    Janssen et al.'s iterative AR interpolation: fit an AR model to
             the signal around each gap, fill the gap with the samples that
             minimise the AR prediction error, refit, repeat.
  bandwidth  spectral band replication: the octave below the cutoff copied
             upward, shaped by the frame's tilt (`lowpass_input`, the
             input itself, is what there was before).
  declip     an A-SPADE-like consistent sparse method (Kitic et al.; Zaviska
             et al.): per frame, alternate hard thresholding of an
             oversampled DFT (the sparsity grows every few iterations) with
             projection onto the clipping-consistent set.

Each takes the degraded signal y [L] (float) and returns the restored [L].
"""

import jax.numpy as jnp
import numpy as np
import scipy.linalg

from audiodiff.audio import spectral
from audiodiff.restoration import operators


# The largest AR order config.restore.start_order takes (memory and time grow
# as gap x order and gap x order^2).
MAX_ORDER = 2048


def _ar_coefficients(x, order):
  """a [order + 1] with a[0] = 1: least-squares AR fit via the
  autocorrelation (Yule-Walker) normal equations."""
  r = np.correlate(x, x, 'full')[len(x) - 1:len(x) + order] / len(x)
  r[0] = r[0] * (1 + 1e-6) + 1e-12          # white-noise floor keeps the system regular
  coefficients = scipy.linalg.solve_toeplitz(r[:order], -r[1:order + 1])   # Levinson, O(order^2)
  return np.concatenate([[1.0], coefficients])


def _least_squares_fill(x, missing, a):
  """The x[missing] that minimise the AR prediction error sum_t e_t^2 over the
  segment (e = a * x, causal, rows t < len(x)), the known samples fixed.

  The normal equations G x_m = -B_m^T B_k x_k are banded: G[i, j] is a's
  autocorrelation at lag idx_i - idx_j (width len(a) - 1), less the rows past
  the segment's end for the last samples; solved banded in O(gap x order^2).
  """
  n, p = len(x), len(a) - 1
  idx = np.flatnonzero(missing)
  errors = np.convolve(np.where(missing, 0.0, x), a)[:n]      # e with zeros in the gaps
  rhs = -np.correlate(np.concatenate([errors, np.zeros(p)]), a, 'valid')[idx]
  lag_weight = np.correlate(a, a, 'full')[p:]                  # [p + 1], lag 0 first
  band = np.zeros((p + 1, len(idx)))                           # lower band, solveh_banded's layout
  for k in range(min(p + 1, len(idx))):
    lags = idx[k:] - idx[:len(idx) - k]
    band[k, :len(idx) - k] = np.where(lags <= p, lag_weight[np.minimum(lags, p)], 0.0)
  tail = np.flatnonzero(idx > n - 1 - p)                       # samples whose error rows run past n
  if tail.size:
    steps = np.arange(n, n + p)[:, None] - idx[tail][None]     # virtual rows t >= n
    beyond = np.where((steps >= 0) & (steps <= p), a[np.clip(steps, 0, p)], 0.0)
    gram = beyond.T @ beyond
    for k in range(min(p + 1, tail.size)):
      band[k, tail[:tail.size - k]] -= np.diagonal(gram, -k)
  return scipy.linalg.solveh_banded(band, rhs, lower=True)


def _janssen_segment(x, missing, order, iterations):
  """Fills x[missing] (x a 1D context segment) with Janssen's iterations."""
  x = x.copy()
  x[missing] = 0.0
  for _ in range(iterations):
    # Prediction errors of each sample from the ones before it (zeros before
    # the segment): a gap at the recording's start is then predicted like any
    # other; away from it, the first `order` rows see only known samples.
    x[missing] = _least_squares_fill(x, missing, _ar_coefficients(x, order))
  return x


def janssen_inpaint(y, weights, order=None, iterations=5, context=None):
  """Fills every run of weights == 0 from its surroundings.

  Args:
    y: [L] the signal with gaps (values in the gaps are ignored).
    weights: [L] reliability, 0 in gaps (operators.gap_weights; tapers are
      treated as reliable).
    order: AR order; default 3 x gap length, between 32 and 512.
    iterations: AR refits.
    context: reliable samples used on each side; default 2 x order.
  """
  y = np.asarray(y, np.float64).copy()
  missing = np.asarray(weights) <= 0
  for start, end in operators.runs(missing):
    p = order or int(np.clip(3 * (end - start), 32, 512))
    c = context or 2 * p
    a, b = max(0, start - c), min(len(y), end + c)
    # A gap at the recording's start is filled backwards in time (the AR
    # model of a stationary signal fits both ways), from the samples after it.
    step = -1 if start == 0 else 1
    y[a:b] = _janssen_segment(y[a:b][::step], missing[a:b][::step], min(p, (b - a) // 3),
                              iterations)[::step]
  return y.astype(np.float32)


def lowpass_input(y, cutoff_hz=None, sample_rate=None):
  """The band-limited input unchanged (what bandwidth extension starts from)."""
  del cutoff_hz, sample_rate
  return np.asarray(y, np.float32)


def band_replication(y, cutoff_hz, sample_rate, n_fft=512, hop_length=128):
  """Bandwidth extension's baseline, spectral band replication: the octave
  below cutoff_hz, copied upward again and again to the top of the
  spectrum, each copy scaled by the frame's own spectral tilt (the energy
  ratio of that octave to the one below it, at most 1), phases taken
  with the copied bins. The band below cutoff_hz is the input's own.

  Args:
    y: band-limited audio [L] (float).
    cutoff_hz: where the input's band ends.
    sample_rate: of y.
  Returns:
    float32 [L].
  """
  y = np.asarray(y, np.float32)
  if len(y) < n_fft:
    return y
  spec = np.asarray(spectral.stft(y[None], n_fft, hop_length))[0]  # [frames, bins]
  bins = spec.shape[1]
  hz_per_bin = sample_rate / n_fft
  top = int(np.ceil(cutoff_hz / hz_per_bin))          # the first bin to fill
  width = top - top // 2                               # one octave below the cutoff
  if width < 1 or top >= bins:
    return y
  source = spec[:, top - width:top]
  below = spec[:, max(0, top - 2 * width):top - width]
  tilt = np.sqrt((np.sum(np.abs(source) ** 2, -1) + 1e-12)
                 / (np.sum(np.abs(below) ** 2, -1) + 1e-12))
  gain = np.minimum(tilt, 1.0)[:, None]
  out = spec.copy()
  out[:, top:] = 0.0
  start, copy = top, 1
  while start < bins:
    count = min(width, bins - start)
    out[:, start:start + count] = source[:, :count] * gain ** copy
    start, copy = start + count, copy + 1
  extended = np.asarray(spectral.istft(jnp.asarray(out[None]), n_fft, hop_length,
                                       length=len(y)))[0]
  return extended.astype(np.float32)


def _declip_frame(y, clipped, level, window, iterations, step, every, eps):
  """A-SPADE on one windowed frame, with an oversampled (2x) DFT."""
  n = len(y)
  analysis = lambda x: np.fft.rfft(x, 2 * n, norm='ortho')
  synthesis = lambda z: np.fft.irfft(z, 2 * n, norm='ortho')[:n]
  reliable = clipped == 0

  def project(x):
    x = np.where(reliable, y, x)
    x = np.where(clipped > 0, np.maximum(x, level * window), x)
    return np.where(clipped < 0, np.minimum(x, -level * window), x)

  x, u, k = y.copy(), np.zeros(n + 1, complex), step
  tolerance = eps * np.linalg.norm(y)
  for i in range(iterations):
    z = analysis(x) + u
    keep = np.argsort(np.abs(z))[-k:]
    sparse = np.zeros_like(z)
    sparse[keep] = z[keep]
    x = project(synthesis(sparse - u))
    residual = analysis(x) - sparse
    if np.linalg.norm(residual) <= tolerance:
      break
    u = u + residual
    if (i + 1) % every == 0:
      k += step
  return x


def aspade_declip(y, level, clipped, frame=1024, hop=256, iterations=300, step=1, every=1,
                  eps=0.01):
  """Declips y [L] (clipped at +-level; `clipped` +1 / -1 / 0 per sample)
  frame by frame (Hann windows, overlap-add), each frame by A-SPADE with
  its own consistent set, stopping when the sparse and consistent estimates
  differ by eps of the frame's norm; reliable samples come back exactly."""
  y = np.asarray(y, np.float64)
  length = len(y)
  # Reliable silence of one frame on both sides: every sample is then covered
  # by the full set of overlapping windows.
  padded = int(np.ceil((length + frame) / hop)) * hop + frame
  yp = np.pad(y, (frame, padded - length - frame))
  cp = np.pad(np.asarray(clipped), (frame, padded - length - frame))
  window = np.hanning(frame + 1)[:frame]
  out, norm = np.zeros(padded), np.zeros(padded)
  for start in range(0, padded - frame + 1, hop):
    frame_clipped = cp[start:start + frame]
    piece = yp[start:start + frame]
    if np.any(frame_clipped):
      piece = _declip_frame(piece * window, frame_clipped, level, window, iterations,
                            step, every, eps) / np.maximum(window, 1e-3)
    out[start:start + frame] += piece * window
    norm[start:start + frame] += window
  out, norm = out[frame:frame + length], norm[frame:frame + length]
  x = out / np.maximum(norm, 1e-8)
  x = np.where(np.asarray(clipped) == 0, y, x)   # exact on reliable samples
  return x.astype(np.float32)
