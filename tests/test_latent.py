"""Latent diffusion end to end on a tiny config: autoencoder -> latent
diffusion -> samples decoded to audio -> export (with the autoencoder and the
scaling) -> the export samples the same audio."""

import json
import os

import jax
import numpy as np
import pytest

from audiodiff.run import api, inference, train
from audiodiff.errors import UserError
from audiodiff.tasks import get_task, meter
from experiments.configs import (music_autoencoder_cpu, music_latent_cpu,
                                 music_spectral_autoencoder_cpu)


def _tiny(config, data_dir):
  config.data.data_dir = data_dir
  config.data.num_examples = 8
  config.data.clip_seconds = 0.512          # 8,192 samples
  config.model.autoencoder.channels = 4
  config.model.autoencoder.strides = (4, 2)          # hop 64
  config.model.autoencoder.latent_channels = 4
  config.model.unet1d.channels = (8, 16)
  config.model.unet1d.blocks_per_level = 1
  config.model.unet1d.downsample = 2
  for field, value in (('num_steps', 3), ('log_every', 1), ('eval_every', 3),
                       ('sample_every', 3), ('checkpoint_every', 3), ('batch_size', 2),
                       ('eval_batches', 1), ('warmup_steps', 0)):
    config.train[field] = value
  config.sampler.num_samples = 4
  config.sampler.num_steps = 3
  return config


@pytest.fixture(scope='module')
def tiny_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('music')
  data_dir = str(root / 'data')
  autoencoder = _tiny(music_autoencoder_cpu.get_config(), data_dir)
  autoencoder.data.segment_length = 2048
  train.train_and_evaluate(autoencoder, str(root / 'ae'))
  latent = _tiny(music_latent_cpu.get_config(), data_dir)
  latent.data.segment_length = 8192
  latent.latent.autoencoder_workdir = str(root / 'ae')
  latent.latent.scaling_clips = 4
  latent.latent.attributes = ()  # a family-only model, as the first shipped one
  latent.latent.meter = False
  train.train_and_evaluate(latent, str(root / 'latent'))
  return root


@pytest.mark.usefixtures('fluidsynth')
def test_train_sample_decode_export_end_to_end(tiny_runs, tmp_path):
  ae_samples = tiny_runs / 'ae' / 'samples' / 'step_3'
  assert (ae_samples / 'reconstruction_000.wav').exists()
  autoencoder = api.load(str(tiny_runs / 'ae'))
  held_out = autoencoder.task.held_out_metrics(autoencoder)['held_out_reconstruction']
  assert held_out['num_clips'] == 1 and held_out['seconds_per_clip'] == 0.512
  assert all(np.isfinite(held_out[k]) for k in ('mrstft', 'si_sdr', 'mel_l1'))
  run = str(tiny_runs / 'latent')
  assert os.path.exists(os.path.join(run, 'latent_scaling.json'))
  model = api.load(run)
  request = model.task.sample_request(2, labels=[1, 3])
  assert request.shape == (2, 128, 4) and request.uncond is not None
  audio, _ = model.sample(2, labels=[1, 3])
  assert audio.shape == (2, 8192) and np.all(np.isfinite(audio))
  assert 'class1_strings' in request.names[0]

  export = str(tmp_path / 'export')
  api.export(model, export)
  with open(os.path.join(export, 'config.json')) as f:
    assert json.load(f)['latent']['autoencoder_workdir'] == 'autoencoder'
  assert os.path.exists(os.path.join(export, 'autoencoder', 'params.msgpack'))
  # The scaling travels with the export: the exported model samples the same.
  exported = api.load(export)
  np.testing.assert_array_equal(exported.task.scaling.scale, model.task.scaling.scale)
  again, _ = exported.sample(2, labels=[1, 3])
  np.testing.assert_allclose(again, audio, atol=1e-5)
  # Stored as float16 (the autoencoder's copy too): half the bytes, read back
  # as float32 parameters within float16's rounding of them.
  half = str(tmp_path / 'half')
  api.export(model, half, 'float16')
  for name in ('params.msgpack', 'autoencoder/params.msgpack'):
    ratio = os.path.getsize(os.path.join(half, name)) / os.path.getsize(os.path.join(export, name))
    assert 0.45 < ratio < 0.55, name
  halved = api.load(half)
  for a, b in zip(jax.tree.leaves(halved.params), jax.tree.leaves(exported.params)):
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
  assert json.load(open(os.path.join(half, 'export.json')))['precision'] == 'float16'
  # Exported again (--mode=export on the export), it keeps its precision.
  inference.export(halved.config, half, str(tmp_path / 're-export'))
  again = os.path.join(tmp_path, 're-export')
  assert json.load(open(os.path.join(again, 'export.json')))['precision'] == 'float16'
  assert os.path.getsize(os.path.join(again, 'params.msgpack')) == os.path.getsize(
      os.path.join(half, 'params.msgpack'))
  with pytest.raises(UserError, match='give one of float32, float16'):
    api.export(model, str(tmp_path / 'bf16'), 'bfloat16')


@pytest.mark.usefixtures('fluidsynth')
def test_latent_diffusion_on_the_spectral_autoencoder(tiny_runs, tmp_path):
  autoencoder = _tiny(music_spectral_autoencoder_cpu.get_config(), str(tiny_runs / 'data'))
  autoencoder.model.spectral_autoencoder.update(
      n_fft=256, stft_hop=64, channels=16, intermediate=32, encoder_blocks=1,
      decoder_blocks=1, latent_channels=3)
  autoencoder.data.segment_length = 2048
  train.train_and_evaluate(autoencoder, str(tmp_path / 'ae'))
  latent = _tiny(music_latent_cpu.get_config(), str(tiny_runs / 'data'))
  latent.data.segment_length = 8192
  latent.latent.autoencoder_workdir = str(tmp_path / 'ae')
  latent.latent.scaling_clips = 4
  train.train_and_evaluate(latent, str(tmp_path / 'latent'))
  model = api.load(str(tmp_path / 'latent'))
  assert model.task.sample_request(2, labels=[0, 1]).shape == (2, 128, 3)
  audio, _ = model.sample(2, labels=[0, 1])
  assert audio.shape == (2, 8192) and np.all(np.isfinite(audio))


@pytest.mark.usefixtures('fluidsynth')
def test_key_tempo_and_family_each_optional_with_guidance(tiny_runs, tmp_path):
  latent = _tiny(music_latent_cpu.get_config(), str(tiny_runs / 'data'))
  latent.data.segment_length = 8192
  latent.latent.autoencoder_workdir = str(tiny_runs / 'ae')
  latent.latent.scaling_clips = 4
  latent.latent.attributes = ('key', 'tempo')
  latent.latent.meter = True   # frames placed in the bar from the tempo
  train.train_and_evaluate(latent, str(tmp_path / 'latent'))
  model = api.load(str(tmp_path / 'latent'))
  request = model.sample_request(2, key='D', tempo=123, family='guitar')
  np.testing.assert_array_equal(request.cond['attributes'], [[2, 9], [2, 9]])
  np.testing.assert_array_equal(request.uncond['attributes'], [[12, 17], [12, 17]])
  np.testing.assert_array_equal(request.cond['label'], [2, 2])
  assert request.names[0].endswith('_guitar_D_125bpm')
  # Each one alone; the rest "not given".
  np.testing.assert_array_equal(model.sample_request(1, tempo=80).cond['attributes'], [[12, 0]])
  np.testing.assert_array_equal(model.sample_request(1, key='Eb').cond['attributes'], [[3, 17]])
  np.testing.assert_array_equal(model.sample_request(2, key=['C', 'B'], tempo=[80, None])
                                .cond['attributes'], [[0, 0], [11, 17]])
  audio, _ = model.sample(2, key='D', tempo=120, family='piano')
  assert audio.shape == (2, 8192) and np.all(np.isfinite(audio))
  # The meter: each pass's frames placed at the tempo asked for (123, not its
  # id's 125), none where the pass has no tempo, continued in a later window.
  frame_rate = 16000 / model.task.hop
  request = model.sample_request(2, tempo=[123, None], guidance={'tempo': 2})
  np.testing.assert_allclose(request.cond['position'], meter.position_features(
      np.array([123.0, np.nan]), 128, frame_rate), atol=1e-6)
  assert np.all(np.isfinite(model.generate(request, 0)))   # placed as sample_request made it
  window = model.task._placed(request, (2, 128, 4), offset=96)
  np.testing.assert_allclose(window.cond['position'], meter.position_features(
      np.array([123.0, np.nan]), 128, frame_rate, offset=96), atol=1e-6)
  assert np.any(window.cond['position'][0])
  assert not np.any(window.uncond.uncond['position'])
  assert not np.any(window.uncond.others[0]['position'])   # the tempo left out
  # Guidance on one part alone: one more pass with that part "not given".
  guided = model.sample_request(2, key='D', tempo=123, family='guitar',
                                guidance={'key': 3, 'family': 2}).uncond
  np.testing.assert_array_equal(guided.uncond['attributes'], [[12, 17], [12, 17]])
  np.testing.assert_array_equal(guided.others[0]['label'], [model.task.num_classes] * 2)
  np.testing.assert_array_equal(guided.others[1]['attributes'], [[12, 9], [12, 9]])
  np.testing.assert_array_equal(guided.scales, [[2, 3], [2, 3]])
  assert np.all(np.isfinite(model.sample(2, key='D', guidance={'key': 3})[0]))
  np.testing.assert_array_equal(  # scale 1 is no extra pass: the same audio
      model.sample(2, key='D', tempo=120, family='piano', guidance={'key': 1})[0], audio)
  for guidance, message in (({'mood': 2}, 'family, key, tempo'), ({'key': -1}, 'scale > 0'),
                            ({'family': 0}, 'ask for none instead'),
                            ('key', 'a dict')):
    with pytest.raises(UserError, match=message):
      model.sample_request(1, guidance=guidance)
  for options, message in (({'key': 'H'}, 'C, C#, D'), ({'tempo': 300}, 'from 80 to 160'),
                           ({'tempo': '120'}, 'give a number of beats per minute'),
                           ({'family': 'kazoo'}, 'piano')):
    with pytest.raises(UserError, match=message):
      model.sample_request(1, **options)
  # Longer than the trained window (0.512 s): windows continue each other.
  with pytest.raises(UserError, match='overlap_seconds=1.0 must lie between 0 and the window'):
    model.sample(1, seconds=1.5)
  config = model.config
  config.unlock()
  config.latent.overlap_seconds = 0.128
  long_model = api.load(str(tmp_path / 'latent'), config)
  long_audio, _ = long_model.sample(2, seconds=1.5, key='D')
  assert long_audio.shape == (2, 24000) and np.all(np.isfinite(long_audio))
  # Continuing keeps the first window as it was sampled alone.
  short_audio, _ = long_model.sample(2, seconds=0.512, key='D')
  np.testing.assert_allclose(long_audio[:, :4096], short_audio[:, :4096], atol=1e-3)
  with pytest.raises(UserError, match='seconds=-1'):
    long_model.sample(1, seconds=-1)
  # An overlap over half the window holds frames from before the last part.
  config.latent.overlap_seconds = 0.384
  wide_audio, _ = api.load(str(tmp_path / 'latent'), config).sample(2, seconds=1.5, key='D')
  assert wide_audio.shape == (2, 24000) and np.all(np.isfinite(wide_audio))
  # A model that learned no key says so.
  with pytest.raises(UserError, match='learned no key'):
    api.load(str(tiny_runs / 'latent')).sample_request(1, key='D')
  with pytest.raises(UserError, match='guidance.key=2.0: this model learned no key'):
    config = api.load(str(tiny_runs / 'latent')).config
    config.unlock()
    config.latent.guidance.key = 2.0
    api.load(str(tiny_runs / 'latent'), config)


def test_latent_config_errors_name_the_fix(tmp_path):
  config = music_latent_cpu.get_config()
  config.latent.autoencoder_workdir = ''
  with pytest.raises(UserError, match='autoencoder_workdir is empty'):
    get_task(config)
  config.latent.autoencoder_workdir = str(tmp_path / 'nothing')
  task = get_task(config)
  with pytest.raises(UserError, match='no trained model'):
    api.load_frozen_runs(task, str(tmp_path))
  config = music_autoencoder_cpu.get_config()
  config.data.segment_length = 1000
  with pytest.raises(UserError, match='multiple of the autoencoder hop 128'):
    get_task(config)
  config = music_latent_cpu.get_config()
  config.latent.attributes, config.latent.meter = ('key',), True
  with pytest.raises(UserError, match="attributes=\\('key',\\) has no 'tempo'"):
    get_task(config)
