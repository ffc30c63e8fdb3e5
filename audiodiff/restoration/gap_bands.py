"""Long gaps filled band by band: each band from the fill that suits it.

Below a few hundred Hz lies most of speech's energy, hence most of the gap
SNR, and past the first ~20 ms of a 100 ms gap no fill predicts that band's
waveform: its best gain against the truth is near 0 over the gap's middle
(benchmarks/README.md, "Restoration"). An uncorrelated fill adds its own
energy to the error, so there the band is turned down. Above it lies most
of the spectrum, which the in-gap log-spectral distance weighs, and there
the prior's pass from Janssen's own-order fill matches the recording's
spectrum better than its pass from a quiet low-order fill.

    filled = combine(quiet, detailed, refined, sample_rate, low_band_hz=500.0,
                     center_gain=0.5)
"""

import numpy as np

from audiodiff.restoration import operators

# The middle share of a gap over which the low band takes center_gain.
CENTER_SHARE = 0.6


def center_profile(length, center_gain, share=CENTER_SHARE):
  """[length] gains across one gap: 1 at its edges, center_gain over its
  middle `share`, raised-cosine ramps between."""
  position = (np.arange(length) + 0.5) / length
  from_edge = np.minimum(position, 1.0 - position)       # 0 at the edges, 0.5 mid-gap
  ramp = (1.0 - share) / 2
  rising = 0.5 * (1.0 - np.cos(np.pi * np.minimum(from_edge / ramp, 1.0)))
  return 1.0 - (1.0 - center_gain) * rising


def lowpass(signal, sample_rate, cutoff_hz):
  """signal [L] -> its band below cutoff_hz [L] (brick-wall, by the FFT)."""
  spectrum = np.fft.rfft(signal)
  spectrum[np.fft.rfftfreq(len(signal), 1.0 / sample_rate) >= cutoff_hz] = 0
  return np.fft.irfft(spectrum, n=len(signal))


def combine(quiet, detailed, refined, sample_rate, low_band_hz, center_gain):
  """Two fills of the same gaps -> one, float64 [L].

  Args:
    quiet, detailed: [L] restorations, equal outside the gaps.
    refined: bool [L], the samples of the gaps to combine (each run one gap).
    low_band_hz: below it the quiet fill, times center_profile(center_gain)
      across each gap; above it the detailed fill.
  """
  quiet, detailed = np.asarray(quiet, np.float64), np.asarray(detailed, np.float64)
  low = lowpass(quiet, sample_rate, low_band_hz)
  high = detailed - lowpass(detailed, sample_rate, low_band_hz)
  combined = detailed.copy()
  for start, end in operators.runs(refined):
    gains = center_profile(end - start, center_gain)
    combined[start:end] = gains * low[start:end] + high[start:end]
  return combined
