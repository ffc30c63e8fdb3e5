"""Objective metrics and spectrogram plots on synthetic signals."""

import logging
import math

import numpy as np
import pytest

from audiodiff.metrics import audio_metrics
from audiodiff.audio import plotting

SAMPLE_RATE = 16000
SMALL_AUDIO = dict(sample_rate=SAMPLE_RATE, n_fft=512, hop_length=128,
                   win_length=512, n_mels=40, f_min=20.0, f_max=8000.0)


def speech_like(seconds=2.0, sample_rate=SAMPLE_RATE):
  """float64 [L]: gliding-pitch harmonics, 5 'syllables' per second.

  No speech synthesiser is available offline; PESQ's voice activity
  detector accepts this (a pure steady tone it may not).
  """
  t = np.arange(int(seconds * sample_rate)) / sample_rate
  f0 = 120.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)
  phase = 2 * np.pi * np.cumsum(f0) / sample_rate
  harmonics = sum(np.sin(k * phase) / k for k in range(1, 40))
  # A small floor between syllables, like breath / room noise in speech.
  envelope = (0.05 + np.clip(np.sin(2 * np.pi * 2.5 * t), 0.0, None)) ** 2
  x = harmonics * envelope
  return 0.3 * x / np.abs(x).max()


def with_noise(x, snr_db, seed=0):
  noise = np.random.default_rng(seed).standard_normal(x.shape)
  return x + noise * np.sqrt(np.mean(x**2) / np.mean(noise**2)
                             / 10 ** (snr_db / 10))


@pytest.fixture(scope='module')
def clean():
  return speech_like()


def test_si_sdr_identity_and_scale_invariance(clean):
  assert audio_metrics.si_sdr(clean, clean) > 100.0
  assert audio_metrics.si_sdr(clean, 0.5 * clean) > 100.0
  noisy = with_noise(clean, 10.0)
  assert audio_metrics.si_sdr(clean, 0.5 * noisy) == pytest.approx(
      audio_metrics.si_sdr(clean, noisy), abs=1e-6)


@pytest.mark.parametrize('snr_db', [0.0, 10.0, 25.0])
def test_si_sdr_matches_known_snr(clean, snr_db):
  assert audio_metrics.si_sdr(clean, with_noise(clean, snr_db)) == pytest.approx(
      snr_db, abs=0.5)


def test_metrics_trim_to_the_shorter_signal(clean):
  assert audio_metrics.si_sdr(clean, clean[:-100]) > 100.0
  assert audio_metrics.mel_l1(clean[:-7], clean, SMALL_AUDIO) == 0.0
  with pytest.raises(ValueError):
    audio_metrics.si_sdr(np.zeros((2, 100)), np.zeros(100))


def test_spectral_distances_are_zero_on_identity_and_grow_with_noise(clean):
  assert audio_metrics.log_spectral_distance(clean, clean) == 0.0
  assert audio_metrics.multi_resolution_stft_distance(clean, clean) == 0.0
  assert audio_metrics.mel_l1(clean, clean, SMALL_AUDIO) == 0.0
  mild, strong = with_noise(clean, 30.0), with_noise(clean, 0.0)
  for distance in (audio_metrics.log_spectral_distance,
                   audio_metrics.multi_resolution_stft_distance):
    assert 0.0 < distance(clean, mild) < distance(clean, strong)
  assert (0.0 < audio_metrics.mel_l1(clean, mild, SMALL_AUDIO)
          < audio_metrics.mel_l1(clean, strong, SMALL_AUDIO))


def test_pesq_clean_beats_noisy(clean):
  pytest.importorskip('pesq')
  clean_score = audio_metrics.pesq_score(clean, clean, SAMPLE_RATE)
  if math.isnan(clean_score):
    pytest.skip('PESQ found no utterance in the synthetic signal.')
  assert clean_score > 4.0
  # Other rates are resampled to the 16 kHz ('wb') or 8 kHz ('nb') PESQ takes.
  assert audio_metrics.pesq_score(clean, clean, SAMPLE_RATE, mode='nb') > 4.0
  clean_22k = speech_like(sample_rate=22050)
  assert audio_metrics.pesq_score(clean_22k, clean_22k, 22050) > 4.0
  noisy_score = audio_metrics.pesq_score(clean, with_noise(clean, 20.0), SAMPLE_RATE)
  assert 1.0 <= noisy_score < clean_score - 1.0


def test_pesq_of_silence_is_nan_with_a_warning(caplog):
  pytest.importorskip('pesq')
  silence = np.zeros(SAMPLE_RATE)
  with caplog.at_level(logging.WARNING):
    with np.errstate(invalid='ignore'):  # pesq divides silence by its peak.
      assert math.isnan(audio_metrics.pesq_score(silence, silence, SAMPLE_RATE))
  assert 'PESQ failed' in caplog.text


def test_stoi_clean_beats_noisy(clean):
  pytest.importorskip('pystoi')
  assert audio_metrics.stoi_score(clean, clean, SAMPLE_RATE) == pytest.approx(1.0)
  noisy = audio_metrics.stoi_score(clean, with_noise(clean, -5.0), SAMPLE_RATE)
  assert 0.0 < noisy < 0.95


def test_stoi_of_a_clip_too_short_for_it_is_nan_not_a_placeholder(clean):
  pytest.importorskip('pystoi')
  short = clean[:int(0.25 * SAMPLE_RATE)]
  assert math.isnan(audio_metrics.stoi_score(short, short, SAMPLE_RATE))


def test_evaluate_pair_and_average(clean):
  result = audio_metrics.evaluate_pair(clean, with_noise(clean, 20.0), SAMPLE_RATE,
                                 SMALL_AUDIO)
  assert set(result) == {'si_sdr', 'mrstft', 'lsd', 'mel_l1', 'pesq', 'stoi'}
  assert all(isinstance(v, float) for v in result.values())
  averaged = audio_metrics.average([result, dict(result, pesq=math.nan),
                              {'si_sdr': result['si_sdr'] + 2.0}])
  assert averaged['si_sdr'] == pytest.approx(result['si_sdr'] + 2.0 / 3.0)
  assert averaged['pesq'] == pytest.approx(result['pesq'], nan_ok=True)
  assert averaged['pesq_clips'] == 1 and 'si_sdr_clips' not in averaged   # one NaN skipped
  assert math.isnan(audio_metrics.average([{'pesq': math.nan}])['pesq'])
  with pytest.raises(ValueError):
    audio_metrics.evaluate_pair(clean, clean, 22050, SMALL_AUDIO)


@pytest.mark.parametrize('audio_config', [None, SMALL_AUDIO])
def test_save_spectrogram_png(tmp_path, clean, audio_config):
  path = tmp_path / 'plots' / 'clip.png'
  returned = plotting.save_spectrogram_png(
      path, clean[:SAMPLE_RATE], SAMPLE_RATE, audio_config, title='clip')
  assert returned == path
  data = path.read_bytes()
  assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
