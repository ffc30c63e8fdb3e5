"""The frame-rate vocoder: its STFT state, the bridge's start and marginals
against closed forms, and training, vocoding and eval end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from experiments.configs import tiny
from test_train import run_main

from audiodiff import tasks
from audiodiff.audio import spectral
from audiodiff.diffusion import sde
from audiodiff.enhancement.representation import StftFeatures
from audiodiff.errors import UserError
from audiodiff.run import experiment

FRAME_FLAGS = ['--config.task=frame_vocoder', '--config.model.name=convnext1d',
               '--config.diffusion.prediction=x0', '--config.sampler.guidance_scale=1',
               '--config.sampler.name=dpm_solver', '--config.sampler.num_steps=2',
               '--config.model.convnext1d.channels=16',
               '--config.model.convnext1d.intermediate=32',
               '--config.model.convnext1d.num_blocks=2',
               '--config.model.convnext1d.embedding_dim=8']


def tiny_config(**vocoder):
  config = tiny.get_config()
  config.task = 'frame_vocoder'
  config.model.name = 'convnext1d'
  config.model.convnext1d.update(dict(channels=16, intermediate=32, num_blocks=2,
                                      embedding_dim=8))
  config.diffusion.prediction = 'x0'
  config.sampler.update(dict(guidance_scale=1.0, name='dpm_solver', num_steps=1))
  config.vocoder.update(vocoder)
  return config


def speech_like(seconds=0.5, rate=8000, seed=0):
  """[1, L]: a gliding harmonic tone with a little noise."""
  t = np.arange(int(seconds * rate)) / rate
  f0 = 150 + 50 * t
  phase = 2 * np.pi * np.cumsum(f0) / rate
  audio = sum(np.sin(k * phase) / k for k in range(1, 6))
  audio += 0.01 * np.random.default_rng(seed).standard_normal(len(t))
  return (0.3 * audio / np.max(np.abs(audio)))[None].astype(np.float32)


@pytest.mark.parametrize('n_fft, hop, scale', [(256, 64, 0.33), (1024, 256, 0.33)])
def test_state_round_trips_to_the_waveform(n_fft, hop, scale):
  features = StftFeatures(n_fft=n_fft, hop_length=hop, scale=scale)
  audio = speech_like(seconds=1.0, rate=16000)[:, :16000 // hop * hop]
  state = features.to_features(jnp.asarray(audio))
  assert state.shape == (1, audio.shape[1] // hop, n_fft + 2)
  np.testing.assert_allclose(np.asarray(features.to_audio(state)), audio, atol=2e-5)


def test_pseudo_inverse_start_reproduces_the_mel_with_zero_phase():
  task = tasks.get_task(tiny_config(start='pseudo_inverse'))
  audio = jnp.asarray(speech_like()[:, :4000 // 64 * 64])
  mel = task.mel(audio)
  start = np.asarray(task.start(mel))
  bins = task.stft.bins
  assert start.shape == (1, mel.shape[1], 2 * bins)
  np.testing.assert_array_equal(start[..., bins:], 0.0)
  magnitude = np.asarray(task.stft.decompress(jnp.asarray(start[..., :bins] + 0j)).real)
  filterbank = np.asarray(spectral.mel_from_config(task.config.audio).filterbank)
  rebuilt, target = magnitude @ filterbank, np.asarray(spectral.decompress_mel(mel))
  loud = target > 0.05 * target.max()
  assert np.median(np.abs(rebuilt - target)[loud] / target[loud]) < 0.05


def test_griffin_lim_start_is_the_griffin_lim_spectrum():
  task = tasks.get_task(tiny_config(start='griffin_lim', griffin_lim_iters=4))
  mel = task.mel(jnp.asarray(speech_like()[:, :4000 // 64 * 64]))
  waveform = spectral.griffin_lim(mel, task.config.audio, num_iters=4)
  np.testing.assert_allclose(np.asarray(task.start(mel)),
                             np.asarray(task.stft.to_features(waveform)), atol=1e-6)


def test_bridge_marginal_is_the_closed_form():
  """x_t = prior.to_data(alpha z0 + sigma eps) must be the bridge's Gaussian
  N(alpha x0 + (1 - alpha) start, (s sigma)^2) of diffusion/sde.py."""
  task = tasks.get_task(tiny_config(prior_scale=0.2))
  inputs = task.diffusion_inputs({'audio': jnp.asarray(speech_like()[:, :3968])},
                                 jax.random.PRNGKey(0), train=True)
  eps = jax.random.normal(jax.random.PRNGKey(1), inputs.x0.shape)
  for alpha in (0.0, 0.3, 1.0):
    sigma = np.sqrt(1 - alpha**2)
    x_t = inputs.prior.to_data(alpha * inputs.prior.to_diffusion(inputs.x0) + sigma * eps)
    mean, std = sde.marginal(inputs.x0, inputs.prior.mean, alpha, sigma, 0.2)
    np.testing.assert_allclose(np.asarray(x_t), np.asarray(mean + std * eps), atol=1e-5)


def test_untrained_vocoder_returns_its_start():
  """The output layer starts at zero, so the first sample is the bridge's start."""
  config = tiny_config()
  exp = experiment.build(config, None)
  params = exp.task.init_variables(exp.model, jax.random.PRNGKey(0))
  mel = exp.task.mel(jnp.asarray(speech_like()[:, :3968]))
  request = exp.task.request_from_mel(np.asarray(mel), ['x'])
  denoise = lambda x, t, c: exp.model.apply({'params': params}, x, t, c)
  sample = exp.sampler(denoise, jax.random.PRNGKey(0), request.shape, cond=request.cond,
                       prior=request.prior)
  np.testing.assert_allclose(np.asarray(sample), np.asarray(request.prior.mean), atol=1e-5)


@pytest.mark.parametrize('override, message', [
    (dict(model='unet1d'), 'convnext1d'),
    (dict(start='noise'), 'pseudo_inverse'),
    (dict(prediction='eps'), 'prediction=x0'),
])
def test_config_mistakes_name_the_fix(override, message):
  config = tiny_config(**{k: v for k, v in override.items() if k == 'start'})
  if 'model' in override:
    config.model.name = override['model']
  if 'prediction' in override:
    config.diffusion.prediction = override['prediction']
  with pytest.raises(UserError, match=message):
    tasks.get_task(config)


def test_train_vocode_and_eval(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=2', *FRAME_FLAGS)
  t = np.arange(2 * 16000) / 16000
  sf.write(tmp_path / 'tone.wav', 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
  run_main(tmp_path, '--mode=vocode', f'--input={tmp_path}/tone.wav', *FRAME_FLAGS)
  audio, rate = sf.read(tmp_path / 'samples' / 'vocoded_step_2' / 'tone.wav')
  assert rate == 8000 and abs(len(audio) - 2 * 8000) < 64 and np.all(np.isfinite(audio))
  run_main(tmp_path, '--mode=eval', *FRAME_FLAGS)
  results = json.load(open(tmp_path / 'eval' / 'step_2.json'))
  for row in ('diffusion', 'griffin_lim'):
    assert {'pesq', 'mrstft', 'mel_l1'} <= set(results[row])
