"""Long gaps filled band by band: each band from the fill that suits it.

Below a few hundred Hz lies most of speech's energy, hence most of the gap
SNR, and more than ~20 ms inside a 100 ms gap no fill predicts that band's
waveform: its best gain against the truth is near 0 there
(benchmarks/README.md, "Restoration"). An uncorrelated fill adds its own
energy to the error, so there the band is turned down. Above it lies most
of the spectrum, which the in-gap log-spectral distance weighs, and there
the prior's pass from Janssen's own-order fill matches the recording's
spectrum better than its pass from a quiet low-order fill.

    filled = combine(quiet, detailed, gaps, sample_rate, low_band_hz=500.0,
                     center_gain=0.5)
"""

import numpy as np

from audiodiff.restoration import operators

# The low band keeps gain 1 within HOLD_MS of a gap's edges, then falls to
# center_gain along a raised cosine over RAMP_MS.
HOLD_MS, RAMP_MS = 10.0, 10.0


def center_profile(length, center_gain, sample_rate):
  """[length] gains across one gap of `length` samples: 1 within HOLD_MS of
  either edge, center_gain from HOLD_MS + RAMP_MS inward, a raised cosine between."""
  from_start = (np.arange(length) + 0.5) * 1000.0 / sample_rate    # ms
  from_edge = np.minimum(from_start, length * 1000.0 / sample_rate - from_start)
  rising = 0.5 * (1.0 - np.cos(np.pi * np.clip((from_edge - HOLD_MS) / RAMP_MS, 0.0, 1.0)))
  return 1.0 - (1.0 - center_gain) * rising


def lowpass(signal, sample_rate, cutoff_hz):
  """signal [L] -> its band below cutoff_hz [L] (brick-wall, by the FFT)."""
  spectrum = np.fft.rfft(signal)
  spectrum[np.fft.rfftfreq(len(signal), 1.0 / sample_rate) >= cutoff_hz] = 0
  return np.fft.irfft(spectrum, n=len(signal))


def combine(quiet, detailed, gaps, sample_rate, low_band_hz, center_gain):
  """Two fills of the same gaps -> one, float64 [L].

  Args:
    quiet, detailed: [L] restorations, equal outside the gaps.
    gaps: bool [L], the samples of the gaps to combine (each run one gap).
    low_band_hz: below it the quiet fill, times center_profile(center_gain)
      across each gap; above it the detailed fill.
  """
  quiet, detailed = np.asarray(quiet, np.float64), np.asarray(detailed, np.float64)
  low = lowpass(quiet, sample_rate, low_band_hz)
  high = detailed - lowpass(detailed, sample_rate, low_band_hz)
  combined = detailed.copy()
  for start, end in operators.runs(gaps):
    gains = center_profile(end - start, center_gain, sample_rate)
    combined[start:end] = gains * low[start:end] + high[start:end]
  return combined
