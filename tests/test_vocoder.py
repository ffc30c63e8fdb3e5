"""The vocoder path: mel conditioning, --mode=vocode on wav and .npy input of
any length, --mode=eval with metrics and the Griffin-Lim baseline."""

import glob
import json

import numpy as np
import pytest
import soundfile as sf

from experiments.configs import tiny
from test_train import run_main

from audiodiff import tasks
from audiodiff.audio import windows

MEL_FLAGS = ['--config.task=vocoder', '--config.sampler.guidance_scale=1',
             '--config.sampler.name=fast',
             '--config.sampler.fast_betas=(1e-4, 0.01, 0.1, 0.3)']


def test_train_vocode_and_eval(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=1', *MEL_FLAGS)
  # A 3 s wav at 44.1 kHz stereo (resampled and mixed down) and a mel .npy.
  t = np.arange(3 * 44100) / 44100
  tone = 0.3 * np.sin(2 * np.pi * 220 * t)
  sf.write(tmp_path / 'long.wav', np.stack([tone, tone], -1), 44100)
  np.save(tmp_path / 'mel.npy', np.random.default_rng(0).uniform(0, 1, (37, 20)).astype(np.float32))
  result = run_main(tmp_path, '--mode=vocode', f'--input={tmp_path}/long.wav',
                    f'--input={tmp_path}/mel.npy', *MEL_FLAGS)
  assert '[2/2 files]' in result.stdout and 'ETA 0:00' in result.stdout
  out = tmp_path / 'samples' / 'vocoded_step_1'
  audio, rate = sf.read(out / 'long.wav')
  assert rate == 8000 and abs(len(audio) - 3 * 8000) < 64
  assert sf.read(out / 'mel.wav')[0].shape == (37 * 64,)
  assert len(glob.glob(str(out / '*.png'))) == 2

  run_main(tmp_path, '--mode=eval', *MEL_FLAGS)
  results = json.load(open(tmp_path / 'eval' / 'step_1.json'))
  for row in ('diffusion', 'griffin_lim'):
    assert {'si_sdr', 'mrstft', 'lsd', 'mel_l1', 'pesq', 'stoi'} <= set(results[row])
    assert np.isfinite(results[row]['mel_l1'])


class _FrameMeanVocoder:
  """Stands in for a trained model: each chunk's audio is its mel's frame
  means, repeated hop times, so the reassembly is known exactly."""

  def __init__(self, hop):
    self.hop = hop
    self.batches = []

  def run(self, request, rng, first=0):
    del rng, first
    self.batches.append(request.shape[0])
    return np.repeat(np.asarray(request.cond['mel']).mean(-1), self.hop, axis=1)


def test_chunked_vocoding_reassembles_exactly():
  """Overlapping chunks and cross-fades must reassemble a per-frame function
  of the whole mel exactly."""
  config = tiny.get_config()
  config.task = 'vocoder'
  config.sampler.guidance_scale = 1.0
  config.vocoder.update(dict(chunk_frames=64, overlap_frames=8, batch_chunks=3))
  task = tasks.get_task(config)
  hop = config.audio.hop_length
  trained = _FrameMeanVocoder(hop)
  mel = np.random.default_rng(0).uniform(0, 1, (300, config.audio.n_mels)).astype(np.float32)
  audio = task.vocode(trained, mel=mel)
  np.testing.assert_allclose(audio, np.repeat(mel.mean(-1), hop), rtol=1e-5)
  assert max(trained.batches) == 3
  starts = windows.window_starts(300, 64, 8)
  assert starts[0] == 0 and starts[-1] == 300 - 64
  assert all(0 < b - a <= 56 for a, b in zip(starts, starts[1:]))


def test_vocode_rejects_bad_mels_before_writing():
  config = tiny.get_config()
  config.task = 'vocoder'
  config.sampler.guidance_scale = 1.0
  task = tasks.get_task(config)
  bad = np.zeros((10, config.audio.n_mels), np.float32)
  bad[3, 2] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    task.vocode(_FrameMeanVocoder(1), mel=bad)
  with pytest.raises(ValueError, match='n_mels'):
    task.vocode(_FrameMeanVocoder(1), mel=np.zeros((10, 3), np.float32))
  with pytest.raises(ValueError, match='at least one hop'):
    task.vocode(_FrameMeanVocoder(1), audio=np.full(5, 0.1, np.float32))
  with pytest.raises(ValueError, match='is silent'):
    task.vocode(_FrameMeanVocoder(1), audio=np.zeros(1000, np.float32))
  with pytest.raises(ValueError, match='lies in \\[0, 1\\]'):
    task.vocode(_FrameMeanVocoder(1), mel=np.full((10, config.audio.n_mels), 50.0, np.float32))
