"""Speech augmentations: each against its closed form, then as Grain maps.

Test signals are bin-aligned sines (SAMPLE_RATE samples, 1 Hz bins) and
seeded white noise, so the FFT-domain gains can be read off exactly.
"""

import dataclasses

import grain
import numpy as np
import pytest

from audiodiff.data import augment

SAMPLE_RATE = 16000


def rms(x):
  return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def db(ratio):
  return 20 * np.log10(ratio)


def sine(freq_hz, length=SAMPLE_RATE):
  t = np.arange(length) / SAMPLE_RATE
  return (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def white(length=2 ** 16, seed=0):
  return np.random.default_rng(seed).standard_normal(length).astype(np.float32)


def octave_band_db(x, center_hz):
  """Mean power (dB) of x's rfft bins within half an octave of center_hz."""
  freqs = np.fft.rfftfreq(x.shape[0], 1.0 / SAMPLE_RATE)
  power = np.abs(np.fft.rfft(np.asarray(x, dtype=np.float64))) ** 2
  band = (freqs >= center_hz / np.sqrt(2)) & (freqs < center_hz * np.sqrt(2))
  return 10 * np.log10(np.mean(power[band]))


@pytest.mark.parametrize('db_per_octave', [-3.0, 2.0, 6.0])
def test_spectral_tilt_slope(db_per_octave):
  x = white()
  y = augment.spectral_tilt(x, SAMPLE_RATE, db_per_octave)
  assert y.dtype == np.float32 and y.shape == x.shape
  # 500 Hz to 4 kHz is 3 octaves.
  slope_in = (octave_band_db(x, 4000) - octave_band_db(x, 500)) / 3
  slope_out = (octave_band_db(y, 4000) - octave_band_db(y, 500)) / 3
  assert abs(slope_out - slope_in - db_per_octave) < 0.3
  # 1 kHz is the pivot; below 50 Hz the gain stops growing.
  assert abs(db(rms(augment.spectral_tilt(sine(1000), SAMPLE_RATE,
                                          db_per_octave)) / rms(sine(1000)))) \
      < 0.01
  low = [rms(augment.spectral_tilt(sine(f), SAMPLE_RATE, db_per_octave))
         for f in (20, 50)]
  assert abs(db(low[0] / low[1])) < 0.01
  expected = db_per_octave * np.log2(50 / 1000)
  assert abs(db(low[1] / rms(sine(50))) - expected) < 0.01


def test_peaking_eq_centre_and_far_away():
  bands = [(1600.0, 5.0, 2.0)]
  for freq_hz, expected_db in [(1600, 5.0), (100, 0.0)]:  # 100 Hz: 4 octaves
    x = sine(freq_hz)
    y = augment.peaking_eq(x, SAMPLE_RATE, bands)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert abs(db(rms(y) / rms(x)) - expected_db) < 0.2
  # octave_width is the full width at half gain: half an octave either side
  # of the centre the bump has half its dB.
  y = augment.peaking_eq(sine(800), SAMPLE_RATE, [(1600.0, -6.0, 2.0)])
  assert abs(db(rms(y) / rms(sine(800))) + 3.0) < 0.05
  # Bands add in dB.
  y = augment.peaking_eq(sine(1600), SAMPLE_RATE,
                         [(1600.0, 4.0, 1.0), (1600.0, -1.5, 0.5)])
  assert abs(db(rms(y) / rms(sine(1600))) - 2.5) < 0.05


def test_mic_response_band():
  low_hz, high_hz = 200.0, 6000.0

  def gain_db(freq_hz):
    x = sine(freq_hz)
    y = augment.mic_response(x, SAMPLE_RATE, low_hz, high_hz)
    assert y.dtype == np.float32 and y.shape == x.shape
    middle = slice(SAMPLE_RATE // 4, 3 * SAMPLE_RATE // 4)  # no edge effects
    return db(rms(y[middle]) / rms(x[middle]))

  assert gain_db(50) < -20
  assert abs(gain_db(1000)) < 0.5
  # Forwards-backwards digital Butterworth: amplitude |H|**2 per filter,
  # |H|**2 = 1 / (1 + (w / wc)**4) on the bilinear axis w = tan(pi f / fs).
  warp = lambda f: np.tan(np.pi * f / SAMPLE_RATE)
  for freq_hz in (100, 1000, 7000):
    closed_form = -20 * np.log10(
        (1 + (warp(low_hz) / warp(freq_hz)) ** 4)
        * (1 + (warp(freq_hz) / warp(high_hz)) ** 4))
    assert abs(gain_db(freq_hz) - closed_form) < 0.05, freq_hz
  with pytest.raises(ValueError):
    augment.mic_response(sine(100), SAMPLE_RATE, 300.0, 200.0)


@pytest.mark.parametrize('dbfs', [-45.0, -20.0, -5.0])
def test_set_level(dbfs):
  y = augment.set_level(white(4000), dbfs)
  assert y.dtype == np.float32
  assert abs(db(rms(y)) - dbfs) < 0.01
  zeros = augment.set_level(np.zeros(4000, np.float32), dbfs)
  assert zeros.dtype == np.float32 and not np.any(zeros)


def test_random_room_keeps_rms_and_reverberates():
  x = sine(300) * np.hanning(SAMPLE_RATE).astype(np.float32)
  room = augment.RandomRoom(SAMPLE_RATE, probability=1.0)
  y = room.random_map({'audio': x}, np.random.default_rng(0))['audio']
  assert y.dtype == np.float32 and y.shape == x.shape
  assert abs(rms(y) / rms(x) - 1) < 1e-4
  assert rms(y - x) > 0.05 * rms(x)


def test_change_speed_scales_pitch_and_keeps_length():
  for factor, expected_hz in [(1.05, 462.0), (0.95, 418.0)]:
    y = augment.change_speed(sine(440), factor)
    assert y.dtype == np.float32 and y.shape == (SAMPLE_RATE,)
    freqs = np.fft.rfftfreq(SAMPLE_RATE, 1.0 / SAMPLE_RATE)
    peak_hz = freqs[np.argmax(np.abs(np.fft.rfft(y)))]
    assert abs(peak_hz - expected_hz) < 2
  # Faster: the clip ends after L / factor samples, then padding.
  y = augment.change_speed(sine(440), 1.05)
  assert not np.any(y[int(SAMPLE_RATE / 1.05) + 1:])
  np.testing.assert_allclose(augment.change_speed(sine(440), 1.0), sine(440),
                             atol=1e-6)


def test_random_band_limit_removes_energy_above_cutoff():
  x = white(SAMPLE_RATE)
  transform = augment.RandomBandLimit(SAMPLE_RATE, low_hz=4000.0,
                                      probability=1.0)
  freqs = np.fft.rfftfreq(SAMPLE_RATE, 1.0 / SAMPLE_RATE)
  power_in = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
  for seed in range(3):
    y = transform.random_map({'audio': x}, np.random.default_rng(seed))['audio']
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    above = freqs >= 0.45 * SAMPLE_RATE  # above every cutoff it can draw
    assert 10 * np.log10(power[above].sum() / power_in[above].sum()) < -40
    below = freqs < 4000 - 200  # below every roll-off
    np.testing.assert_allclose(power[below], power_in[below], rtol=1e-3)


def with_probability(name, probability):
  return dataclasses.replace(augment.AUGMENTATIONS[name](SAMPLE_RATE),
                             probability=probability)


@pytest.mark.parametrize('name', list(augment.AUGMENTATIONS))
def test_random_map_contract(name):
  x = white(8000, seed=1) * np.float32(0.05)
  element = {'audio': x, 'label': 3}
  transform = with_probability(name, 1.0)
  assert transform.produces == ()
  out = transform.random_map(element, np.random.default_rng(5))
  assert set(out) == {'audio', 'label'} and out['label'] == 3
  assert out is not element and element['audio'] is x
  assert out['audio'].dtype == np.float32 and out['audio'].shape == x.shape
  assert np.all(np.isfinite(out['audio']))
  assert not np.array_equal(out['audio'], x)
  again = transform.random_map(element, np.random.default_rng(5))
  np.testing.assert_array_equal(out['audio'], again['audio'])
  other = transform.random_map(element, np.random.default_rng(6))
  assert not np.array_equal(out['audio'], other['audio'])
  skipped = with_probability(name, 0.0).random_map(element,
                                                   np.random.default_rng(5))
  assert skipped is not element
  np.testing.assert_array_equal(skipped['audio'], x)
  zeros = np.zeros(8000, np.float32)
  silent = transform.random_map({'audio': zeros}, np.random.default_rng(5))
  np.testing.assert_array_equal(silent['audio'], zeros)


def test_probability_is_a_rate():
  transform = with_probability('tilt', 0.3)
  x = white(1000)
  changed = [not np.array_equal(
      transform.random_map({'audio': x}, np.random.default_rng(k))['audio'], x)
             for k in range(200)]
  assert 0.2 < np.mean(changed) < 0.4
  with pytest.raises(ValueError):
    with_probability('tilt', 1.5)


def test_from_names_and_grain_determinism():
  assert tuple(augment.AUGMENTATIONS) == ('tilt', 'eq', 'mic', 'level', 'room',
                                          'speed', 'bandlimit')
  with pytest.raises(ValueError, match='tilt, eq, mic, level'):
    augment.from_names(('tilt', 'chorus'), SAMPLE_RATE)
  transforms = augment.from_names(list(augment.AUGMENTATIONS), SAMPLE_RATE)
  assert [type(t) for t in transforms] == [
      augment.RandomTilt, augment.RandomEq, augment.RandomMic,
      augment.RandomLevel, augment.RandomRoom, augment.RandomSpeed,
      augment.RandomBandLimit]
  assert augment.from_names('level, speed', SAMPLE_RATE) == (
      augment.RandomLevel(), augment.RandomSpeed())

  clips = [{'audio': white(4000, seed=i) * np.float32(0.1)} for i in range(6)]

  def pipeline(seed):
    ds = grain.MapDataset.source(clips).seed(seed)
    for transform in transforms:
      ds = ds.random_map(transform)
    return ds

  ds = pipeline(0)
  for i in range(len(clips)):
    # A fresh pipeline reading element i alone: what a resumed run sees.
    np.testing.assert_array_equal(ds[i]['audio'], pipeline(0)[i]['audio'])
    np.testing.assert_array_equal(ds[i]['audio'], ds[i]['audio'])
  assert any(not np.array_equal(ds[i]['audio'], pipeline(1)[i]['audio'])
             for i in range(len(clips)))
