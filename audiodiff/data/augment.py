"""Domain randomisation of clean speech for training a speech enhancer.

    for transform in from_names(('tilt', 'eq', 'level'), 16000):
      ds = ds.random_map(transform)  # after ds.seed(seed)

Each transform is a Grain RandomMap over element['audio'] (float32 [L]) that
fires with probability `probability` and otherwise passes the element on
(AUGMENTATIONS, by name):

  tilt       spectral_tilt: a gain sloping by +-max_db_per_octave about 1 kHz
  eq         peaking_eq: 1-max_bands gaussian bumps on a log-frequency axis
  mic        mic_response: a cheap microphone's band, 50-300 Hz to 3 kHz+
  level      set_level: RMS set to -45..-5 dBFS
  room       a synthetic room (noise.room_impulse_response), RMS kept
  speed      change_speed: faster or slower by up to 8%, pitch with it
  bandlimit  noise.band_limit above 3.5 kHz: a band-limited recording

They change the target itself, so the enhancer learns to keep a voice's
colour and level rather than restore one studio sound. Every random choice
comes from the generator Grain seeds from the pipeline seed and the element
index, so a resumed run sees exactly the clips it would have seen.
"""

import abc
import dataclasses
import fractions
import typing

import grain
import numpy as np
from scipy import signal

from audiodiff.data import noise

# Below this the tilt's gain is held constant: log2(f) runs to -inf at DC.
TILT_FLOOR_HZ = 50.0
TILT_PIVOT_HZ = 1000.0


def _rms(x):
  return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _fft_gain(audio, sample_rate, gain_db):
  """audio [L] times a zero-phase gain -> float32 [L].

  gain_db maps the rfft bin frequencies [L // 2 + 1] (Hz) to dB. The filter
  is circular over the clip, as noise.band_limit is.
  """
  audio = np.asarray(audio, dtype=np.float64)
  freqs = np.fft.rfftfreq(audio.shape[0], 1.0 / float(sample_rate))
  gain = 10.0 ** (gain_db(freqs) / 20.0)
  return np.fft.irfft(np.fft.rfft(audio) * gain, audio.shape[0]).astype(
      np.float32)


def spectral_tilt(audio, sample_rate, db_per_octave):
  """audio [L] -> float32 [L] with gain db_per_octave * log2(f / 1 kHz) dB.

  The gain is 0 dB at 1 kHz and held at its 50 Hz value below 50 Hz.
  """
  return _fft_gain(audio, sample_rate, lambda f: db_per_octave * np.log2(
      np.maximum(f, TILT_FLOOR_HZ) / TILT_PIVOT_HZ))


def peaking_eq(audio, sample_rate, bands):
  """audio [L] -> float32 [L] through gaussian bumps on a log-frequency axis.

  Args:
    bands: (center_hz, gain_db, octave_width) triples; a band's gain in dB
      is gain_db * exp(-0.5 * (log2(f / center_hz) / sigma)**2), with
      octave_width its full width at half gain (sigma = width / 2.355).
      Gains of overlapping bands add in dB.
  """
  def gain_db(freqs):
    octaves = np.log2(np.maximum(freqs, 1.0))  # DC: as 1 Hz, far from a band
    total = np.zeros_like(freqs)
    for center_hz, band_db, octave_width in bands:
      sigma = octave_width / (2.0 * np.sqrt(2.0 * np.log(2.0)))
      total += band_db * np.exp(
          -0.5 * ((octaves - np.log2(center_hz)) / sigma) ** 2)
    return total
  return _fft_gain(audio, sample_rate, gain_db)


def mic_response(audio, sample_rate, low_hz, high_hz):
  """audio [L] -> float32 [L] in a cheap microphone's band.

  2nd-order Butterworth high-pass at low_hz and low-pass at high_hz, run
  forwards and backwards (zero phase, |H|**2: -6 dB at either corner)."""
  sr = float(sample_rate)
  if not 0 < low_hz < high_hz < sr / 2:
    raise ValueError(f'need 0 < low_hz < high_hz < {sr / 2}, got '
                     f'{low_hz}, {high_hz}')
  sos = np.concatenate([
      signal.butter(2, low_hz, 'highpass', fs=sr, output='sos'),
      signal.butter(2, high_hz, 'lowpass', fs=sr, output='sos')])
  audio = np.asarray(audio, dtype=np.float64)
  return signal.sosfiltfilt(sos, audio).astype(np.float32)


def set_level(audio, dbfs):
  """audio [L] at RMS 10**(dbfs / 20) (RMS 1 is 0 dBFS) -> float32 [L].

  Nothing clips (peaks may pass 1); all-zero audio stays zeros."""
  audio = np.asarray(audio, dtype=np.float64)
  rms = _rms(audio)
  if not rms > 0:
    return audio.astype(np.float32)
  return (audio * (10.0 ** (dbfs / 20.0) / rms)).astype(np.float32)


def change_speed(audio, factor):
  """audio [L] played `factor` times faster (rate and pitch) -> float32 [L].

  resample_poly at the nearest fraction to factor with denominator <= 100,
  then cut to L, or zero-padded to L when faster."""
  if not factor > 0:
    raise ValueError(f'factor must be positive, got {factor}')
  audio = np.asarray(audio, dtype=np.float64)
  ratio = fractions.Fraction(float(factor)).limit_denominator(100)
  # The clip takes L / factor samples: up by the denominator, down by the
  # numerator.
  fast = signal.resample_poly(audio, ratio.denominator, ratio.numerator)
  length = audio.shape[0]
  fast = np.pad(fast[:length], (0, max(0, length - fast.shape[0])))
  return fast.astype(np.float32)


# ----------------------------------------------------------------------------
# Grain transforms.

AUGMENTATIONS = {}  # name -> factory(sample_rate) with the default settings


def _register(name):
  """Class decorator: AUGMENTATIONS[name] builds cls from a sample rate."""
  def register(cls):
    if 'sample_rate' in {field.name for field in dataclasses.fields(cls)}:
      AUGMENTATIONS[name] = lambda sample_rate: cls(sample_rate)
    else:
      AUGMENTATIONS[name] = lambda sample_rate: cls()
    return cls
  return register


class _Augmentation(grain.transforms.RandomMap):
  """element {'audio': float32 [L], ...} -> a copy, 'audio' maybe changed.

  With probability `probability` (drawn first from rng), 'audio' becomes
  self.transform(audio, rng), float32 [L]; otherwise, or when the audio is
  all zeros, the copy keeps the input's.
  """
  # It adds no features (data.get_dataset reads the rest from storage).
  produces: typing.ClassVar[tuple[str, ...]] = ()

  def __post_init__(self):
    if not 0.0 <= self.probability <= 1.0:
      raise ValueError(f'probability must be in [0, 1], got {self.probability}')

  @abc.abstractmethod
  def transform(self, audio, rng):
    """audio float32 [L] (not all zeros) -> the transformed float32 [L]."""

  def random_map(self, element, rng):
    out = dict(element)
    if not rng.uniform() < self.probability:
      return out
    audio = np.asarray(element['audio'], dtype=np.float32)
    if np.any(audio):
      out['audio'] = np.asarray(self.transform(audio, rng), dtype=np.float32)
    return out


@_register('tilt')
@dataclasses.dataclass(frozen=True)
class RandomTilt(_Augmentation):
  """spectral_tilt at a slope uniform in +-max_db_per_octave."""
  sample_rate: int
  max_db_per_octave: float = 3.0
  probability: float = 0.5

  def transform(self, audio, rng):
    slope = rng.uniform(-self.max_db_per_octave, self.max_db_per_octave)
    return spectral_tilt(audio, self.sample_rate, slope)


@_register('eq')
@dataclasses.dataclass(frozen=True)
class RandomEq(_Augmentation):
  """peaking_eq with 1..max_bands bands: centres log-uniform in 100 Hz ..
  0.4 * sample_rate, gains uniform in +-max_gain_db, widths 0.5-2 octaves."""
  sample_rate: int
  max_bands: int = 3
  max_gain_db: float = 6.0
  probability: float = 0.5

  def transform(self, audio, rng):
    num_bands = int(rng.integers(1, self.max_bands + 1))
    bands = [(np.exp(rng.uniform(np.log(100.0),
                                 np.log(0.4 * self.sample_rate))),
              rng.uniform(-self.max_gain_db, self.max_gain_db),
              rng.uniform(0.5, 2.0)) for _ in range(num_bands)]
    return peaking_eq(audio, self.sample_rate, bands)


@_register('mic')
@dataclasses.dataclass(frozen=True)
class RandomMic(_Augmentation):
  """mic_response from low_hz log-uniform in 50-300 Hz to high_hz uniform in
  3 kHz .. 0.475 * sample_rate (from 0.4 * sample_rate if that is lower)."""
  sample_rate: int
  probability: float = 0.5

  def transform(self, audio, rng):
    low_hz = np.exp(rng.uniform(np.log(50.0), np.log(300.0)))
    high_hz = rng.uniform(min(3000.0, 0.4 * self.sample_rate),
                          0.475 * self.sample_rate)
    return mic_response(audio, self.sample_rate, low_hz, high_hz)


@_register('level')
@dataclasses.dataclass(frozen=True)
class RandomLevel(_Augmentation):
  """set_level at a level uniform in [low_dbfs, high_dbfs]."""
  low_dbfs: float = -45.0
  high_dbfs: float = -5.0
  probability: float = 1.0

  def transform(self, audio, rng):
    return set_level(audio, rng.uniform(self.low_dbfs, self.high_dbfs))


@_register('room')
@dataclasses.dataclass(frozen=True)
class RandomRoom(_Augmentation):
  """noise.reverberate in a noise.room_impulse_response room, rescaled to the
  input's RMS: the target is the reverberant recording, at its own level."""
  sample_rate: int
  rt60_range: tuple[float, float] = (0.1, 0.5)
  probability: float = 0.3

  def transform(self, audio, rng):
    rir = noise.room_impulse_response(rng, self.sample_rate, self.rt60_range)
    wet = noise.reverberate(audio, rir)
    wet_rms = _rms(wet)
    if not wet_rms > 0:
      return audio
    return wet * np.float32(_rms(audio) / wet_rms)


@_register('speed')
@dataclasses.dataclass(frozen=True)
class RandomSpeed(_Augmentation):
  """change_speed by a factor uniform in 1 +- max_change."""
  max_change: float = 0.08
  probability: float = 0.5

  def __post_init__(self):
    super().__post_init__()
    if not 0 <= self.max_change < 1:
      raise ValueError(f'max_change must be in [0, 1), got {self.max_change}')

  def transform(self, audio, rng):
    factor = rng.uniform(1.0 - self.max_change, 1.0 + self.max_change)
    return change_speed(audio, factor)


@_register('bandlimit')
@dataclasses.dataclass(frozen=True)
class RandomBandLimit(_Augmentation):
  """noise.band_limit at a cutoff uniform in [low_hz, 0.45 * sample_rate]."""
  sample_rate: int
  low_hz: float = 3500.0
  probability: float = 0.15

  def __post_init__(self):
    super().__post_init__()
    if not 0 < self.low_hz <= 0.45 * self.sample_rate:
      raise ValueError(f'low_hz must be in (0, {0.45 * self.sample_rate}], '
                       f'got {self.low_hz}')

  def transform(self, audio, rng):
    cutoff_hz = rng.uniform(self.low_hz, 0.45 * self.sample_rate)
    return noise.band_limit(audio, self.sample_rate, cutoff_hz)


def from_names(names, sample_rate):
  """The AUGMENTATIONS named in `names` (a sequence, or a comma-separated
  string) at their defaults, as a tuple in that order."""
  if isinstance(names, str):
    names = [name.strip() for name in names.split(',') if name.strip()]
  unknown = [name for name in names if name not in AUGMENTATIONS]
  if unknown:
    raise ValueError(f'Unknown augmentation(s) {unknown}; valid names: '
                     f'{", ".join(AUGMENTATIONS)}.')
  return tuple(AUGMENTATIONS[name](sample_rate) for name in names)
