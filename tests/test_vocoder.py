"""The vocoder path: mel conditioning, --mode=vocode on wav and .npy input of
any length, --mode=eval with metrics and the Griffin-Lim baseline."""

import glob
import json

import jax
import jax.numpy as jnp
import numpy as np
import soundfile as sf

from experiments.configs import tiny
from test_train import run_main

from audiodiff import experiment, inference

MEL_FLAGS = ['--config.model.conditioning=mel', '--config.sampler.guidance_scale=1',
             '--config.sampler.name=fast',
             '--config.sampler.fast_betas=(1e-4, 0.01, 0.1, 0.3)']


def test_train_vocode_and_eval(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=1', *MEL_FLAGS)
  # A 3 s wav at 44.1 kHz stereo (resampled and mixed down) and a mel .npy.
  t = np.arange(3 * 44100) / 44100
  tone = 0.3 * np.sin(2 * np.pi * 220 * t)
  sf.write(tmp_path / 'long.wav', np.stack([tone, tone], -1), 44100)
  np.save(tmp_path / 'mel.npy', np.random.default_rng(0).uniform(0, 1, (37, 20)).astype(np.float32))
  run_main(tmp_path, '--mode=vocode', f'--input={tmp_path}/long.wav',
           f'--input={tmp_path}/mel.npy', *MEL_FLAGS)
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


def test_chunked_vocoding_reassembles_exactly(tmp_path, monkeypatch):
  """With a stand-in vocoder whose output is a fixed function of each frame
  (frame mean, repeated hop times), the overlapping chunks and cross-fades
  must reassemble exactly that function of the whole mel."""
  config = tiny.get_config()
  config.model.conditioning = 'mel'
  config.sampler.guidance_scale = 1.0
  hop = config.audio.hop_length

  def fake_make_generate_fn(config, model, schedule):
    def generate(params, rng, cond):
      return jnp.repeat(cond['mel'].mean(-1), hop, axis=1)
    return generate

  monkeypatch.setattr(inference.generate, 'make_generate_fn', fake_make_generate_fn)
  exp = experiment.build(config, str(tmp_path))
  mel = np.random.default_rng(0).uniform(0, 1, (300, config.audio.n_mels)).astype(np.float32)
  audio = inference.vocode_mel(config, exp, None, mel, jax.random.PRNGKey(0),
                               chunk_frames=64, overlap_frames=8, batch_chunks=3)
  np.testing.assert_allclose(audio, np.repeat(mel.mean(-1), hop), rtol=1e-5)
  starts = inference._chunks(300, 64, 8)
  assert starts[0] == 0 and starts[-1] == 300 - 64
  assert all(0 < b - a <= 56 for a, b in zip(starts, starts[1:]))
