"""Zero-phase low-pass filters applied in the FFT domain (circular over the
clip): the gain curves and their application.

    gain = lowpass_gain(len(audio), sample_rate, cutoff_hz, 'butterworth')
    filtered = apply_gain(audio, gain)
"""

import numpy as np

KINDS = ('brickwall', 'butterworth', 'raised_cosine')


def lowpass_gain(length: int, sample_rate: float, cutoff_hz: float, kind: str = 'brickwall',
                 order: int = 8) -> np.ndarray:
  """float32 [length // 2 + 1]: the zero-phase gain of a low-pass filter.

  kind 'brickwall': 1 below cutoff_hz, 0 from it up (an orthogonal projector);
  'butterworth': |H(f)|^2 of an order-`order` Butterworth (forward-backward
  filtering, as scipy's filtfilt), a realistic recording's roll-off;
  'raised_cosine': 1 below cutoff - width, 0 from the cutoff up, a cosine
  between, width = min(200 Hz, cutoff / 10).

  Raises:
    ValueError: a cutoff outside (0, Nyquist) or an unknown kind.
  """
  if not 0 < cutoff_hz < sample_rate / 2:
    raise ValueError(f'cutoff_hz must be in (0, {sample_rate / 2:g}), got {cutoff_hz:g}')
  freqs = np.fft.rfftfreq(length, 1.0 / sample_rate)
  if kind == 'brickwall':
    return (freqs < cutoff_hz).astype(np.float32)
  if kind == 'butterworth':
    return (1.0 / (1.0 + (freqs / cutoff_hz)**(2 * order))).astype(np.float32)
  if kind == 'raised_cosine':
    width = min(200.0, cutoff_hz / 10.0)
    ramp = np.clip((freqs - (cutoff_hz - width)) / width, 0.0, 1.0)
    return (0.5 * (1.0 + np.cos(np.pi * ramp))).astype(np.float32)
  raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')


def apply_gain(audio, gain) -> np.ndarray:
  """audio [L] filtered by a zero-phase gain [L // 2 + 1] -> float32 [L]."""
  audio = np.asarray(audio, dtype=np.float64)
  return np.fft.irfft(np.fft.rfft(audio) * gain, audio.shape[0]).astype(np.float32)
