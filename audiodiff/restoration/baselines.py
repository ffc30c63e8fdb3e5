"""Classical restoration, in numpy: the numbers the diffusion methods beat.

  inpaint    Janssen et al.'s iterative AR interpolation: fit an AR model to
             the signal around each gap, fill the gap with the samples that
             minimise the AR prediction error, refit, repeat.
  bandwidth  the low-passed input itself (what a resampled recording is).
  declip     an A-SPADE-like consistent sparse method (Kitic et al.; Zaviska
             et al.): per frame, alternate hard thresholding of an
             oversampled DFT (the sparsity grows every few iterations) with
             projection onto the clipping-consistent set.

Each takes the degraded signal y [L] (float) and returns the restored [L].
"""

import numpy as np


def _ar_coefficients(x, order):
  """a [order + 1] with a[0] = 1: least-squares AR fit via the
  autocorrelation (Yule-Walker) normal equations."""
  r = np.correlate(x, x, 'full')[len(x) - 1:len(x) + order] / len(x)
  r[0] *= 1 + 1e-6          # white-noise floor keeps the system regular
  toeplitz = r[np.abs(np.arange(order)[:, None] - np.arange(order)[None])]
  coefficients = np.linalg.solve(toeplitz + 1e-12 * np.eye(order), -r[1:order + 1])
  return np.concatenate([[1.0], coefficients])


def _janssen_segment(x, missing, order, iterations):
  """Fills x[missing] (x a 1D context segment) with Janssen's iterations."""
  x = x.copy()
  x[missing] = 0.0
  n = len(x)
  known = ~missing
  for _ in range(iterations):
    a = _ar_coefficients(x, order)
    # Prediction errors e = B x over rows that see at least one sample.
    rows = n - order
    band = np.zeros((rows, n))
    for k in range(order + 1):
      band[np.arange(rows), np.arange(rows) + order - k] = a[k]
    b_missing, b_known = band[:, missing], band[:, known]
    rhs = -b_known @ x[known]
    x[missing] = np.linalg.lstsq(b_missing, rhs, rcond=None)[0]
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
  edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
  for start, end in zip(edges[::2], edges[1::2]):
    p = order or int(np.clip(3 * (end - start), 32, 512))
    c = context or 2 * p
    a, b = max(0, start - c), min(len(y), end + c)
    segment_missing = missing[a:b]
    y[a:b] = _janssen_segment(y[a:b], segment_missing, min(p, (b - a) // 3), iterations)
  return y.astype(np.float32)


def lowpass_input(y, cutoff_hz=None, sample_rate=None):
  """Bandwidth extension's baseline: the band-limited input unchanged."""
  del cutoff_hz, sample_rate
  return np.asarray(y, np.float32)


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
