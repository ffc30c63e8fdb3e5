"""Key and tempo measurements against signals whose answers are known."""

import numpy as np
import pytest

from audiodiff.metrics import music_metrics

RATE = 16000


def _tone(midi, seconds, rate=RATE):
  t = np.arange(int(seconds * rate)) / rate
  return np.sin(2 * np.pi * 440.0 * 2 ** ((midi - 69) / 12) * t)


@pytest.mark.parametrize('tonic', [0, 2, 7, 11])
def test_a_major_scale_is_all_in_its_key(tonic):
  scale = np.concatenate([_tone(60 + tonic + step, 0.25) for step in music_metrics.MAJOR_SCALE])
  share, key = music_metrics.in_key_share(scale, RATE)
  assert share > 0.97 and key == tonic


def test_all_twelve_pitch_classes_score_seven_twelfths():
  chromatic = np.concatenate([_tone(60 + k, 0.25) for k in range(12)])
  share, _ = music_metrics.in_key_share(chromatic, RATE)
  np.testing.assert_allclose(share, 7 / 12, atol=0.03)


def test_silence_scores_zero():
  assert music_metrics.in_key_share(np.zeros(RATE), RATE) == (0.0, 0)


@pytest.mark.parametrize('bpm', [80, 100, 123, 160])
def test_a_click_track_gives_its_tempo(bpm):
  audio = np.zeros(8 * RATE)
  click = np.random.default_rng(0).standard_normal(200) * np.hanning(200)
  for start in np.arange(0, 7.9, 60 / bpm):
    i = int(start * RATE)
    audio[i:i + 200] += click
  assert abs(music_metrics.tempo_bpm(audio, RATE) - bpm) / bpm < 0.03
