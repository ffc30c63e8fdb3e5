"""Classical single-channel speech enhancement, in numpy: the baseline a
diffusion enhancer must beat.

  wiener_filter         Wiener gain xi / (1 + xi) with the decision-directed
                        a-priori SNR xi (Ephraim & Malah 1984).
  spectral_subtraction  power spectral subtraction with over-subtraction and
                        a spectral floor (Berouti, Schwartz & Makhoul 1979).
  estimate_noise_psd    the noise tracker both share: minima of the smoothed
                        periodogram decide where speech is absent, and the
                        noise PSD averages the periodogram there (MCRA,
                        Cohen & Berdugo 2002).

Both enhancers take noisy [L] at `sample_rate` and return float32 [L]. Frames
are periodic-Hann windowed, ~32 ms long with 75% overlap by default; the
inverse is the least-squares weighted overlap-add (Griffin & Lim 1984), so a
gain of 1 gives the input back exactly.

The tracker looks at the whole recording at once (offline): its minimum
window is centred on each frame, so speech from the first sample on is
handled without a leading noise-only stretch.
"""

import numpy as np
import scipy.ndimage
import scipy.signal

# Frame length and hop used when n_fft / hop_length are not given.
FRAME_SECONDS = 0.032
OVERLAP = 4                 # n_fft / hop_length: 75% overlap

# Noise tracker (MCRA), in seconds so that nothing depends on the hop. The
# time constants of the averages follow Cohen & Berdugo (alpha_d = 0.95,
# alpha_p = 0.2 at a 16 ms hop). The smoothing before the minimum is shorter
# than theirs (~70 ms recursive), so that 100 ms pauses still reach the
# noise floor; its minimum then lies at ~0.3 of the mean noise power (75%
# overlap), and the threshold of 8 is ~2.4 times the mean noise power.
SMOOTHING_SECONDS = 0.05    # centred moving average before the minimum
MINIMUM_WINDOW_SECONDS = 1.5
NOISE_SECONDS = 0.3         # noise PSD averaging where speech is absent
PRESENCE_SECONDS = 0.01     # speech presence probability smoothing
PRESENCE_THRESHOLD = 8.0    # smoothed power / its minimum above this: speech

# The noise PSD never goes below this fraction of the mean power: keeps
# ratios finite on digital silence without changing anything audible.
_RELATIVE_FLOOR = 1e-10
_ABSOLUTE_FLOOR = 1e-30


# ---------------------------------------------------------------------------
# Analysis / synthesis.


def default_frame(sample_rate):
  """(n_fft, hop_length): ~32 ms, even, with 75% overlap."""
  n_fft = 2 * max(1, int(round(FRAME_SECONDS * sample_rate / 2)))
  return n_fft, max(1, n_fft // OVERLAP)


def _window(n_fft):
  """Periodic Hann [n_fft]: peaks at n_fft // 2, zero only at 0."""
  return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)


def wola_analysis(signal, n_fft, hop_length):
  """STFT of [L] -> complex128 [frames, n_fft // 2 + 1].

  The signal is reflect-padded by n_fft // 2 on both sides (so every sample
  lies under a window's centre part) and zero-padded at the end to a whole
  number of hops; frame t starts at t * hop_length of the padded signal.
  """
  signal = np.asarray(signal, np.float64)
  pad = n_fft // 2
  padded = np.pad(signal, pad, mode='reflect')
  num_frames = 1 + -(-(len(padded) - n_fft) // hop_length)
  padded = np.pad(padded, (0, (num_frames - 1) * hop_length + n_fft
                           - len(padded)))
  frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)
  return np.fft.rfft(frames[::hop_length] * _window(n_fft), axis=-1)


def wola_synthesis(spec, n_fft, hop_length, length):
  """Inverse of `wola_analysis`: complex [frames, n_fft // 2 + 1] -> float64
  [length], the least-squares signal for (possibly modified) frames."""
  frames = np.fft.irfft(spec, n_fft, axis=-1) * _window(n_fft)
  total = (len(frames) - 1) * hop_length + n_fft
  signal = np.zeros(total)
  weight = np.zeros(total)
  window_squared = _window(n_fft) ** 2
  for t, frame in enumerate(frames):
    signal[t * hop_length:t * hop_length + n_fft] += frame
    weight[t * hop_length:t * hop_length + n_fft] += window_squared
  pad = n_fft // 2
  signal, weight = signal[pad:pad + length], weight[pad:pad + length]
  # weight > 0 on [pad, pad + length) whenever hop_length <= n_fft // 2.
  return signal / weight


# ---------------------------------------------------------------------------
# Noise PSD.


def _recursive_average(x, alpha):
  """y[t] = alpha y[t-1] + (1 - alpha) x[t] along axis 0, y[0] = x[0]."""
  return scipy.signal.lfilter([1 - alpha], [1, -alpha], x, axis=0,
                              zi=alpha * x[:1])[0]


def _per_frame(seconds, frame_rate):
  """Forgetting factor of a first-order average with time constant
  `seconds`, at `frame_rate` frames per second."""
  return float(np.exp(-1.0 / max(seconds * frame_rate, 1e-9)))


def estimate_noise_psd(power, frame_rate, *,
                       minimum_window_seconds=MINIMUM_WINDOW_SECONDS,
                       presence_threshold=PRESENCE_THRESHOLD):
  """Noise PSD per frame and bin, by minima-controlled recursive averaging.

  The periodogram, smoothed over 3 bins and 50 ms, is compared with its
  minimum over a window centred on each frame: above `presence_threshold`
  times the minimum, speech is present. The noise PSD is a recursive
  average (~0.3 s) of the raw periodogram that freezes in proportion to the
  smoothed speech presence probability. It starts from the mean of the
  speech-absent frames of the first window, not from frame 0, which may be
  speech.

  Args:
    power: |STFT|^2, [frames, bins], >= 0.
    frame_rate: STFT frames per second, sample_rate / hop_length.
    minimum_window_seconds: span of the minimum search; must exceed the
      longest stretch without a speech pause (~1 s for speech).
    presence_threshold: smoothed power / minimum that counts as speech.

  Returns:
    float64 [frames, bins], >= 0, in the units of `power`.
  """
  power = np.asarray(power, np.float64)
  if power.ndim != 2 or power.shape[0] == 0:
    raise ValueError(f'power must be [frames, bins] with frames >= 1, got '
                     f'shape {power.shape}.')
  if not frame_rate > 0:
    raise ValueError(f'frame_rate must be positive, got {frame_rate}.')
  if not np.all(np.isfinite(power)) or np.any(power < 0):
    raise ValueError('power must be finite and non-negative.')
  # Neighbouring bins of a Hann-windowed spectrum are correlated anyway;
  # averaging them lowers the variance before the minimum is taken.
  smoothed = scipy.ndimage.convolve1d(power, [0.25, 0.5, 0.25], axis=1,
                                      mode='reflect')
  # Centred, not recursive: a recursive average's exponential tail after
  # loud speech would fill short pauses and hide the noise floor there.
  smoothed = scipy.ndimage.uniform_filter1d(
      smoothed, max(1, int(round(SMOOTHING_SECONDS * frame_rate))), axis=0,
      mode='nearest')
  window = max(1, int(round(minimum_window_seconds * frame_rate)))
  minimum = scipy.ndimage.minimum_filter1d(smoothed, window, axis=0,
                                           mode='nearest')
  speech = (smoothed > presence_threshold * minimum).astype(np.float64)
  presence = _recursive_average(
      speech, _per_frame(PRESENCE_SECONDS, frame_rate))

  first = power[:window]
  absent = 1.0 - speech[:window]
  counts = absent.sum(axis=0)
  noise = np.where(counts > 0,
                   (first * absent).sum(axis=0) / np.maximum(counts, 1),
                   minimum[0])
  alpha_noise = _per_frame(NOISE_SECONDS, frame_rate)
  alpha = alpha_noise + (1 - alpha_noise) * presence
  out = np.empty_like(power)
  for t in range(len(power)):
    noise = alpha[t] * noise + (1 - alpha[t]) * power[t]
    out[t] = noise
  return out


# ---------------------------------------------------------------------------
# Enhancers.


def _checked(noisy, sample_rate, n_fft, hop_length):
  """noisy as float64 [L], and the (n_fft, hop_length) to use."""
  noisy = np.asarray(noisy)
  if noisy.ndim != 1:
    raise ValueError(f'noisy must be mono [L], got shape {noisy.shape}.')
  if not np.issubdtype(noisy.dtype, np.number) or np.iscomplexobj(noisy):
    raise ValueError(f'noisy must be real numbers, got dtype {noisy.dtype}.')
  noisy = noisy.astype(np.float64)
  if not np.all(np.isfinite(noisy)):
    raise ValueError('noisy contains NaN or infinite samples.')
  if not sample_rate or sample_rate <= 0:
    raise ValueError(f'sample_rate must be positive, got {sample_rate}.')
  n_fft = int(n_fft or default_frame(sample_rate)[0])
  hop_length = int(hop_length or max(1, n_fft // OVERLAP))
  if n_fft < 2 or not 1 <= hop_length <= n_fft // 2:
    raise ValueError(f'Need n_fft >= 2 and 1 <= hop_length <= n_fft // 2 '
                     f'(at least 50% overlap), got n_fft={n_fft}, '
                     f'hop_length={hop_length}.')
  if len(noisy) < n_fft:
    raise ValueError(f'noisy has {len(noisy)} samples, shorter than one frame '
                     f'(n_fft={n_fft}).')
  return noisy, n_fft, hop_length


def _noise_for(power, sample_rate, hop_length):
  """Tracked noise PSD [frames, bins], floored so ratios stay finite."""
  noise = estimate_noise_psd(power, sample_rate / hop_length)
  return np.maximum(noise, _RELATIVE_FLOOR * power.mean() + _ABSOLUTE_FLOOR)


def wiener_filter(noisy, sample_rate, *, n_fft=None, hop_length=None,
                  alpha=0.98, gain_floor=0.1):
  """Wiener filter with the decision-directed a-priori SNR.

  Per frame t and bin: gamma = |Y|^2 / noise (a-posteriori SNR),
  xi = alpha |X_hat(t-1)|^2 / noise + (1 - alpha) max(gamma - 1, 0),
  gain = max(xi / (1 + xi), gain_floor), X_hat = gain Y. The first frame
  uses xi = max(gamma - 1, 0).

  Args:
    noisy: [L] real.
    sample_rate: Hz; sets the default frame (~32 ms, 75% overlap).
    n_fft, hop_length: frame and hop in samples, hop <= n_fft // 2.
    alpha: decision-directed weight of the previous frame's estimate, in
      [0, 1); larger is smoother (less musical noise), slower at onsets.
    gain_floor: lowest gain, in [0, 1]; 1 returns the input.

  Returns:
    float32 [L].
  """
  noisy, n_fft, hop_length = _checked(noisy, sample_rate, n_fft, hop_length)
  if not 0 <= alpha < 1:
    raise ValueError(f'alpha must be in [0, 1), got {alpha}.')
  if not 0 <= gain_floor <= 1:
    raise ValueError(f'gain_floor must be in [0, 1], got {gain_floor}.')
  spec = wola_analysis(noisy, n_fft, hop_length)
  power = np.abs(spec) ** 2
  noise = _noise_for(power, sample_rate, hop_length)
  gamma = power / noise
  gain = np.empty_like(power)
  previous = np.maximum(power[0] - noise[0], 0)   # makes xi(0) = (gamma-1)+
  for t in range(len(power)):
    xi = (alpha * previous / noise[t]
          + (1 - alpha) * np.maximum(gamma[t] - 1, 0))
    gain[t] = np.maximum(xi / (1 + xi), gain_floor)
    previous = gain[t] ** 2 * power[t]
  out = wola_synthesis(gain * spec, n_fft, hop_length, len(noisy))
  return out.astype(np.float32)


def spectral_subtraction(noisy, sample_rate, *, n_fft=None, hop_length=None,
                         over_subtraction=2.0, floor=0.02):
  """Power spectral subtraction with Berouti's over-subtraction and floor.

  |X_hat|^2 = |Y|^2 - over_subtraction * noise where that exceeds
  floor * noise, else floor * noise; the noisy phase is kept.

  Args:
    noisy: [L] real.
    sample_rate: Hz; sets the default frame (~32 ms, 75% overlap).
    n_fft, hop_length: frame and hop in samples, hop <= n_fft // 2.
    over_subtraction: >= 0; above 1 trades speech distortion for less
      residual (musical) noise.
    floor: spectral floor as a fraction of the noise PSD, >= 0; masks the
      musical noise with a little broadband noise.

  Returns:
    float32 [L].
  """
  noisy, n_fft, hop_length = _checked(noisy, sample_rate, n_fft, hop_length)
  if over_subtraction < 0:
    raise ValueError(f'over_subtraction must be >= 0, got {over_subtraction}.')
  if floor < 0:
    raise ValueError(f'floor must be >= 0, got {floor}.')
  spec = wola_analysis(noisy, n_fft, hop_length)
  power = np.abs(spec) ** 2
  noise = _noise_for(power, sample_rate, hop_length)
  clean = power - over_subtraction * noise
  clean = np.where(clean > floor * noise, clean, floor * noise)
  # Bins with |Y| = 0 have no phase to keep: they stay 0.
  magnitude = np.abs(spec)
  phase = np.divide(spec, magnitude, out=np.zeros_like(spec),
                    where=magnitude > 0)
  out = wola_synthesis(np.sqrt(clean) * phase, n_fft, hop_length, len(noisy))
  return out.astype(np.float32)
