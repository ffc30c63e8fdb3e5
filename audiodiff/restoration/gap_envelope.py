"""Janssen's fill of a short gap given the spectral envelope around it.

An AR fill loses its upper bands towards a gap's middle: in 20-50 ms gaps
they come out several dB quieter than the speech either side (a dropout
a listener hears, and most of the in-gap log-spectral distance). Above
`envelope_hz`, each band's energy in the STFT frames centred in a gap is set
on the straight line (in dB) from the band's energy in the last whole frame
before the gap to that in the first whole frame after it; the fill's phases
and its finer spectrum within a band stay as they were. The band below,
where speech's energy and so the gap SNR lie, is left alone.

    filled = follow_envelope(fill, gaps, 16000, envelope_hz=1000.0)
"""

import numpy as np
import scipy.signal

from audiodiff.restoration import operators

# The STFT: 32 ms Hann frames every 8 ms (the inverse is exact without a gain).
FRAME_SECONDS, HOP_SECONDS = 0.032, 0.008
# Band edges above envelope_hz (which is the first edge); the last band ends at Nyquist.
BAND_EDGES_HZ = (1500.0, 2000.0, 3000.0, 4000.0, 5500.0)


def band_index(frequencies, envelope_hz):
  """int [bins]: each bin's band (0, 1, ...) at and above envelope_hz; -1 below."""
  edges = np.array([envelope_hz] + [e for e in BAND_EDGES_HZ if e > envelope_hz])
  return np.searchsorted(edges, frequencies, side='right') - 1


def follow_envelope(fill, gaps, sample_rate, envelope_hz):
  """fill [L] with its bands above envelope_hz shaped inside each gap: float64 [L].

  Args:
    fill: [L] a restoration (equal to the recording outside the gaps).
    gaps: bool [L], the samples to shape (each run one gap). A gap with no
      whole frame before or after it (at the recording's ends) is left alone.
  """
  fill = np.asarray(fill, np.float64)
  frame = int(round(FRAME_SECONDS * sample_rate))
  hop = int(round(HOP_SECONDS * sample_rate))
  frequencies, _, spectrum = scipy.signal.stft(fill, sample_rate, window='hann', nperseg=frame,
                                               noverlap=frame - hop)
  bands = band_index(frequencies, envelope_hz)
  energy = np.stack([np.sum(np.abs(spectrum[bands == b]) ** 2, axis=0)
                     for b in range(bands.max() + 1)])        # [bands, frames]
  centres = np.arange(spectrum.shape[1]) * hop                 # frame k covers centre ± frame/2
  runs = operators.runs(gaps)
  for start, end in runs:
    before = np.flatnonzero(centres + frame // 2 <= start)
    after = np.flatnonzero(centres - frame // 2 >= end)
    inside = np.flatnonzero((centres >= start) & (centres < end))
    if not (before.size and after.size and inside.size):
      continue
    first, last = before[-1], after[0]
    log_first, log_last = np.log(energy[:, first] + 1e-20), np.log(energy[:, last] + 1e-20)
    for k in inside:
      target = log_first + (log_last - log_first) * (k - first) / (last - first)
      gains = np.exp(0.5 * (target - np.log(energy[:, k] + 1e-20)))   # [bands]
      spectrum[bands >= 0, k] *= gains[bands[bands >= 0]]
  _, shaped = scipy.signal.istft(spectrum, sample_rate, window='hann', nperseg=frame,
                                 noverlap=frame - hop)
  shaped = shaped[:len(fill)]
  result = fill.copy()
  for start, end in runs:
    result[start:end] = shaped[start:end]
  return result
