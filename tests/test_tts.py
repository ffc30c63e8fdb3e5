"""Text-to-speech: the prior and duration losses against closed forms, the
training inputs (MAS inside), the vocoder's energy prior, config errors,
and train -> synthesize -> export end to end on a tiny config (flite speaks
the corpus; skipped without it)."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import diffwave_vocoder_cpu, frame_vocoder_cpu, tts_tiny, vocoder_gl_cpu

from audiodiff import tasks
from audiodiff.run import api, train
from audiodiff.audio import audio_io, spectral
from audiodiff.errors import UserError
from audiodiff.tasks import base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, 'experiments', 'main.py')


def _task(**overrides):
  config = tts_tiny.get_config()
  for key, value in overrides.items():
    *sections, name = key.split('.')
    section = config
    for part in sections:
      section = section[part]
    section[name] = value
  return tasks.get_task(config)


def test_prior_and_duration_losses_match_closed_forms():
  task = _task()
  rng = np.random.default_rng(0)
  mel = rng.normal(size=(2, 6, 3)).astype(np.float32)
  mu_y = rng.normal(size=(2, 6, 3)).astype(np.float32)
  frame_mask = np.array([[1] * 6, [1] * 4 + [0] * 2], bool)
  durations = np.array([[2, 3, 1], [4, 0, 0]], np.float32)
  token_mask = np.array([[1, 1, 1], [1, 0, 0]], bool)
  log_durations = rng.normal(size=(2, 3)).astype(np.float32)
  aux = {'mel': mel, 'mu_y': mu_y, 'frame_mask': frame_mask, 'token_mask': token_mask,
         'log_durations': log_durations, 'durations': durations}
  losses = task.extra_losses(None, None, base.DiffusionInputs(x0=None, aux=aux), None,
                             train=True)
  # -log N(x; mu, 1) per value, over the 10 real frames x 3 channels.
  nll = 0.5 * ((mel - mu_y) ** 2 + np.log(2 * np.pi))
  expected_prior = nll[frame_mask].sum() / (frame_mask.sum() * 3)
  np.testing.assert_allclose(losses['prior'], expected_prior, rtol=1e-5)
  errors = [(log_durations[0, i] - np.log(durations[0, i])) ** 2 for i in range(3)]
  errors.append((log_durations[1, 0] - np.log(4.0)) ** 2)
  np.testing.assert_allclose(losses['duration'], np.mean(errors), rtol=1e-5)


def test_training_inputs_align_text_to_frames():
  """With mu one-hot per token and mel frames equal to those mu, MAS finds
  the true durations; the decoder crop and prior follow the alignment."""
  task = _task(**{'tts.segment_frames': 32})
  hop, n_mels = task.config.audio.hop_length, task.config.audio.n_mels
  true_durations = np.array([[5, 9, 3, 7], [6, 6, 0, 0]])
  num_tokens = np.array([4, 2], np.int32)
  frames = true_durations.sum(1)                       # 24 and 12
  mu = np.zeros((2, 4, n_mels), np.float32)
  for n in range(4):
    mu[:, n, 10 * n:10 * n + 10] = 3.0
  target = np.stack([np.repeat(mu[b], true_durations[b], axis=0).tolist()
                     + [[0.0] * n_mels] * (40 - frames[b]) for b in range(2)])
  # The task reads mels from audio; here its mel function returns the target.
  task.mel_and_lengths = lambda batch: (jnp.asarray(target, jnp.float32),
                                        jnp.asarray(frames, jnp.int32))
  network = lambda method, tokens, n: (jnp.asarray(mu), jnp.zeros(tokens.shape))
  batch = {'tokens': jnp.ones((2, 4), jnp.int32), 'num_tokens': jnp.asarray(num_tokens),
           'audio': jnp.zeros((2, 40 * hop)), 'audio_mask': jnp.zeros((2, 40 * hop))}
  inputs = task.diffusion_inputs(batch, jax.random.PRNGKey(0), train=True, network=network)
  np.testing.assert_array_equal(inputs.aux['durations'], true_durations)
  np.testing.assert_allclose(inputs.aux['mu_y'][0, :24], target[0, :24])
  assert inputs.x0.shape == (2, 32, n_mels) and inputs.mask.shape == (2, 32, 1)
  # The second utterance (12 frames) is padded in its crop, masked and silent.
  np.testing.assert_array_equal(inputs.mask[1, :, 0], np.arange(32) < 12)
  np.testing.assert_allclose(inputs.prior.mean[1, 12:], task.silence)
  np.testing.assert_allclose(inputs.cond['signal'], inputs.prior.mean)


@pytest.mark.parametrize('overrides, message', [
    ({'tts.symbols': 'letters'}, 'config.tts.symbols'),
    ({'model.name': 'diffwave'}, "use 'unet1d'"),
    ({'tts.segment_frames': 33}, 'multiples'),
    ({'tts.length_scale': 0.0}, 'length_scale'),
    ({'model.grad_tts.heads': 5}, 'divisible'),
])
def test_config_errors_name_the_field(overrides, message):
  with pytest.raises(UserError, match=message):
    _task(**overrides)


def test_vocoder_energy_prior_reads_frame_level_from_the_mel():
  config = diffwave_vocoder_cpu.get_config()
  task = tasks.get_task(config)
  rng = np.random.default_rng(0)
  hop = config.audio.hop_length
  # White noise at two levels, then silence: the prior's std follows it.
  audio = np.concatenate([0.3 * rng.standard_normal(32 * hop), 0.03 * rng.standard_normal(
      32 * hop), np.zeros(32 * hop)]).astype(np.float32)[None]
  prior = task.prior(task.mel(jnp.asarray(audio)))
  scale = np.asarray(prior.scale)[0]
  assert scale.shape == (96 * hop,)
  np.testing.assert_allclose(np.median(scale[4 * hop:28 * hop]), 0.3, rtol=0.1)
  np.testing.assert_allclose(np.median(scale[36 * hop:60 * hop]), 0.03, rtol=0.1)
  np.testing.assert_allclose(scale[70 * hop:], config.vocoder.prior_floor)
  inputs = task.diffusion_inputs({'audio': jnp.asarray(audio)}, None, train=True)
  assert inputs.prior is not None
  config.vocoder.prior = 'standard'
  assert tasks.get_task(config).prior(task.mel(jnp.asarray(audio))) is None
  config.vocoder.prior = 'energy_v2'
  with pytest.raises(UserError, match='config.vocoder.prior'):
    tasks.get_task(config)


def test_vocoder_griffin_lim_prior_centres_the_diffusion_on_griffin_lim():
  config = vocoder_gl_cpu.get_config()
  task = tasks.get_task(config)
  assert task.model_inputs() == {'n_mels': config.audio.n_mels, 'cond_channels': 1}
  hop = config.audio.hop_length
  audio = (0.1 * np.random.default_rng(1).standard_normal((2, 16 * hop))).astype(np.float32)
  mel = task.mel(jnp.asarray(audio))
  cond, prior = task.conditioning(mel)
  estimate = np.asarray(spectral.griffin_lim(mel, config.audio,
                                             num_iters=config.vocoder.griffin_lim_iters))
  np.testing.assert_allclose(prior.mean, estimate, atol=1e-6)
  np.testing.assert_allclose(cond['signal'][..., 0], estimate, atol=1e-6)
  energy = tasks.get_task(diffwave_vocoder_cpu.get_config()).prior(mel).scale
  np.testing.assert_allclose(prior.scale, config.vocoder.prior_scale * energy, rtol=1e-6)
  config.model.name = 'diffwave'
  with pytest.raises(UserError, match='unet1d'):
    tasks.get_task(config)



@pytest.fixture(scope='module')
def tiny_runs(tmp_path_factory, flite):
  """A tiny TTS run and a tiny vocoder with the same config.audio."""
  root = tmp_path_factory.mktemp('tts')
  data_dir = str(root / 'tfds')
  vocoder = frame_vocoder_cpu.get_config()  # the shipped kind, tiny
  vocoder.data.data_dir = data_dir
  vocoder.data.name, vocoder.data.voices = 'flite_speech', ('slt',)
  vocoder.data.num_examples = 8
  vocoder.model.convnext1d.update(dict(channels=8, intermediate=16, num_blocks=1,
                                       embedding_dim=8))
  vocoder.vocoder.chunk_frames = 16
  vocoder.vocoder.overlap_frames = 2
  for field, value in (('num_steps', 2), ('eval_every', 2), ('sample_every', 2),
                       ('checkpoint_every', 2), ('batch_size', 2), ('eval_batches', 1),
                       ('warmup_steps', 0)):
    vocoder.train[field] = value
  train.train_and_evaluate(vocoder, str(root / 'vocoder'))
  config = tts_tiny.get_config()
  config.data.data_dir = data_dir
  config.tts.vocoder_workdir = str(root / 'vocoder')
  train.train_and_evaluate(config, str(root / 'tts'))
  return root


def _main(*args):
  return subprocess.run([sys.executable, MAIN, *args], capture_output=True, text=True,
                        cwd=ROOT, check=False)


def test_train_synthesize_export_end_to_end(tiny_runs, tmp_path):
  run = str(tiny_runs / 'tts')
  assert os.path.exists(os.path.join(run, 'samples', 'step_4', 'tts_000.wav'))
  model = api.load(run)
  long_text = ('This sentence is long enough to be split at its punctuation; it goes on, '
               'and on. ' * 4)
  results = model.synthesize(['Hello there, 42 cats!', long_text])
  rate = model.config.audio.sample_rate
  for result in results:
    assert result['audio'].ndim == 1 and np.all(np.isfinite(result['audio']))
    assert result['mel'].shape[1] == model.config.audio.n_mels
  assert len(results[1]['pieces']) > 1
  assert len(results[1]['audio']) > len(results[0]['audio'])
  # Same seed, same speech.
  once, again = (model.synthesize('Hello there, 42 cats!')[0]['audio'] for _ in range(2))
  np.testing.assert_array_equal(once, again)

  # The CLI: --text and --text_file, wav + png per utterance, the vocoder named.
  text_file = tmp_path / 'lines.txt'
  text_file.write_text('First line to say.\n\nSecond line, with 3 words?\n')
  export = str(tmp_path / 'export')
  assert _main(f'--workdir={run}', '--mode=export', f'--output={export}').returncode == 0
  assert os.path.exists(os.path.join(export, 'vocoder', 'params.msgpack'))
  with open(os.path.join(export, 'config.json')) as f:
    assert json.load(f)['tts']['vocoder_workdir'] == 'vocoder'
  result = _main(f'--workdir={export}', '--mode=synthesize', '--text=Good morning.',
                 f'--text_file={text_file}')
  assert result.returncode == 0, result.stderr
  assert 'the trained vocoder' in result.stdout
  out = os.path.join(export, 'samples', 'tts_step_4')
  names = sorted(n for n in os.listdir(out) if not n.startswith('.'))   # not its record
  assert names == ['000_good_morning.png', '000_good_morning.wav',
                   '001_first_line_to_say.png', '001_first_line_to_say.wav',
                   '002_second_line_with_3_words.png', '002_second_line_with_3_words.wav',
                   'index.html']
  audio, file_rate = audio_io.read_audio(os.path.join(out, '000_good_morning.wav'))
  assert file_rate == rate and len(audio) > 0

  # Griffin-Lim when no vocoder is named, and the output says so.
  result = _main(f'--workdir={run}', '--mode=synthesize', '--text=Good morning.',
                 '--config=experiments/configs/tts_tiny.py',
                 f'--config.data.data_dir={tiny_runs / "tfds"}', '--name=gl')
  assert result.returncode == 0, result.stderr
  assert 'Griffin-Lim' in result.stdout

  # Bad requests: one line naming the problem, exit status 2.
  for args, message in ((('--text=',), 'nothing to speak'),
                        ((), 'needs --text'),
                        ((f'--text_file={tmp_path / "missing.txt"}',), 'does not exist')):
    result = _main(f'--workdir={export}', '--mode=synthesize', *args)
    assert result.returncode == 2 and result.stderr.strip().startswith('error:'), result.stderr
    assert message in result.stderr
  result = _main(f'--workdir={tiny_runs / "vocoder"}', '--mode=synthesize', '--text=Hi.')
  assert result.returncode == 2 and 'text-to-speech model' in result.stderr


def test_teacher_forced_mel_has_the_recordings_frames(tiny_runs):
  """align + teacher_forced_mel (benchmarks/tts_intelligibility.py's mel L1):
  MAS spreads every token over the recording's frames, and the decoder's mel
  at those durations has the recording's shape and range."""
  model = api.load(str(tiny_runs / 'tts'))
  hop = model.config.audio.hop_length
  audio = 0.1 * np.sin(np.arange(37 * hop) / 7.0).astype(np.float32)
  aligned = model.task.align(model, 'Hello there.', audio)
  assert aligned['log_mel'].shape == (37, model.config.audio.n_mels)
  assert aligned['mu_y'].shape == aligned['log_mel'].shape
  assert aligned['durations'].sum() == 37 and np.all(aligned['durations'] >= 1)
  assert aligned['predicted'].shape == aligned['durations'].shape
  mel = model.task.teacher_forced_mel(model, aligned['mu_y'])
  assert mel.shape == aligned['log_mel'].shape and np.all((mel >= 0) & (mel <= 1))
