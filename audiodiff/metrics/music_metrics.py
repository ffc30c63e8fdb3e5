"""What a listener hears of key and tempo, measured on a clip [L] (numpy).

    share, key = in_key_share(audio, 16000)   # 0.91, 2 (D major)
    bpm = tempo_bpm(audio, 16000)             # 118.6

in_key_share: the chroma energy (spectral power from 55 Hz to 4.2 kHz, each
bin to its nearest pitch class) in the seven pitch classes of the
best-fitting major key, over all the chroma energy. A clip in one major key
scores near 1, random chromatic notes about 7/12, noise lower still where
its spectrum is flat.

tempo_bpm: the lag, between the given tempo range's bounds, at which the
onset strength (the positive change of log band energy per frame, smoothed,
mean removed) best correlates with itself, in beats per minute; half that
lag where it correlates nearly as well (a beat repeats every two beats too).
"""

import numpy as np

from audiodiff.metrics.classifier import chroma_filterbank

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_N_FFT = 4096
_HOP = 1024


def _power_frames(audio, n_fft, hop):
  """audio [L] -> power spectrogram [frames, n_fft // 2 + 1] (Hann window)."""
  audio = np.asarray(audio, np.float64)
  if len(audio) < n_fft:
    audio = np.pad(audio, (0, n_fft - len(audio)))
  starts = np.arange(0, len(audio) - n_fft + 1, hop)
  frames = np.stack([audio[s:s + n_fft] for s in starts]) * np.hanning(n_fft)
  return np.abs(np.fft.rfft(frames, axis=-1)) ** 2


def chroma_energy(audio, sample_rate):
  """audio [L] -> [12]: spectral power per pitch class (C = 0) over the clip."""
  power = _power_frames(audio, _N_FFT, _HOP).sum(axis=0)
  return power @ chroma_filterbank(sample_rate, _N_FFT).astype(np.float64)


def in_key_share(audio, sample_rate):
  """(share in [0, 1], tonic 0..11 of the best-fitting major key)."""
  chroma = chroma_energy(audio, sample_rate)
  total = chroma.sum()
  if total <= 0:
    return 0.0, 0
  shares = [chroma[[(tonic + step) % 12 for step in MAJOR_SCALE]].sum() / total
            for tonic in range(12)]
  best = int(np.argmax(shares))
  return float(shares[best]), best


def onset_strength(audio, sample_rate, hop=256, n_fft=1024):
  """audio [L] -> ([frames - 1] positive log-energy change per frame summed
  over bands, frames per second)."""
  power = _power_frames(audio, n_fft, hop)
  bands = np.array_split(np.arange(1, power.shape[1]), 24)  # coarse bands, linear
  energy = np.log(np.stack([power[:, b].sum(axis=1) for b in bands], axis=1) + 1e-8)
  flux = np.maximum(np.diff(energy, axis=0), 0.0).sum(axis=1)
  return flux, sample_rate / hop


def tempo_bpm(audio, sample_rate, bpm_range=(60.0, 200.0)):
  """The clip's tempo in beats per minute within bpm_range (module docstring)."""
  flux, rate = onset_strength(audio, sample_rate)
  # Smoothed over about a frame: a beat period between whole frames still
  # lines its onsets up.
  flux = np.convolve(flux, np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16, mode='same')
  flux = flux - flux.mean()
  lags = np.arange(int(np.floor(60 * rate / bpm_range[1])),
                   int(np.ceil(60 * rate / bpm_range[0])) + 1)
  lags = lags[(lags > 0) & (lags < len(flux) - 1)]
  scores = np.array([np.dot(flux[:-lag], flux[lag:]) / (len(flux) - lag) for lag in lags])
  best = int(np.argmax(scores))
  # A beat also repeats every two beats: prefer the shorter period where it
  # scores nearly as well (an octave error otherwise).
  half = int(np.argmin(np.abs(lags - lags[best] / 2)))
  if abs(lags[half] - lags[best] / 2) <= 1 and scores[half] >= 0.7 * scores[best]:
    best = half
  # Parabolic interpolation between frames for a tempo finer than one lag.
  offset = 0.0
  if 0 < best < len(scores) - 1:
    left, mid, right = scores[best - 1:best + 2]
    denominator = left - 2 * mid + right
    offset = 0.5 * (left - right) / denominator if denominator else 0.0
  return float(60 * rate / (lags[best] + offset))
