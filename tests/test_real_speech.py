"""Recorded speech and music from Debian's Asterisk packages: decoding,
trimming, the split by speaker and prompt, recorded-music noise."""

import copy

import numpy as np
import pytest

from audiodiff import tasks
from audiodiff.data import asterisk, noise, pipeline, real_speech
from audiodiff.errors import UserError
from experiments.configs import enhance_predictive_cpu


def test_trim_silence_keeps_the_sound_and_a_margin():
  rate = 16000
  tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)
  audio = np.concatenate([np.zeros(rate // 2), tone, np.zeros(rate)]).astype(np.float32)
  trimmed = asterisk.trim_silence(audio, rate, margin_s=0.05)
  assert len(trimmed) == rate + 2 * 800  # the tone and 50 ms a side
  np.testing.assert_allclose(trimmed[800:800 + rate], tone, atol=1e-6)
  assert len(asterisk.trim_silence(np.zeros(rate, np.float32), rate)) == 0


def test_prompt_split_is_a_fixed_hash_of_the_prompt():
  prompts = [f'fr_CA_f_June/prompt-{i}' for i in range(2000)]
  splits = [real_speech.prompt_split(p) for p in prompts]
  assert splits == [real_speech.prompt_split(p) for p in prompts]  # deterministic
  share = splits.count('test') / len(splits)
  assert abs(share - real_speech.TEST_SHARE_PERCENT / 100) < 0.02


def test_a_missing_package_names_the_apt_line(tmp_path):
  with pytest.raises(UserError, match='apt-get install asterisk-core-sounds-it-g722'):
    asterisk.prompt_files('carlo', str(tmp_path))
  with pytest.raises(UserError, match='known: allison, june, carlo, ivr_ru'):
    asterisk.prompt_files('bob', str(tmp_path))
  with pytest.raises(UserError, match='apt-get install asterisk-moh-opsound-g722'):
    asterisk.music_tracks('train', 16000, str(tmp_path / 'moh'))


def test_recorded_prompts_decode_and_split_by_prompt(tmp_path, asterisk_sounds):
  files = asterisk.prompt_files('june')
  assert len(files) > 500 and not any('tone' in p or 'silence' in p for p, _ in files)
  audio = asterisk.decode_g722(files[0][1])
  assert audio.dtype == np.float32 and 0.01 < np.abs(audio).max() <= 1.0
  config = enhance_predictive_cpu.get_config()
  config.data.data_dir = str(tmp_path)
  config.data.voices = ('june',)
  corpus = pipeline.get_builder(config)
  corpus.download_and_prepare()
  ids = {}
  for split in ('train', 'test'):
    source = corpus.as_data_source(split)
    ids[split] = {source[i]['text'].decode() for i in range(len(source))}
    assert all(real_speech.prompt_split(p) == split for p in ids[split])
  assert not ids['train'] & ids['test']
  assert 0.05 < len(ids['test']) / (len(ids['train']) + len(ids['test'])) < 0.15
  first = corpus.as_data_source('test')[0]['audio']
  assert len(first) >= real_speech.MIN_SECONDS * 16000
  # Trimmed: the first and last 10 ms are near the clip's noise floor.
  assert np.abs(first[:160]).max() < 0.5 * np.abs(first).max()


def test_the_unseen_speaker_cannot_enter_training():
  config = enhance_predictive_cpu.get_config()
  assert 'june' in config.enhance.test_voices and 'june' not in config.data.voices
  leaky = copy.deepcopy(config)
  leaky.data.voices = tuple(config.data.voices) + ('june',)
  with pytest.raises(UserError, match='june'):
    tasks.get_task(leaky)
  with pytest.raises(UserError, match='distinct voices'):
    real_speech.check_voices(('june', 'nobody'))


def test_recorded_music_noise_comes_from_the_pool(asterisk_sounds):
  train, test = asterisk.music_tracks('train', 16000), asterisk.music_tracks('test', 16000)
  assert len(train) == 4 and len(test) == 1 and len(test[0]) > 60 * 16000
  rng = np.random.default_rng(0)
  music = noise.recorded_music(rng, 16000, test)
  assert abs(np.sqrt(np.mean(music.astype(np.float64) ** 2)) - 1) < 1e-4
  clean = 0.1 * np.sin(np.arange(16000) / 7.0)
  noisy = noise.degrade(clean, np.random.default_rng(1), 'recorded_music', 5.0, 16000,
                        music_pool=test)
  snr = 10 * np.log10(np.sum(clean ** 2) / np.sum((noisy - clean) ** 2))
  assert abs(snr - 5.0) < 1e-3
  with pytest.raises(ValueError, match='music tracks'):
    noise.MixNoise(noise_types=('recorded_music',), snr_range=(0, 5), sample_rate=16000)
