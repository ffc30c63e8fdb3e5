"""Procedural noise: spectra, levels, rooms, exact SNRs and Grain determinism.

Everything is tiny (a few thousand samples at 8 kHz) and offline.
"""

import grain
import numpy as np
import pytest
from scipy import signal

from audiodiff.data import noise
from audiodiff.data import synthetic_notes

SAMPLE_RATE = 8000
LENGTH = 4000  # 0.5 s


def rms(x):
  return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def snr_db(clean, added):
  clean = np.asarray(clean, dtype=np.float64)
  added = np.asarray(added, dtype=np.float64)
  return 10 * np.log10(np.sum(clean ** 2) / np.sum(added ** 2))


def note(seed, length=LENGTH):
  rng = np.random.default_rng(seed)
  return synthetic_notes.synthesize_note(seed % 4, 60 + seed % 7, length,
                                         SAMPLE_RATE, rng)


@pytest.fixture(scope='module')
def pool():
  """Stand-in 'other voices': notes of several lengths, some shorter than
  LENGTH so babble has to loop them."""
  return tuple(note(10 + i, 1500 + 1500 * i) for i in range(4))


@pytest.mark.parametrize('exponent', [0.0, 1.0, 2.0])
def test_colored_noise_slope(exponent):
  slopes = []
  for seed in range(3):
    x = noise.colored_noise(np.random.default_rng(seed), 8192, exponent)
    assert x.dtype == np.float32 and x.shape == (8192,)
    assert abs(rms(x) - 1) < 1e-5
    assert abs(float(np.mean(x))) < 1e-5
    freqs, psd = signal.welch(x, fs=SAMPLE_RATE, nperseg=256)
    band = (freqs >= 60) & (freqs <= 3000)
    slopes.append(np.polyfit(np.log(freqs[band]), np.log(psd[band]), 1)[0])
  assert abs(np.mean(slopes) + exponent) < 0.1, slopes


def test_noises_unit_rms_and_seeded(pool):
  makers = {
      'hum': lambda rng: noise.mains_hum(rng, LENGTH, SAMPLE_RATE),
      'babble': lambda rng: noise.babble(rng, LENGTH, pool),
      'music': lambda rng: noise.music(rng, LENGTH, SAMPLE_RATE),
  }
  for name, make in makers.items():
    x = make(np.random.default_rng(1))
    assert x.dtype == np.float32 and x.shape == (LENGTH,), name
    assert np.all(np.isfinite(x)) and abs(rms(x) - 1) < 1e-5, name
    np.testing.assert_array_equal(x, make(np.random.default_rng(1)))
    assert not np.array_equal(x, make(np.random.default_rng(2))), name


def test_hum_peak_at_mains_frequency():
  freqs = np.fft.rfftfreq(LENGTH, 1 / SAMPLE_RATE)  # 2 Hz bins
  peaks = set()
  for seed in range(8):
    hum = noise.mains_hum(np.random.default_rng(seed), LENGTH, SAMPLE_RATE)
    peak = freqs[np.argmax(np.abs(np.fft.rfft(hum)))]
    assert min(abs(peak - 50), abs(peak - 60)) <= 2, peak
    peaks.add(50 if abs(peak - 50) <= 2 else 60)
  assert peaks == {50, 60}  # both grids occur


def test_babble_needs_pool():
  with pytest.raises(ValueError, match='pool'):
    noise.babble(np.random.default_rng(0), LENGTH, ())


def test_mix_at_snr_is_exact():
  clean = note(0)
  white = noise.colored_noise(np.random.default_rng(0), LENGTH, 0) * 3
  for target in (-5.0, 0.0, 12.5):
    noisy = noise.mix_at_snr(clean, white, target)
    assert noisy.dtype == np.float32
    assert abs(snr_db(clean, noisy - clean) - target) < 1e-3
  with pytest.raises(ValueError, match='silent'):
    noise.mix_at_snr(np.zeros(LENGTH), white, 0.0)


def test_room_impulse_response_decays_at_rt60():
  rir = noise.room_impulse_response(np.random.default_rng(0), SAMPLE_RATE,
                                    rt60_range=(0.5, 0.5))
  assert rir.dtype == np.float32
  assert abs(rir.shape[0] - 0.5 * SAMPLE_RATE) <= 1
  assert rir[0] == 1 and not np.any(rir[1:8])  # pre-delay >= 1 ms
  tenth = rir.shape[0] // 10
  first = np.sum(rir[1:1 + tenth] ** 2)
  last = np.sum(rir[-tenth:] ** 2)
  assert 10 * np.log10(last / first) < -40
  # Schroeder backward integral: its slope from -5 to -25 dB gives RT60.
  energy = np.cumsum(rir[1:][::-1].astype(np.float64) ** 2)[::-1]
  decay_db = 10 * np.log10(energy / energy[0])
  fit = (decay_db < -5) & (decay_db > -25)
  slope = np.polyfit(np.flatnonzero(fit) / SAMPLE_RATE, decay_db[fit], 1)[0]
  assert abs(-60 / slope - 0.5) < 0.1
  with pytest.raises(ValueError, match='rt60_range'):
    noise.room_impulse_response(np.random.default_rng(0), SAMPLE_RATE, (0, 1))


def test_reverberate_keeps_length_and_convolves():
  audio = note(1)
  rir = np.zeros(50, np.float32)
  rir[0], rir[10] = 1.0, 0.5
  wet = noise.reverberate(audio, rir)
  assert wet.dtype == np.float32 and wet.shape == audio.shape
  expected = audio.copy()
  expected[10:] += 0.5 * audio[:-10]
  np.testing.assert_allclose(wet, expected, atol=1e-5)


def test_band_limit_removes_high_band():
  x = noise.colored_noise(np.random.default_rng(0), LENGTH, 0)
  y = noise.band_limit(x, SAMPLE_RATE, 2500.0)
  assert y.dtype == np.float32 and y.shape == x.shape
  freqs = np.fft.rfftfreq(LENGTH, 1 / SAMPLE_RATE)
  spectrum_x, spectrum_y = np.fft.rfft(x), np.fft.rfft(y)
  above = freqs >= 2500
  assert np.sum(np.abs(spectrum_y[above]) ** 2) < 1e-8 * np.sum(
      np.abs(spectrum_x[above]) ** 2)
  passband = freqs < 2000
  np.testing.assert_allclose(spectrum_y[passband], spectrum_x[passband],
                             rtol=1e-4, atol=1e-3)
  with pytest.raises(ValueError, match='cutoff'):
    noise.band_limit(x, SAMPLE_RATE, 4000.0)


# A stand-in for recorded tracks (asterisk.music_tracks): 3 s of notes.
MUSIC_POOL = (noise.music(np.random.default_rng(11), 3 * SAMPLE_RATE, SAMPLE_RATE),)


@pytest.mark.parametrize('noise_type', noise.NOISE_TYPES)
def test_degrade_every_type(noise_type, pool):
  clean = note(2)
  target = 7.0
  noisy = noise.degrade(clean, np.random.default_rng(5), noise_type, target,
                        SAMPLE_RATE, pool, MUSIC_POOL)
  assert noisy.dtype == np.float32 and noisy.shape == clean.shape
  assert np.all(np.isfinite(noisy))
  if noise_type == 'reverb':
    # Same seed, same draws: the room comes first.
    rir = noise.room_impulse_response(np.random.default_rng(5), SAMPLE_RATE)
    added = noisy - noise.reverberate(clean, rir)
  elif noise_type == 'bandlimit':
    added = None
  else:
    added = noisy - clean
  if added is not None:
    assert abs(snr_db(clean, added) - target) < 0.01


def test_degrade_bandlimit_snr_from_high_band():
  """Above 4 kHz only the white noise is left: it holds half its energy.

  The clean signal is white too, so a missing low-pass would double it.
  """
  rate, length = 16000, 16000
  clean = noise.colored_noise(np.random.default_rng(0), length, 0.0)
  noisy = noise.degrade(clean, np.random.default_rng(1), 'bandlimit', 3.0,
                        rate)
  spectrum = np.fft.rfft(noisy.astype(np.float64))
  high = np.fft.rfftfreq(length, 1 / rate) > 4000
  high_energy = 2 * np.sum(np.abs(spectrum[high]) ** 2) / length  # Parseval
  noise_energy = 2 * high_energy
  assert abs(10 * np.log10(np.sum(clean.astype(np.float64) ** 2)
                           / noise_energy) - 3.0) < 0.3


def test_degrade_errors():
  with pytest.raises(ValueError, match='bandlimit'):  # lists NOISE_TYPES
    noise.degrade(note(0), np.random.default_rng(0), 'rain', 0.0, SAMPLE_RATE)
  with pytest.raises(ValueError, match='silent'):
    noise.degrade(np.zeros(LENGTH), np.random.default_rng(0), 'pink', 0.0,
                  SAMPLE_RATE)


def mix_noise(pool, **kwargs):
  return noise.MixNoise(**{'noise_types': noise.NOISE_TYPES,
                           'snr_range': (0.0, 20.0),
                           'sample_rate': SAMPLE_RATE, 'pool': pool,
                           'music_pool': MUSIC_POOL, **kwargs})


def test_mix_noise_is_deterministic(pool):
  transform = mix_noise(pool)
  element = {'audio': note(3), 'label': 1}
  out = transform.random_map(element, np.random.default_rng(7))
  again = transform.random_map(element, np.random.default_rng(7))
  assert set(out) == {'audio', 'label', 'noisy', 'noise_type', 'snr_db'}
  assert out['noisy'].dtype == np.float32 and out['noisy'].shape == (LENGTH,)
  assert out['noise_type'].dtype == np.int32
  assert out['snr_db'].dtype == np.float32 and 0 <= out['snr_db'] <= 20
  for key in out:
    np.testing.assert_array_equal(out[key], again[key])
  assert 'noisy' not in element  # a new dict
  seen = {int(transform.random_map(element, np.random.default_rng(k))
              ['noise_type']) for k in range(40)}
  assert len(seen) >= 6  # types are drawn, not fixed


def test_mix_noise_silent_clip_gets_fixed_level(pool):
  for noise_type in noise.NOISE_TYPES:
    out = mix_noise(pool, noise_types=(noise_type,)).random_map(
        {'audio': np.zeros(LENGTH, np.float32)}, np.random.default_rng(0))
    assert abs(rms(out['noisy']) - noise.SILENT_NOISE_RMS) < 1e-5, noise_type


def pipeline(pool, seed=3):
  clips = [{'audio': note(i, 2000), 'index': i} for i in range(8)]
  clips[6]['audio'] = np.zeros(2000, np.float32)  # padding
  return grain.MapDataset.source(clips).seed(seed).random_map(mix_noise(pool))


def test_mix_noise_in_grain_pipeline_is_a_function_of_seed_and_index(pool):
  ds = pipeline(pool)
  fresh = pipeline(pool)
  for index in (5, 6):
    first = ds[index]
    for other in (ds[index], fresh[index]):
      assert set(other) == set(first)
      for key in first:
        np.testing.assert_array_equal(other[key], first[key])
  assert not np.array_equal(ds[5]['noisy'], pipeline(pool, seed=4)[5]['noisy'])
  assert not np.array_equal(ds[4]['noisy'] - ds[4]['audio'],
                            ds[5]['noisy'] - ds[5]['audio'])


def test_mix_noise_validation(pool):
  with pytest.raises(ValueError, match='empty'):
    mix_noise(pool, noise_types=())
  with pytest.raises(ValueError, match="'rain'.*white"):
    mix_noise(pool, noise_types=('white', 'rain'))
  with pytest.raises(ValueError, match='snr_range'):
    mix_noise(pool, snr_range=(10.0, 0.0))
  with pytest.raises(ValueError, match='pool'):
    mix_noise((), noise_types=('white', 'babble'))
  mix_noise((), noise_types=('white', 'hum'))  # no babble, no pool needed
  with pytest.raises(ValueError, match='music tracks'):
    mix_noise(pool, noise_types=('recorded_music',), music_pool=())


def test_held_out_mixtures_is_a_pure_function(pool):
  clean = [note(4, 2000), note(5, 2000)]
  args = dict(sample_rate=SAMPLE_RATE, seed=9, pool=pool)
  mixtures = noise.held_out_mixtures(clean, ('pink', 'babble'), (0.0, 10.0),
                                 **args)
  assert len(mixtures) == 2 * 2 * 2
  assert [(m['index'], m['noise_type'], m['snr_db']) for m in mixtures][:3] \
      == [(0, 'pink', 0.0), (0, 'pink', 10.0), (0, 'babble', 0.0)]
  for m in mixtures:
    assert abs(snr_db(m['clean'], m['noisy'] - m['clean']) - m['snr_db']) < .01
  again = noise.held_out_mixtures(clean, ('pink', 'babble'), (0.0, 10.0), **args)
  for m, n in zip(mixtures, again):
    np.testing.assert_array_equal(m['noisy'], n['noisy'])
  # Keyed by NOISE_TYPES' index: other types in the list change nothing.
  alone = noise.held_out_mixtures(clean, ('babble',), (0.0, 10.0), **args)
  np.testing.assert_array_equal(alone[0]['noisy'], mixtures[2]['noisy'])
  with pytest.raises(ValueError, match='rain'):
    noise.held_out_mixtures(clean, ('rain',), (0.0,), **args)
