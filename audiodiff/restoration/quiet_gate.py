"""Bandwidth extension's added band, faded out where the recording is silent.

A speech prior takes a quiet low band for a fricative and fills a
recording's pauses with high-band hiss (in a june prompt, pauses came out
28 dB above the original's high band). The measured low band says where
the recording is silent: in frames whose low-band energy lies more than
config.restore.quiet_gate_db below the recording's loudest frame, the band
above the cutoff is faded out, fully at RAMP_DB further down.

    estimate = gate_added_band(estimate, degraded, 16000, cutoff_hz=4000, gate_db=45)
"""

import numpy as np
import scipy.signal

# STFT of the gate (Hann, 75% overlap: the inverse is exact without a gain).
N_FFT, HOP = 512, 128
# The gain falls from 1 to 0 over this many dB below the gate.
RAMP_DB = 10.0


def frame_gains(degraded, sample_rate, cutoff_hz, gate_db):
  """float64 [frames]: 1 where the low band of degraded [L] is within
  gate_db of its loudest frame, falling linearly (in dB) to 0 at gate_db +
  RAMP_DB below it."""
  _, _, spectrum = _stft(degraded, sample_rate)
  low = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate) < cutoff_hz
  energy = np.sum(np.abs(spectrum[low]) ** 2, axis=0)
  level = 10.0 * np.log10(energy / max(float(np.max(energy)), 1e-20) + 1e-20)
  return np.clip((level + gate_db + RAMP_DB) / RAMP_DB, 0.0, 1.0)


def gate_added_band(estimate, degraded, sample_rate, cutoff_hz, gate_db):
  """estimate [L] with its band at and above cutoff_hz scaled per frame by
  `frame_gains` of the degraded input [L]; float64 [L]. The band below the
  cutoff changes only where frames overlap (restore.enforce puts the
  measured band back)."""
  estimate = np.asarray(estimate, np.float64)
  _, _, spectrum = _stft(estimate, sample_rate)
  gains = frame_gains(degraded, sample_rate, cutoff_hz, gate_db)
  high = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate) >= cutoff_hz
  spectrum[high] *= gains
  _, gated = scipy.signal.istft(spectrum, sample_rate, window='hann', nperseg=N_FFT,
                                noverlap=N_FFT - HOP)
  return gated[:len(estimate)]


def _stft(audio, sample_rate):
  audio = np.asarray(audio, np.float64)
  audio = np.pad(audio, (0, max(0, N_FFT - len(audio))))   # a short input: one frame
  return scipy.signal.stft(audio, sample_rate, window='hann', nperseg=N_FFT,
                           noverlap=N_FFT - HOP)
