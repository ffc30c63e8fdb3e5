"""Procedural noise and degradations for speech enhancement, all offline numpy.

    noisy = degrade(clean, rng, 'pink', snr_db=5.0, sample_rate=16000)
    ds = ds.seed(seed).random_map(MixNoise(('white', 'hum'), (0., 20.), 16000))

Types (NOISE_TYPES):

  white, pink, brown  Gaussian noise with PSD ~ 1/f**0, 1/f, 1/f**2
  hum                 50 or 60 Hz mains hum: decaying harmonics and a buzz
  babble              3-6 overlapping talkers cropped from a pool of speech
  music               synthetic_notes instruments at random onsets and chords
  recorded_music      a crop of a recorded music track (a pool the caller
                      gives, e.g. `asterisk.music_tracks`)
  reverb              a synthetic room (exponential noise tail), plus pink
                      noise
  bandlimit           a 2-4 kHz low-pass (telephone-like), plus white noise

Every random choice comes from the np.random.Generator passed in, so a mixture
is a function of that generator's seed: in a Grain pipeline, of the pipeline
seed and the element index, which is what makes a resumed run see the same
mixtures. The SNR is always that of the dry clean signal to the added noise,
10 log10(sum clean**2 / sum noise**2), so 'reverb' and 'bandlimit' are harder
than their SNR alone says.
"""

import dataclasses
import typing

import grain
import numpy as np
from scipy import signal

from audiodiff.audio import filters
from audiodiff.data import synthetic_notes

NOISE_TYPES = ('white', 'pink', 'brown', 'hum', 'babble', 'music', 'reverb',
               'bandlimit', 'recorded_music')
_EXPONENTS = {'white': 0.0, 'pink': 1.0, 'brown': 2.0}
# The noise added after the distortion of 'reverb' and 'bandlimit'.
_ADDED_NOISE = {'reverb': 'pink', 'bandlimit': 'white'}
# Level of the noise MixNoise puts on silent clips (padding), where an SNR
# has no meaning.
SILENT_NOISE_RMS = 0.01


def _check_type(noise_type):
  if noise_type not in NOISE_TYPES:
    raise ValueError(f'Unknown noise type {noise_type!r}; valid types: '
                     f'{", ".join(NOISE_TYPES)}.')


def _check_length(length):
  if int(length) < 2:
    raise ValueError(f'noise length must be at least 2 samples, got {length}')
  return int(length)


def _unit_rms(x, what):
  """x [L] scaled to RMS 1, as float32; ValueError if x is all zeros."""
  x = np.asarray(x, dtype=np.float64)
  rms = np.sqrt(np.mean(x ** 2))
  if not rms > 0:
    raise ValueError(f'{what} is silent; it cannot be scaled to unit RMS')
  return (x / rms).astype(np.float32)


# ----------------------------------------------------------------------------
# Noise signals. Each returns float32 [length] with RMS 1.


def colored_noise(rng, length, exponent):
  """Gaussian noise with PSD ~ 1/f**exponent (0 white, 1 pink, 2 brown).

  Shaped in the FFT domain (so it is circular: its end joins its start).

  Returns:
    float32 [length], zero mean (no DC bin), unit RMS.
  """
  length = _check_length(length)
  spectrum = np.fft.rfft(rng.standard_normal(length))
  bins = np.arange(spectrum.shape[0], dtype=np.float64)
  scale = np.zeros_like(bins)
  scale[1:] = bins[1:] ** (-exponent / 2.0)  # amplitude = sqrt(PSD)
  noise = np.fft.irfft(spectrum * scale, length)
  return _unit_rms(noise, 'colored noise')


def mains_hum(rng, length, sample_rate):
  """Mains hum: 50 or 60 Hz and 3-8 harmonics, drifting slightly, plus buzz.

  Harmonic k has amplitude ~ decay**(k-1) (the fundamental is the loudest)
  and a random phase; harmonics above 0.45 * sample_rate are dropped. The
  buzz is white noise pulsed at twice the mains rate (rectifier spikes),
  some 20-35 dB below the tones.

  Returns:
    float32 [length], unit RMS.
  """
  length = _check_length(length)
  sr = float(sample_rate)
  f0 = float(rng.choice([50.0, 60.0]))
  num_harmonics = int(rng.integers(3, 9))
  decay = rng.uniform(0.3, 0.8)
  t = np.arange(length) / sr
  # Grid frequency: a small offset and a slow wobble, both well under 1%.
  drift = (rng.uniform(-0.004, 0.004)
           + rng.uniform(0.0, 0.002)
           * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t
                    + rng.uniform(0, 2 * np.pi)))
  phase = 2 * np.pi * f0 * np.cumsum(1.0 + drift) / sr
  hum = np.zeros(length)
  for k in range(1, num_harmonics + 1):
    if k * f0 >= 0.45 * sr:
      break
    amplitude = decay ** (k - 1) * (rng.uniform(0.5, 1.0) if k > 1 else 1.0)
    hum += amplitude * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
  pulses = np.abs(np.sin(phase)) ** 8
  buzz = rng.standard_normal(length) * pulses
  buzz *= (10.0 ** (-rng.uniform(20.0, 35.0) / 20.0)
           * np.sqrt(np.mean(hum ** 2) / (np.mean(buzz ** 2) + 1e-30)))
  return _unit_rms(hum + buzz, 'hum')


def _crop_looped(rng, utterance, length):
  """A random window [length] of `utterance`, tiled if it is shorter."""
  n = utterance.shape[0]
  start = int(rng.integers(n))
  if n < length + start:
    utterance = np.tile(utterance, -(-(length + start) // n))
    return utterance[start:start + length]
  start = int(rng.integers(n - length + 1))
  return utterance[start:start + length]


def babble(rng, length, pool):
  """Babble: 3-6 talkers, each a random crop of a pool utterance.

  Args:
    rng: np.random.Generator.
    length: output samples.
    pool: sequence of 1-D float arrays, speech of voices other than the
      clean one. Utterances shorter than `length` are looped.

  Returns:
    float32 [length], unit RMS. Each talker is levelled by the RMS of its
    whole utterance (so a crop of a pause stays quiet), then gets a random
    gain of -10..0 dB.
  """
  length = _check_length(length)
  pool = [np.asarray(u, dtype=np.float64).reshape(-1) for u in pool]
  pool = [u for u in pool if u.size and np.any(u)]
  if not pool:
    raise ValueError('babble needs a non-empty pool of speech utterances '
                     '(1-D arrays that are not all zeros)')
  num_talkers = int(rng.integers(3, 7))
  mix = np.zeros(length)
  for _ in range(num_talkers):
    utterance = pool[int(rng.integers(len(pool)))]
    level = np.sqrt(np.mean(utterance ** 2))
    gain = 10.0 ** (rng.uniform(-10.0, 0.0) / 20.0) / level
    mix += gain * _crop_looped(rng, utterance, length)
  return _unit_rms(mix - mix.mean(), 'babble (every crop was silent)')


def music(rng, length, sample_rate):
  """Notes of synthetic_notes' instruments at random onsets, some as chords.

  2-6 onsets a second, each a single note or (one time in three) a chord of
  2-3; a note lasts 0.2-1.0 s and has a random instrument and pitch in
  MIDI_RANGE. Every note overlaps the clip, and notes may start before it.

  Returns:
    float32 [length], unit RMS.
  """
  length = _check_length(length)
  sr = int(sample_rate)
  notes_per_second = rng.uniform(2.0, 6.0)
  num_onsets = 1 + rng.poisson(notes_per_second * length / sr)
  low, high = synthetic_notes.MIDI_RANGE
  mix = np.zeros(length)
  for _ in range(num_onsets):
    num_samples = max(2, int(round(rng.uniform(0.2, 1.0) * sr)))
    # From half a note before the clip to a quarter note before its end: the
    # note's sounding part always reaches into the clip.
    onset = int(rng.integers(-(num_samples // 2),
                             max(1, length - num_samples // 4)))
    chord = int(rng.integers(2, 4)) if rng.uniform() < 1 / 3 else 1
    for _ in range(chord):
      label = int(rng.integers(len(synthetic_notes.INSTRUMENTS)))
      midi = int(rng.integers(low, high + 1))
      note = synthetic_notes.synthesize_note(label, midi, num_samples, sr, rng)
      begin, end = max(onset, 0), min(onset + num_samples, length)
      mix[begin:end] += note[begin - onset:end - onset]
  return _unit_rms(mix - mix.mean(), 'music')


# ----------------------------------------------------------------------------
# Distortions.


def room_impulse_response(rng, sample_rate, rt60_range=(0.2, 0.8)):
  """A synthetic room: direct path, a 1-5 ms gap, exponentially decaying noise.

  The tail's amplitude falls 60 dB in rt60 seconds (uniform in rt60_range),
  and its energy is -2..8 dB below the direct path (the direct-to-reverberant
  ratio).

  Returns:
    float32 [round(rt60 * sample_rate)], rir[0] = 1.
  """
  low, high = (float(r) for r in rt60_range)
  if not 0 < low <= high:
    raise ValueError(f'rt60_range must be 0 < low <= high, got {rt60_range}')
  sr = float(sample_rate)
  rt60 = rng.uniform(low, high)
  predelay = max(1, int(round(rng.uniform(0.001, 0.005) * sr)))
  length = max(predelay + 2, int(round(rt60 * sr)))
  t = np.arange(length - predelay) / sr
  tail = rng.standard_normal(t.shape[0]) * 10.0 ** (-3.0 * t / rt60)
  drr_db = rng.uniform(-2.0, 8.0)
  tail *= np.sqrt(10.0 ** (-drr_db / 10.0) / np.sum(tail ** 2))
  rir = np.zeros(length)
  rir[0] = 1.0
  rir[predelay:] = tail
  return rir.astype(np.float32)


def reverberate(audio, rir):
  """audio [L] convolved with rir [n], cut to float32 [L] (the tail is lost)."""
  audio = np.asarray(audio, dtype=np.float64)
  wet = signal.fftconvolve(audio, np.asarray(rir, dtype=np.float64))
  return wet[:audio.shape[0]].astype(np.float32)


def band_limit(audio, sample_rate, cutoff_hz):
  """Zero-phase low-pass of audio [L] -> float32 [L]: a raised-cosine
  roll-off just below the cutoff (filters.lowpass_gain)."""
  audio = np.asarray(audio)
  return filters.apply_gain(audio, filters.lowpass_gain(
      audio.shape[0], float(sample_rate), cutoff_hz, 'raised_cosine'))


# ----------------------------------------------------------------------------
# Mixing.


def _noise_gain(clean, noise, snr_db):
  """g with 10 log10(sum clean**2 / sum (g noise)**2) == snr_db."""
  clean_energy = np.sum(np.asarray(clean, dtype=np.float64) ** 2)
  noise_energy = np.sum(np.asarray(noise, dtype=np.float64) ** 2)
  if not clean_energy > 0:
    raise ValueError('clean signal is silent (all zeros); the SNR is '
                     'undefined')
  if not noise_energy > 0:
    raise ValueError('noise signal is silent (all zeros); it cannot set an SNR')
  return np.sqrt(clean_energy / (noise_energy * 10.0 ** (snr_db / 10.0)))


def mix_at_snr(clean, noise, snr_db):
  """clean [L] + g * noise [L] at exactly snr_db -> float32 [L]."""
  clean = np.asarray(clean, dtype=np.float64)
  noise = np.asarray(noise, dtype=np.float64)
  if clean.shape != noise.shape:
    raise ValueError(f'clean {clean.shape} and noise {noise.shape} differ in '
                     'shape')
  gain = _noise_gain(clean, noise, snr_db)
  return (clean + gain * noise).astype(np.float32)


def recorded_music(rng, length, tracks):
  """A random crop [length] of one of `tracks` (1-D float arrays), looped
  if shorter; float32, zero mean, unit RMS."""
  length = _check_length(length)
  tracks = [np.asarray(t, dtype=np.float64).reshape(-1) for t in tracks]
  tracks = [t for t in tracks if t.size and np.any(t)]
  if not tracks:
    raise ValueError('recorded_music needs a non-empty pool of music tracks')
  crop = _crop_looped(rng, tracks[int(rng.integers(len(tracks)))], length)
  if not np.any(crop - crop.mean()):  # a silent stretch between pieces
    crop = crop + 1e-3 * rng.standard_normal(length)
  return _unit_rms(crop - crop.mean(), 'recorded music')


def _distort_and_noise(clean, rng, noise_type, sample_rate, pool, music_pool=()):
  """(distorted clean [L], unit-RMS noise [L]) for `noise_type`, float64."""
  _check_type(noise_type)
  length = clean.shape[0]
  distorted = clean
  if noise_type == 'reverb':
    rir = room_impulse_response(rng, sample_rate)
    distorted = reverberate(clean, rir).astype(np.float64)
  elif noise_type == 'bandlimit':
    high = min(4000.0, 0.475 * sample_rate)
    cutoff = rng.uniform(min(2000.0, 0.5 * high), high)
    distorted = band_limit(clean, sample_rate, cutoff).astype(np.float64)
  kind = _ADDED_NOISE.get(noise_type, noise_type)
  if kind in _EXPONENTS:
    noise = colored_noise(rng, length, _EXPONENTS[kind])
  elif kind == 'hum':
    noise = mains_hum(rng, length, sample_rate)
  elif kind == 'babble':
    noise = babble(rng, length, pool)
  elif kind == 'recorded_music':
    noise = recorded_music(rng, length, music_pool)
  else:
    noise = music(rng, length, sample_rate)
  return distorted, noise.astype(np.float64)


def degrade(clean, rng, noise_type, snr_db, sample_rate, pool=(), music_pool=()):
  """clean [L] -> float32 [L] degraded by `noise_type` (see NOISE_TYPES).

  Additive types give clean + noise at snr_db. 'reverb' reverberates the
  clean signal in a random room and adds pink noise; 'bandlimit' low-passes
  it at 2-4 kHz and adds white noise; in both the SNR is that of the dry
  clean signal to the added noise. `pool` is used by 'babble' only,
  `music_pool` (recorded tracks) by 'recorded_music' only.
  ValueError if the clean signal is silent.
  """
  _check_type(noise_type)
  clean = np.asarray(clean, dtype=np.float64).reshape(-1)
  if not np.any(clean):
    raise ValueError('clean signal is silent (all zeros); the SNR is '
                     'undefined')
  distorted, noise = _distort_and_noise(clean, rng, noise_type, sample_rate,
                                        pool, music_pool)
  gain = _noise_gain(clean, noise, snr_db)
  return (distorted + gain * noise).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class MixNoise(grain.transforms.RandomMap):
  """element {'audio': float32 [L], ...} -> same plus 'noisy': float32 [L].

  Also adds 'noise_type' int32 [] (an index into NOISE_TYPES) and 'snr_db'
  float32 [], drawn uniformly from noise_types and snr_range. A silent clip
  (all zeros, e.g. padding) gets the noise at RMS SILENT_NOISE_RMS instead;
  its 'snr_db' is the value drawn, which it does not have.

  A RandomMap: Grain seeds `rng` from the pipeline seed and the element
  index, so the mixture of element i does not depend on workers or restarts.
  """
  noise_types: tuple[str, ...]
  snr_range: tuple[float, float]
  sample_rate: int
  pool: tuple = ()  # babble speech (1-D arrays), only for 'babble'
  music_pool: tuple = ()  # music tracks (1-D arrays), only for 'recorded_music'
  # The features it adds (data.get_dataset reads the rest from storage).
  produces: typing.ClassVar[tuple[str, ...]] = ('noisy', 'noise_type', 'snr_db')

  def __post_init__(self):
    noise_types = tuple(self.noise_types)
    if not noise_types:
      raise ValueError(f'noise_types is empty; choose from {NOISE_TYPES}')
    for noise_type in noise_types:
      _check_type(noise_type)
    low, high = (float(s) for s in self.snr_range)
    if not low <= high:
      raise ValueError(f'snr_range must be (low, high) with low <= high, got '
                       f'{self.snr_range}')
    pool = tuple(np.asarray(u, dtype=np.float32).reshape(-1)
                 for u in self.pool)
    if 'babble' in noise_types and not any(np.any(u) for u in pool):
      raise ValueError("noise type 'babble' needs a non-empty pool of speech "
                       'utterances')
    music_pool = tuple(np.asarray(t, dtype=np.float32).reshape(-1)
                       for t in self.music_pool)
    if 'recorded_music' in noise_types and not any(np.any(t) for t in music_pool):
      raise ValueError("noise type 'recorded_music' needs a non-empty pool of "
                       'music tracks')
    object.__setattr__(self, 'music_pool', music_pool)
    object.__setattr__(self, 'noise_types', noise_types)
    object.__setattr__(self, 'snr_range', (low, high))
    object.__setattr__(self, 'pool', pool)

  def random_map(self, element, rng):
    noise_type = self.noise_types[int(rng.integers(len(self.noise_types)))]
    snr_db = rng.uniform(*self.snr_range)
    clean = np.asarray(element['audio'], dtype=np.float32)
    if np.any(clean):
      noisy = degrade(clean, rng, noise_type, snr_db, self.sample_rate,
                      self.pool, self.music_pool)
    else:
      distorted, noise = _distort_and_noise(
          clean.astype(np.float64), rng, noise_type, self.sample_rate,
          self.pool, self.music_pool)
      noisy = (distorted + SILENT_NOISE_RMS * noise).astype(np.float32)
    out = dict(element)
    out['noisy'] = noisy
    out['noise_type'] = np.int32(NOISE_TYPES.index(noise_type))
    out['snr_db'] = np.float32(snr_db)
    return out


def held_out_mixtures(clean_list, noise_types, snrs_db, sample_rate, seed,
                      pool=(), music_pool=()):
  """The fixed evaluation set: every clean clip x noise type x SNR.

  Mixture (index, type, SNR) draws from np.random.default_rng([seed, index,
  NOISE_TYPES.index(type), snr_index]), so it is a pure function of those
  and does not change when other types or clips are added.

  Returns:
    list of {'noisy': float32 [L], 'clean': float32 [L], 'noise_type': str,
    'snr_db': float, 'index': int}, clip-major, then type, then SNR.
  """
  for noise_type in noise_types:
    _check_type(noise_type)
  mixtures = []
  for index, clean in enumerate(clean_list):
    clean = np.asarray(clean, dtype=np.float32).reshape(-1)
    for noise_type in noise_types:
      type_index = NOISE_TYPES.index(noise_type)
      for snr_index, snr_db in enumerate(snrs_db):
        rng = np.random.default_rng([seed, index, type_index, snr_index])
        noisy = degrade(clean, rng, noise_type, float(snr_db), sample_rate,
                        pool, music_pool)
        mixtures.append({'noisy': noisy, 'clean': clean,
                         'noise_type': noise_type, 'snr_db': float(snr_db),
                         'index': index})
  return mixtures
