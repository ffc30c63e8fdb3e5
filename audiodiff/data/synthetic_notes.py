"""SyntheticNotes: the built-in dataset, labelled instrument notes made with numpy.

No download and no network: every clip is synthesised offline, deterministically
from (seed, split, index), so a fresh machine gets the same data. Four timbres
give a class-conditional task with audibly different classes:

  0 organ           additive drawbar-like harmonics, flat sustain
  1 plucked_string  Karplus-Strong (fractional-delay loop, block-vectorised)
  2 electric_piano  two-operator FM with a 1:1 ratio (harmonic) and a decaying
                    modulation index
  3 reed            band-limited odd-heavy harmonics, slow attack

Pitches are integer MIDI notes; every partial stays below 0.45 * sample_rate so
nothing aliases, and the fundamental is present in every clip.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from audiodiff.data import builder
from audiodiff.data import pipeline

INSTRUMENTS = ('organ', 'plucked_string', 'electric_piano', 'reed')
MIDI_RANGE = (48, 72)  # C3..C5 inclusive
# The dataset's content is part of its definition, not a training
# hyperparameter: config.seed changes model init and data order, not the clips.
DATA_SEED = 0
_SPLIT_IDS = {'train': 0, 'test': 1}
# Partials stop below this fraction of the sample rate (anti-aliasing margin).
_MAX_PARTIAL = 0.45
# Wavetable length: >= 60 points per cycle of the highest partial (at most
# ~70 of them), so linear interpolation errs by < 0.2% of its amplitude.
_TABLE_SIZE = 4096


def midi_to_hz(midi):
  return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


@dataclasses.dataclass
class SyntheticNotesConfig(builder.AudioBuilderConfig):
  """Generation parameters; build with `notes_config` to get a unique name."""
  num_samples: int = 16000
  num_train: int = 512
  num_test: int = 64
  seed: int = DATA_SEED


def notes_config(sample_rate, num_samples, num_train, num_test=None,
                 seed=DATA_SEED):
  """A config whose name encodes every parameter, so settings never collide.

  `num_test` defaults to num_train // 8 (at least 1): a small held-out split.
  """
  if num_test is None:
    num_test = max(1, num_train // 8)
  name = (f'sr{int(sample_rate)}_len{int(num_samples)}_train{int(num_train)}'
          f'_test{int(num_test)}_seed{int(seed)}')
  return SyntheticNotesConfig(
      name=name, sample_rate=int(sample_rate), num_samples=int(num_samples),
      num_train=int(num_train), num_test=int(num_test), seed=int(seed),
      description=(f'{num_train}/{num_test} notes of {num_samples} samples at '
                   f'{sample_rate} Hz'))


DEFAULT_CONFIG = notes_config(16000, 16000, 512)


# ----------------------------------------------------------------------------
# Synthesis. Each function: (f0 Hz, num_samples, sample_rate, rng) -> float64 [L]
# before the amplitude envelope.


def _adsr(num_samples, sample_rate, rng, attack, decay, sustain, release):
  """Piecewise-linear envelope [L]; note-off at 60-90% of the clip."""
  sr = float(sample_rate)
  end = num_samples / sr
  off = end * rng.uniform(0.6, 0.9)
  a = min(attack, off * 0.5)
  d = min(decay, off - a)
  t = np.arange(num_samples) / sr
  env = np.interp(t, [0.0, a, a + d, off, off + release],
                  [0.0, 1.0, sustain, sustain, 0.0])
  return env


def _additive(f0, amplitudes, t, sample_rate, rng):
  """Sum of harmonics k*f0 (k = 1..len(amplitudes)) below the partial limit.

  A harmonic sum is periodic, so one period is built with an inverse FFT and
  read at phase f0*t: one table lookup per sample instead of one sine per
  sample and partial (60 partials of a low reed note took ~10 ms a clip).
  """
  k = np.arange(1, len(amplitudes) + 1)
  keep = k * f0 < _MAX_PARTIAL * sample_rate
  k, amps = k[keep], np.asarray(amplitudes)[keep]
  phases = rng.uniform(0, 2 * np.pi, size=k.shape)
  spectrum = np.zeros(_TABLE_SIZE // 2 + 1, dtype=np.complex128)
  # irfft of N/2 * A e^{i(p - pi/2)} at bin k is A sin(2 pi k n / N + p).
  spectrum[k] = amps * np.exp(1j * (phases - np.pi / 2)) * (_TABLE_SIZE / 2)
  table = np.fft.irfft(spectrum, _TABLE_SIZE)
  table = np.append(table, table[0])  # wrap-around point for interpolation
  position = np.mod(f0 * t, 1.0) * _TABLE_SIZE
  return np.interp(position, np.arange(_TABLE_SIZE + 1), table)


def _organ(f0, num_samples, sample_rate, rng):
  t = np.arange(num_samples) / sample_rate
  # Drawbar-like registration: 8', 4', 2 2/3', 2', 1 3/5', 1 1/3', 1'.
  amps = np.zeros(8)
  amps[[0, 1, 2, 3, 4, 5, 7]] = rng.uniform(0.2, 1.0, size=7)
  amps[0] = 1.0  # the fundamental is always drawn
  tone = _additive(f0, amps, t, sample_rate, rng)
  env = _adsr(num_samples, sample_rate, rng, attack=rng.uniform(0.005, 0.02),
              decay=0.05, sustain=rng.uniform(0.8, 1.0),
              release=rng.uniform(0.03, 0.1))
  return tone * env


def _plucked_string(f0, num_samples, sample_rate, rng):
  """Karplus-Strong: y[n] = x[n] + g((1-b) y[n-N] + b y[n-N-1]), N + b = sr/f0.

  Every output block of N samples only reads the previous N + 1 samples, so the
  recursion runs one numpy op per period instead of one Python step per sample.
  """
  period = sample_rate / f0
  n = int(np.floor(period))
  b = period - n
  t60 = rng.uniform(0.8, 2.5)  # seconds for the loop to decay by 60 dB
  g = 10.0 ** (-3.0 / (t60 * f0))
  burst = rng.uniform(-1, 1, size=n)
  # Brightness of the pluck: a one-pole low-pass of the excitation.
  alpha = rng.uniform(0.2, 0.8)
  burst = np.convolve(burst, (1 - alpha) * alpha ** np.arange(16))[:n]
  burst -= burst.mean()  # no DC trapped in the loop
  y = np.zeros(num_samples + n + 1)
  off = n + 1  # y[off + i] is output sample i; leading zeros are history.
  m = min(n, num_samples)
  y[off:off + m] = burst[:m]
  for start in range(off, off + num_samples, n):
    stop = min(start + n, off + num_samples)
    width = stop - start
    y[start:stop] += g * ((1 - b) * y[start - n:start - n + width]
                          + b * y[start - n - 1:start - n - 1 + width])
  out = y[off:]
  # Damp at note-off like a finger on the string.
  env = _adsr(num_samples, sample_rate, rng, attack=0.001, decay=0.0,
              sustain=1.0, release=rng.uniform(0.05, 0.15))
  return out / (np.max(np.abs(out)) + 1e-9) * env


def _electric_piano(f0, num_samples, sample_rate, rng):
  t = np.arange(num_samples) / sample_rate
  # Modulation index decays: bright attack, mellow tail. Sidebands of a 1:1
  # FM pair are all multiples of f0; index <= 2.5 keeps them within ~4 f0,
  # and the top notes get a smaller index so they stay below the limit.
  max_index = min(rng.uniform(1.0, 2.5),
                  max(0.3, _MAX_PARTIAL * sample_rate / f0 - 2.0))
  index = max_index * np.exp(-t / rng.uniform(0.1, 0.4))
  # Zero phases matter: with a 1:1 ratio the n = -1 sideband sits at 0 Hz
  # with amplitude J_1(index) * sin(phase), a drifting DC offset otherwise.
  tone = np.sin(2 * np.pi * f0 * t + index * np.sin(2 * np.pi * f0 * t))
  env = np.exp(-t / rng.uniform(0.4, 1.2))
  env *= _adsr(num_samples, sample_rate, rng, attack=0.002, decay=0.0,
               sustain=1.0, release=rng.uniform(0.05, 0.2))
  return tone * env


def _reed(f0, num_samples, sample_rate, rng):
  t = np.arange(num_samples) / sample_rate
  num_harmonics = int(_MAX_PARTIAL * sample_rate / f0)
  k = np.arange(1, num_harmonics + 1)
  even_level = rng.uniform(0.05, 0.3)  # 0: clarinet-like square wave
  amps = np.where(k % 2 == 1, 1.0, even_level) / k
  # Gentle roll-off so the top of the band is not a hard brick wall.
  amps *= np.exp(-k * f0 / rng.uniform(2000.0, 5000.0))
  tone = _additive(f0, amps, t, sample_rate, rng)
  env = _adsr(num_samples, sample_rate, rng, attack=rng.uniform(0.03, 0.1),
              decay=rng.uniform(0.05, 0.2), sustain=rng.uniform(0.6, 0.9),
              release=rng.uniform(0.05, 0.2))
  return tone * env


_SYNTHS = (_organ, _plucked_string, _electric_piano, _reed)


def synthesize_note(label, midi, num_samples, sample_rate, rng):
  """One note.

  Args:
    label: instrument index into INSTRUMENTS.
    midi: integer MIDI pitch.
    num_samples, sample_rate: clip length and rate.
    rng: np.random.Generator for timbre, envelope and level.

  Returns:
    float32 [num_samples], peak in [0.3, 0.9] (a random velocity).
  """
  f0 = float(midi_to_hz(midi))
  tone = _SYNTHS[label](f0, num_samples, sample_rate, rng)
  peak = np.max(np.abs(tone))
  velocity = rng.uniform(0.3, 0.9)
  if peak > 0:
    tone = tone * (velocity / peak)
  return tone.astype(np.float32)


def generate_example(seed, split, index, num_samples, sample_rate):
  """The example `index` of `split`: a pure function of its arguments."""
  rng = np.random.default_rng([seed, _SPLIT_IDS[split], index])
  label = index % len(INSTRUMENTS)  # balanced classes
  midi = int(rng.integers(MIDI_RANGE[0], MIDI_RANGE[1] + 1))
  audio = synthesize_note(label, midi, num_samples, sample_rate, rng)
  return {
      'audio': audio,
      'label': label,
      'pitch': np.int32(midi),
      'id': f'{split}_{index:06d}_{INSTRUMENTS[label]}_{midi}',
  }


class SyntheticNotes(builder.AudioBuilder):
  """Labelled synthetic instrument notes (see the module docstring).

  Build with `SyntheticNotes(config=notes_config(...), data_dir=...)` or the
  shorthand `SyntheticNotes(sample_rate=..., num_samples=..., num_examples=...,
  data_dir=...)`. The default config (16 kHz, 1 s, 512 train / 64 test) is
  registered, so `tfds.data_source('synthetic_notes', data_dir=...)` also works.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Four timbres, MIDI 48-72.'}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]

  def __init__(self, *, config=None, sample_rate=None, num_samples=None,
               clip_seconds=None, num_examples=None, num_test_examples=None,
               seed=DATA_SEED, **kwargs):
    if config is None and sample_rate is not None:
      if num_samples is None:
        num_samples = int(round((clip_seconds or 1.0) * sample_rate))
      config = notes_config(sample_rate, num_samples, num_examples or 512,
                            num_test_examples, seed)
    super().__init__(config=config, **kwargs)

  def _features(self):
    return {
        'audio': builder.audio_feature(self.builder_config.num_samples),
        'label': tfds.features.ClassLabel(names=list(INSTRUMENTS)),
        'pitch': tfds.features.Scalar(dtype=np.int32),
        'id': tfds.features.Text(),
    }

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    cfg = self.builder_config
    return {
        'train': self._generate_examples('train', cfg.num_train),
        'test': self._generate_examples('test', cfg.num_test),
    }

  def _generate_examples(self, split, num_examples):
    cfg = self.builder_config
    for index in range(num_examples):
      yield index, generate_example(cfg.seed, split, index, cfg.num_samples,
                                    cfg.sample_rate)


@pipeline.DATASETS.register('synthetic_notes')
def make_builder(config, data_dir):
  """The pipeline's factory for config.data.name == 'synthetic_notes'.

  Reads config.audio.sample_rate, config.data.segment_length and
  config.data.num_examples (train clips). Not prepared yet.
  """
  # Clips are made at the training segment length: random crops would only
  # cut notes short and padding would only add silence.
  cfg = notes_config(sample_rate=config.audio.sample_rate,
                     num_samples=config.data.segment_length,
                     num_train=config.data.num_examples)
  return SyntheticNotes(config=cfg, data_dir=data_dir)
