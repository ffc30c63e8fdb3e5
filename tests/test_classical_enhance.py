"""Classical speech enhancement: exact round trip, noise tracking against a
known PSD, SI-SDR gains on a synthetic speech-like signal, bad input."""

import warnings

import numpy as np
import pytest

from audiodiff.metrics import audio_metrics
from audiodiff.enhancement import classical

RATE = 16000
ENHANCERS = (classical.wiener_filter, classical.spectral_subtraction)


def speech_like(seconds=2.0, rate=RATE, f0=150.0):
  """[L]: harmonics of f0 (1/k amplitudes) gated on and off at 4 Hz,
  syllable-like; on from the first sample, so no leading noise-only part."""
  t = np.arange(int(seconds * rate)) / rate
  voiced = sum(np.sin(2 * np.pi * f0 * k * t + k) / k
               for k in range(1, int(4000 / f0) + 1))
  return 0.1 * voiced * np.maximum(np.sin(2 * np.pi * 4.0 * t), 0.0)


def with_white_noise(clean, snr_db, seed=0):
  noise = np.random.default_rng(seed).standard_normal(len(clean))
  noise *= np.sqrt(np.sum(clean**2) / np.sum(noise**2) / 10**(snr_db / 10))
  return clean + noise


@pytest.mark.parametrize('n_fft,hop_length', [(512, 128), (400, 200),
                                              (301, 75)])
def test_analysis_synthesis_round_trip(n_fft, hop_length):
  t = np.arange(4001) / RATE
  x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1234 * t)
  spec = classical.wola_analysis(x, n_fft, hop_length)
  assert spec.shape[1] == n_fft // 2 + 1
  y = classical.wola_synthesis(spec, n_fft, hop_length, len(x))
  assert np.linalg.norm(y - x) / np.linalg.norm(x) < 1e-10


@pytest.mark.parametrize('enhance,settings', [
    (classical.wiener_filter, dict(gain_floor=1.0)),
    (classical.spectral_subtraction, dict(over_subtraction=0.0, floor=0.0)),
])
def test_unit_gain_returns_the_input(enhance, settings):
  t = np.arange(8001) / RATE
  x = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 1234 * t)
  y = enhance(x, RATE, **settings)
  assert np.linalg.norm(y - x) / np.linalg.norm(x) < 1e-4


@pytest.mark.parametrize('enhance', ENHANCERS)
@pytest.mark.parametrize('length', [512, 3001, 8193])
def test_output_length_and_dtype(enhance, length):
  x = np.random.default_rng(length).standard_normal(length)
  y = enhance(x, RATE)
  assert y.shape == (length,) and y.dtype == np.float32


@pytest.mark.parametrize('enhance', ENHANCERS)
def test_improves_si_sdr_at_5db(enhance):
  clean = speech_like()
  noisy = with_white_noise(clean, 5.0)
  before = audio_metrics.si_sdr(clean, noisy)
  after = audio_metrics.si_sdr(clean, enhance(noisy, RATE))
  assert after - before >= 3.0, (before, after)


def test_noise_psd_on_stationary_noise():
  """White noise of variance s^2: E|STFT|^2 = s^2 sum(window^2) per bin."""
  n_fft, hop_length = classical.default_frame(RATE)
  noise = 0.05 * np.random.default_rng(1).standard_normal(3 * RATE)
  power = np.abs(classical.wola_analysis(noise, n_fft, hop_length))**2
  estimate = classical.estimate_noise_psd(power, RATE / hop_length)
  assert estimate.shape == power.shape
  true_psd = 0.05**2 * np.sum(classical._window(n_fft)**2)
  # DC and Nyquist are real (chi-square with 1 degree of freedom): skip.
  ratio = estimate[:, 1:-1] / true_psd
  assert 0.5 < ratio.mean() < 2.0
  assert 0.5 < np.exp(np.log(ratio).mean()) < 2.0


def test_noise_psd_ignores_speech():
  """On speech + noise, the harmonics must not leak into the estimate."""
  n_fft, hop_length = classical.default_frame(RATE)
  clean = speech_like()
  noise = with_white_noise(clean, 5.0) - clean
  power = np.abs(classical.wola_analysis(clean + noise, n_fft, hop_length))**2
  estimate = classical.estimate_noise_psd(power, RATE / hop_length)
  true_psd = np.var(noise) * np.sum(classical._window(n_fft)**2)
  assert 0.5 < estimate[:, 1:-1].mean() / true_psd < 2.0


@pytest.mark.parametrize('enhance', ENHANCERS)
def test_silence_gives_silence(enhance):
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    y = enhance(np.zeros(4000, np.float32), RATE)
  assert np.all(y == 0)


@pytest.mark.parametrize('enhance', ENHANCERS)
@pytest.mark.parametrize('bad,message', [
    (np.zeros((2, 4000)), 'mono'),
    (np.full(4000, np.nan), 'NaN'),
    (np.r_[np.zeros(3999), np.inf], 'NaN or infinite'),
    (np.zeros(100), 'shorter than one frame'),
])
def test_bad_input_raises(enhance, bad, message):
  with pytest.raises(ValueError, match=message):
    enhance(bad, RATE)


def test_bad_settings_raise():
  x = np.zeros(4000)
  with pytest.raises(ValueError, match='hop_length'):
    classical.wiener_filter(x, RATE, n_fft=512, hop_length=400)
  with pytest.raises(ValueError, match='alpha'):
    classical.wiener_filter(x, RATE, alpha=1.0)
  with pytest.raises(ValueError, match='over_subtraction'):
    classical.spectral_subtraction(x, RATE, over_subtraction=-1.0)
