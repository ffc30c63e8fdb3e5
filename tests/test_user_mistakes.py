"""What a user sees when they get something wrong: a correct result, or one
`error: ...` line naming the file or field and the fix, with nothing
half-written. Runs the shipped models' inference modes on tiny inputs."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st

from audiodiff.audio import audio_io
from audiodiff.errors import UserError
from audiodiff.run import inference, outputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, 'experiments', 'main.py')
ENHANCER = os.path.join(ROOT, 'pretrained', 'enhance_cpu')
PRIOR = os.path.join(ROOT, 'pretrained', 'speech_prior_cpu')


def _speechlike(seconds, rate=16000, seed=0):
  t = np.arange(int(seconds * rate)) / rate
  voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
  noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
  return (0.05 * voiced * (np.sin(2 * np.pi * 3 * t) > -0.3) + noise).astype(np.float32)


def _main(*args):
  return subprocess.run([sys.executable, MAIN, *args], capture_output=True, text=True,
                        cwd=ROOT, check=False)


def _model_copy(source, tmp_path):
  """A writable copy of a shipped model."""
  target = tmp_path / os.path.basename(source)
  shutil.copytree(source, target)
  return str(target)


# ---- outputs named after the inputs -------------------------------------------

def test_output_stems_are_unique_and_mirror_folders():
  assert outputs.output_stems(['in/a.wav', 'in/b.wav']) == ['a', 'b']
  assert outputs.output_stems(['x/one/take.wav', 'x/two/take.wav']) == ['one/take', 'two/take']
  stems = outputs.output_stems(['a/x.wav', 'a/x.flac', 'b/x.wav'])
  assert len(set(stems)) == 3, stems


@pytest.mark.parametrize('audio, message', [
    (np.full(100, np.nan), 'NaN or inf'),
    (np.full(100, -1.0), 'clipped at full scale'),
])
def test_broken_output_audio_is_never_written(tmp_path, audio, message):
  with pytest.raises(UserError, match=message):
    outputs.write_audio_files(str(tmp_path / 'out'), audio[None], ['x'],
                              type('A', (), {'sample_rate': 16000})())
  assert not os.path.exists(tmp_path / 'out')


def test_generated_audio_above_full_scale_is_scaled_down_not_clipped(tmp_path, capsys):
  audio = 0.5 * np.sin(np.linspace(0, 200, 8000)).astype(np.float32)
  audio[100:110] = 1.3
  [wav] = outputs.write_audio_files(str(tmp_path), audio[None], ['x'],
                                    _recipe('tiny').audio)
  written, _ = sf.read(wav, dtype='float32')
  assert sf.info(wav).subtype == 'PCM_16'
  assert np.max(np.abs(written)) == pytest.approx(outputs.SCALED_PEAK, abs=1e-4)
  np.testing.assert_allclose(written, audio * outputs.SCALED_PEAK / 1.3, atol=1e-4)
  assert 'x: peaks at 1.30, above full scale' in capsys.readouterr().out


def test_two_inputs_with_one_name_give_two_outputs(tmp_path):
  workdir = _model_copy(ENHANCER, tmp_path)
  for folder, seed in (('a', 0), ('b', 1)):
    audio_io.save_audio(tmp_path / folder / 'take.wav', _speechlike(0.3, seed=seed), 16000)
  written = inference.enhance(None, workdir, [str(tmp_path / 'a' / 'take.wav'),
                                              str(tmp_path / 'b' / 'take.wav'),
                                              str(tmp_path / 'a' / 'take.wav')], name='out')
  assert len(written) == 2 and len(set(written)) == 2
  assert all(os.path.exists(path) for path in written)
  first, _ = audio_io.read_audio(written[0])
  second, _ = audio_io.read_audio(written[1])
  assert not np.allclose(first, second)


# ---- exports checked on load ------------------------------------------------------

@pytest.mark.parametrize('damage, message', [
    ('nan', 'NaN or inf parameters'),
    ('truncated', 'cannot be read'),
    ('empty', 'cannot be read'),
])
def test_damaged_exports_fail_in_one_line(tmp_path, damage, message):
  workdir = _model_copy(ENHANCER, tmp_path)
  params = os.path.join(workdir, 'params.msgpack')
  if damage == 'nan':
    import flax.serialization  # pylint: disable=g-import-not-at-top
    import jax  # pylint: disable=g-import-not-at-top
    with open(params, 'rb') as f:
      tree = flax.serialization.msgpack_restore(f.read())
    tree = jax.tree.map(lambda x: np.full_like(x, np.nan), tree)
    with open(params, 'wb') as f:
      f.write(flax.serialization.msgpack_serialize(tree))
  else:
    with open(params, 'rb') as f:
      data = f.read()
    with open(params, 'wb') as f:
      f.write(data[:len(data) // 2] if damage == 'truncated' else b'')
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  result = _main(f'--workdir={workdir}', '--mode=enhance', f'--input={tmp_path / "in.wav"}')
  assert result.returncode == 2, result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error:') and message in lines[0], lines
  assert 'params.msgpack' in lines[0]
  assert not os.path.exists(os.path.join(workdir, 'samples'))


# ---- restoration settings that cannot hold ----------------------------------------

def _restore_config(**settings):
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  config = experiment.read_config(PRIOR)
  with config.unlocked():
    config.restore.update(settings)
  return config


@pytest.mark.parametrize('settings, rate, length, message', [
    (dict(task='bandwidth', cutoff_hz=6000.0), 8000, 0.5, 'holds nothing above 4000 Hz'),
    (dict(task='declip', clip_level=-0.3), 16000, 0.5, r'must be 0 \(detect the level\)'),
    (dict(task='declip', clip_level=float('nan')), 16000, 0.5, r'nan must be 0 \(detect'),
])
def test_restore_refuses_settings_the_file_cannot_hold(tmp_path, settings, rate, length,
                                                      message):
  audio_io.save_audio(tmp_path / 'in.wav', np.clip(_speechlike(length, rate), -0.02, 0.02),
                      rate)
  workdir = _model_copy(PRIOR, tmp_path)
  with pytest.raises(UserError, match=message):
    inference.restore(_restore_config(**settings), workdir, [str(tmp_path / 'in.wav')],
                      name='out')
  assert not os.path.exists(os.path.join(workdir, 'samples'))


def test_restore_refuses_a_short_reference_before_writing(tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  audio_io.save_audio(tmp_path / 'ref.wav', _speechlike(0.2), 16000)
  config = _restore_config(task='bandwidth', cutoff_hz=4000.0)
  workdir = _model_copy(PRIOR, tmp_path)
  with pytest.raises(UserError, match='is shorter'):
    inference.restore(config, workdir, [str(tmp_path / 'in.wav')],
                      references=[str(tmp_path / 'ref.wav')], name='out')
  assert not os.path.exists(os.path.join(workdir, 'samples'))


# ---- config flags ---------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (['--config.train.grad_clip=0'], "no config field 'grad_clip': Did you mean"),
    (['--config.train.num_steps=abc'],
     '--config.train.num_steps=abc: give a whole number, e.g. --config.train.num_steps=4.'),
    (['--config.train.learning_rate=abc'], '--config.train.learning_rate=abc: give a number'),
    (['--num_samples=2.5'], '--num_samples=2.5: give a whole number, e.g. --num_samples=4.'),
    (['--config.trian.num_steps=3'], "no config field 'trian'"),
    (['--config.sampler.foo=1'], "no config field 'sampler.foo' (--config.sampler.foo); the "
     'fields of config.sampler: batch_size'),
    (['--config.sampler={"num_steps": 2}'], '--config.sampler is a section of fields'),
])
def test_config_flag_mistakes_fail_in_one_line(tmp_path, args, message):
  result = _main('--config=experiments/configs/tiny.py', f'--workdir={tmp_path / "run"}', *args)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert lines[0].startswith('error:') and message in lines[0], lines
  assert not os.path.exists(tmp_path / 'run')


@pytest.mark.parametrize('content, message', [
    ('def get_config(:\n', 'is not valid Python (line 1)'),
    ('open("ran", "w").write("x")\n', 'is not a config file'),
])
def test_config_files_that_are_not_configs_do_not_run(tmp_path, content, message):
  path = tmp_path / 'config.py'
  path.write_text(content)
  result = _main(f'--config={path}', f'--workdir={tmp_path / "run"}')
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
  assert not os.path.exists(os.path.join(ROOT, 'ran'))


def test_config_flags_change_a_model_directory_without_config(tmp_path):
  workdir = _model_copy(os.path.join(ROOT, 'pretrained', 'notes'), tmp_path)
  result = _main(f'--workdir={workdir}', '--mode=sample', '--num_samples=1',
                 '--config.sampler.num_steps=3', '--config.sampler.name=ddim')
  assert result.returncode == 0, result.stderr
  # The output folder names the sampler that ran: DDIM with 3 network calls.
  samples = os.path.join(workdir, 'samples')
  (folder,) = [f for f in os.listdir(samples) if os.path.isdir(os.path.join(samples, f))]
  assert '_ddim3_' in folder, folder
  result = _main(f'--workdir={workdir}', '--mode=sample', '--config.sampler.num_stepz=3')
  assert result.returncode == 2 and 'Did you mean "num_steps"' in result.stderr


# ---- sample counts and labels -------------------------------------------------------

@pytest.mark.parametrize('count', [0, -3, 2.5, True])
def test_sample_counts_must_be_whole_and_positive(count):
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  with pytest.raises(UserError, match=r'whole number of outputs in \[1, '):
    model.sample(count)


@pytest.mark.parametrize('labels', [[0.5, 1.7], ['a', 'b'], [0, 99], [0]])
def test_labels_must_be_class_ids(labels):
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  with pytest.raises(UserError, match='class ids|given for 2 samples'):
    model.sample(2, labels=labels)


def test_editing_a_loaded_models_config_is_refused_with_the_way_that_works():
  import audiodiff  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'notes')
  model = audiodiff.load(directory)
  model.config.sampler.num_steps = 3
  with pytest.raises(UserError, match=r'changed after loading \(sampler.num_steps\).*'
                                      r'audiodiff.load\(directory, config\)'):
    model.sample(1)
  audio, _ = audiodiff.load(directory, model.config).sample(1)
  assert np.isfinite(audio).all()


def test_settings_that_change_the_network_are_named():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'notes')
  config = experiment.read_config(directory)
  config.model.unet1d.channels = (8, 16)
  with pytest.raises(UserError, match=r'config.model.unet1d.channels=\(8, 16\) \(trained with'):
    audiodiff.load(directory, config)
  latent = os.path.join(ROOT, 'pretrained', 'music_latent_cpu')
  config = experiment.read_config(latent)
  config.latent.autoencoder_workdir = os.path.join(ROOT, 'pretrained', 'notes')
  with pytest.raises(UserError, match="is a 'generate' model, not an autoencoder"):
    audiodiff.load(latent, config)


def test_fifth_probe_api_mistakes_are_one_user_error():
  import audiodiff  # pylint: disable=g-import-not-at-top
  notes = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  with pytest.raises(UserError, match="1 given for 2 samples \\(\\['organ'\\]\\); give one per "
                     'sample, or a single one for all'):   # labels='organ': for every sample
    notes.sample(2, labels=['organ'])
  with pytest.raises(UserError, match='must be a ConfigDict'):
    audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'), 'config.py')
  prior = audiodiff.load(os.path.join(ROOT, 'pretrained', 'speech_prior_cpu'))
  with pytest.raises(UserError, match='unconditional'):
    prior.sample(1, labels=['organ'])
  vocoder = audiodiff.load(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'))
  loud = 32767 * 0.1 * np.sin(np.arange(4096) / 10.0)
  with pytest.raises(UserError, match='divide by 32768'):
    vocoder.vocode(audio=loud)
  enhancer = audiodiff.load(ENHANCER)
  with pytest.raises(TypeError):  # the seed is keyword-only: 8000 is not a seed
    enhancer.enhance(np.zeros(8000, np.float32), 8000)


def test_sampler_flags_on_a_predictive_enhancer_are_refused(tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  result = _main(f'--workdir={ENHANCER}', '--mode=enhance', f'--input={tmp_path / "in.wav"}',
                 f'--output={tmp_path / "out"}', '--config.sampler.num_steps=3')
  assert result.returncode == 2 and 'no effect: this enhancer is predictive' in result.stderr
  with pytest.raises(UserError, match='several lengths'):
    import audiodiff  # pylint: disable=g-import-not-at-top
    audiodiff.load(ENHANCER).enhance([np.ones(100, np.float32), np.ones(50, np.float32)])


def test_name_beside_output_and_negative_guidance_are_refused(tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  result = _main(f'--workdir={ENHANCER}', '--mode=enhance', f'--input={tmp_path / "in.wav"}',
                 f'--output={tmp_path / "out"}', '--name=mine')
  assert result.returncode == 2 and 'give one of them' in result.stderr
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  result = _main(f'--workdir={notes}', '--mode=sample', f'--output={tmp_path / "s"}',
                 '--config.sampler.guidance_scale=-3')
  assert result.returncode == 2 and '>= 0' in result.stderr


def test_sixth_probe_mistakes(tmp_path):
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import inference  # pylint: disable=g-import-not-at-top
  # An output that is the input under another name (a hard link) is refused.
  (tmp_path / 'in').mkdir()
  audio_io.save_audio(tmp_path / 'in' / 'take.wav', _speechlike(0.3), 16000)
  inference.enhance(None, ENHANCER, [str(tmp_path / 'in' / 'take.wav')],
                    output=str(tmp_path / 'out'))  # audiodiff's folder, with out/take.wav
  (tmp_path / 'linked').mkdir()
  os.link(tmp_path / 'out' / 'take.wav', tmp_path / 'linked' / 'take.wav')
  before = (tmp_path / 'linked' / 'take.wav').read_bytes()
  with pytest.raises(UserError, match='would overwrite the input'):
    inference.enhance(None, ENHANCER, [str(tmp_path / 'linked' / 'take.wav')],
                      output=str(tmp_path / 'out'))
  assert (tmp_path / 'linked' / 'take.wav').read_bytes() == before
  enhancer = audiodiff.load(ENHANCER)
  with pytest.raises(UserError, match='divide by 32768'):
    enhancer.enhance(20000 * _speechlike(0.3))
  mix = _speechlike(0.3)
  mix *= 1.03 / np.max(np.abs(mix))  # a noisy mix that overshoots a little is audio
  assert enhancer.enhance(mix).shape == mix.shape
  with pytest.raises(UserError, match='whole number'):
    audiodiff.load(ENHANCER, checkpoint_step='3')
  from experiments.configs import tts_cpu  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="config is for task 'tts'"):
    audiodiff.load(ENHANCER, tts_cpu.get_config())
  # load(dir, config) keeps its own copy: editing the caller's later breaks nothing.
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  first = audiodiff.load(notes)
  second = audiodiff.load(notes, first.config)
  first.config.sampler.num_steps = 3
  assert np.isfinite(second.sample(1)[0]).all()


def test_writing_a_wav_keeps_a_hard_linked_copy(tmp_path):
  audio_io.save_audio(tmp_path / 'a.wav', np.full(100, 0.5, np.float32), 8000)
  os.link(tmp_path / 'a.wav', tmp_path / 'b.wav')
  audio_io.save_audio(tmp_path / 'b.wav', np.zeros(100, np.float32), 8000)
  assert np.allclose(audio_io.load_audio(tmp_path / 'a.wav', 8000), 0.5, atol=1e-3)
  assert not [p for p in os.listdir(tmp_path) if 'partial' in p]


def test_flags_that_name_one_thing_are_given_once():
  result = _main('--workdir=a', '--workdir=b', '--mode=info')
  assert result.returncode == 2 and '--workdir is given 2 times' in result.stderr


def test_an_enhancer_window_the_unet_cannot_halve_is_named(tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  result = _main(f'--workdir={ENHANCER}', '--mode=enhance', f'--input={tmp_path / "in.wav"}',
                 f'--output={tmp_path / "out"}', '--config.enhance.window_frames=250')
  assert result.returncode == 2 and 'must be a multiple of 4' in result.stderr
  assert not os.path.exists(tmp_path / 'out')


def test_info_on_a_folder_without_a_model_says_what_it_needs(tmp_path):
  from audiodiff.run import inference  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match='neither an export .* nor checkpoints/'):
    inference.info(None, str(tmp_path))


# ---- text to speech -------------------------------------------------------------------

@pytest.fixture(scope='module')
def tts_model():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'tts_cpu'))
  if model.config.tts.symbols == 'phonemes' and shutil.which('espeak-ng') is None:
    pytest.skip('espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng)')
  return model


@pytest.mark.parametrize('text', ['你好世界', '<speak><break time="1s"/></speak>', '...!?'])
def test_text_with_nothing_speakable_is_refused(tts_model, text):
  with pytest.raises(UserError, match='has nothing to speak for this English model'):
    tts_model.synthesize([text])


def test_markup_is_not_read_aloud(tts_model):
  from audiodiff.tasks import tts  # pylint: disable=g-import-not-at-top
  assert tts.strip_markup('<speak>Hello <break time="1s"/> world &amp; co</speak>').split() == [
      'Hello', 'world', '&', 'co']


def test_long_text_is_cut_by_tokens(tts_model):
  text = ' '.join(['The quick brown fox jumps over the lazy dog'] * 8)  # no punctuation
  pieces = tts_model.task._fitting_pieces(text)  # pylint: disable=protected-access
  assert len(pieces) > 1
  assert all(len(ids) <= tts_model.config.tts.max_tokens for _, ids in pieces)
  assert ' '.join(p for p, _ in pieces).split() == text.split()
  # Cut in halves, so no stray one-word pieces (probe42: 10, 10, 1, 10, 10, 1 words).
  words = [len(p.split()) for p, _ in pieces]
  assert max(words) <= 2 * min(words), words


def test_a_binary_text_file_is_refused(tmp_path):
  path = tmp_path / 'text.bin'
  path.write_bytes(bytes(range(256)))
  with pytest.raises(UserError, match='is not UTF-8 text'):
    inference.read_texts([], str(path))


@pytest.mark.parametrize('encoding', ['utf-16', 'utf-16-be', 'utf-8-sig', 'utf-8'])
def test_a_text_file_saved_as_unicode_on_windows_is_read(tmp_path, encoding):
  path = tmp_path / 'lines.txt'
  mark = b'\xfe\xff' if encoding == 'utf-16-be' else b''
  path.write_bytes(mark + 'Café at noon.\r\n\r\nSecond line.\r\n'.encode(encoding))
  assert inference.read_texts([], str(path)) == ['Café at noon.', 'Second line.']


# ---- where outputs go -------------------------------------------------------------------

def test_a_read_only_folder_is_refused_before_work_and_output_goes_elsewhere(tmp_path):
  workdir = _model_copy(ENHANCER, tmp_path)
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  # /proc refuses new folders even to root (CI runs as root, where chmod
  # does not make a folder read-only).
  with pytest.raises(UserError, match='Cannot write to /proc/audiodiff'):
    inference.enhance(None, workdir, [str(tmp_path / 'in.wav')], output='/proc/audiodiff')
  written = inference.enhance(None, workdir, [str(tmp_path / 'in.wav')],
                              output=str(tmp_path / 'out'))
  assert written == [str(tmp_path / 'out' / 'in.wav')]
  assert not os.path.exists(os.path.join(workdir, 'samples'))


def test_an_unwritable_output_is_refused_before_work(tmp_path):
  (tmp_path / 'file').write_text('x')
  with pytest.raises(UserError, match='Cannot write to'):
    inference.sample(None, os.path.join(ROOT, 'pretrained', 'notes'),
                     output=str(tmp_path / 'file' / 'below'))


# ---- stopping a run -----------------------------------------------------------------------

@pytest.mark.parametrize('number, name', [(signal.SIGINT, 'SIGINT'), (signal.SIGTERM, 'SIGTERM')])
def test_a_stopped_run_saves_says_so_and_resumes(tmp_path, number, name):
  workdir = tmp_path / 'run'
  args = [sys.executable, MAIN, '--config=experiments/configs/tiny.py', f'--workdir={workdir}',
          '--config.train.num_steps=400', '--config.train.log_every=1',
          '--config.train.checkpoint_every=1000', '--config.train.sample_every=1000',
          '--config.train.eval_every=1000']
  process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
  for line in process.stdout:
    if line.startswith('step 3/'):
      break
  process.send_signal(number)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 128 + number, stderr
  last = stderr.strip().splitlines()[-1]
  assert last.startswith(f'Stopped by {name} at step ') and 'Run the same command' in last
  step = int(last.split('at step ')[1].split(':')[0])
  assert os.path.isdir(workdir / 'checkpoints' / str(step))
  result = _main(*args[2:-4], f'--config.train.num_steps={step + 1}')
  assert result.returncode == 0, result.stderr
  assert f'Resumed from the checkpoint at step {step}' in result.stdout + result.stderr


def test_a_run_stopped_before_its_first_checkpoint_says_so_and_leaves_no_folder(tmp_path):
  """A second signal before the first step ends quits without a checkpoint:
  the line says there is nothing to resume, and the new work directory goes."""
  workdir = tmp_path / 'run'
  process = subprocess.Popen(
      [sys.executable, MAIN, '--config=experiments/configs/tiny.py', f'--workdir={workdir}',
       '--config.train.batch_size=256'], cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  for line in process.stdout:
    if line.startswith('Task '):
      break
  time.sleep(1)  # into the first step (its compilation alone takes seconds)
  process.send_signal(signal.SIGTERM)
  for line in process.stdout:
    if line.startswith('SIGTERM: saving a checkpoint after this step'):
      break
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 128 + signal.SIGTERM, stderr
  last = stderr.strip().splitlines()[-1]
  assert last.startswith('Stopped by SIGTERM') and 'nothing to resume' in last, stderr
  assert not workdir.exists()


# ---- long inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize('seconds', [0.5, 60, 3600])
def test_pictures_of_long_recordings_stay_small(seconds):
  """The spectrogram beside an output has ~256 columns and at most 1025 rows,
  whatever the length (a 5-minute file once drew a 16,385-row picture)."""
  from audiodiff.audio import plotting  # pylint: disable=g-import-not-at-top
  n_fft, hop_length, pool = plotting.display_resolution(int(seconds * 16000), 16000)
  assert n_fft <= 2048 and hop_length <= n_fft // 4
  columns = int(seconds * 16000) // (hop_length * pool)
  assert 200 <= columns <= 300, columns


def test_many_samples_are_made_a_batch_at_a_time(tmp_path):
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'notes')
  config = experiment.read_config(directory)
  config.sampler.batch_size = 2
  config.sampler.num_steps = 2
  model = audiodiff.load(directory, config)
  request = model.sample_request(5)
  sizes = [len(audio) for _, audio in model.run_in_batches(request, jax.random.PRNGKey(0))]
  assert sizes == [2, 2, 1]
  written = inference.sample(config, directory, num_samples=5, output=str(tmp_path / 'out'))
  assert len(written) == 5 == len(set(written))


def test_a_seed_gives_the_same_samples_in_any_batch_size():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'notes')
  samples = []
  for batch_size in (2, 5):
    config = experiment.read_config(directory)
    config.sampler.batch_size = batch_size
    config.sampler.num_steps = 2
    samples.append(audiodiff.load(directory, config).sample(5, seed=3)[0])
  np.testing.assert_allclose(samples[0], samples[1], atol=1e-4)
  assert np.abs(samples[0][0] - samples[0][1]).max() > 0.01  # each its own noise


# ---- damaged model files -----------------------------------------------------------------

@pytest.mark.parametrize('text, message', [
    ('{"train": ', 'is not readable JSON'),
    ('[1, 2]', 'holds no config'),
    ('{"train": {"num_steps": "abc"}}', 'has a field of the wrong type'),
])
def test_damaged_config_json_fails_naming_the_file(tmp_path, text, message):
  workdir = _model_copy(os.path.join(ROOT, 'pretrained', 'notes'), tmp_path)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:
    f.write(text)
  result = _main(f'--workdir={workdir}', '--mode=sample')
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert message in lines[0] and 'config.json' in lines[0]


def test_a_garbage_mel_file_fails_naming_it(tmp_path):
  path = tmp_path / 'mel.npy'
  path.write_bytes(b'not numpy at all' * 10)
  with pytest.raises(UserError, match='is not a mel array'):
    inference.vocode(None, _model_copy(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'),
                                       tmp_path), [str(path)])


def test_training_into_an_unwritable_workdir_fails_in_one_line():
  result = _main('--config=experiments/configs/tiny.py', '--workdir=/proc/audiodiff-run',
                 '--config.train.num_steps=1')
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert lines[0].startswith('error: Cannot write to /proc/audiodiff-run')


def test_a_flag_the_mode_would_ignore_is_refused():
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "notes")}', '--mode=sample',
                 '--text=hello')
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip() == ('error: --text is not used by --mode=sample (it is for '
                                   '--mode=synthesize).')


# ---- random settings and random text -----------------------------------------------------

def _leaf_paths(config, prefix=()):
  for key, value in config.items():
    if hasattr(value, 'items'):
      yield from _leaf_paths(value, prefix + (key,))
    else:
      yield prefix + (key,)


def _recipe(name):
  import importlib  # pylint: disable=g-import-not-at-top
  return importlib.import_module(f'experiments.configs.{name}').get_config()


_RECIPES = ('tiny', 'enhance_tiny', 'tts_tiny', 'quickstart')
_PATHS = sorted({path for name in _RECIPES for path in _leaf_paths(_recipe(name))})
_VALUES = st.one_of(
    st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.text(max_size=12), st.sampled_from(['', 'none', 'cosine', 'x0', 'v']),
    st.lists(st.integers(-3, 600), max_size=4).map(tuple))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipe=st.sampled_from(_RECIPES), path=st.sampled_from(_PATHS), value=_VALUES)
def test_random_config_overrides_end_in_a_build_or_a_user_error(recipe, path, value):
  """Any --config.a.b=v a user types is either taken or refused in one line:
  setting it (a type error is printed as one line by main.py) or checking
  the config and building task and model raises nothing but a UserError."""
  from audiodiff import models, tasks  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  config = _recipe(recipe)
  try:
    section = config
    for key in path[:-1]:
      section = section[key]
    section[path[-1]] = value
  except (KeyError, AttributeError, TypeError, ValueError):
    return  # an unknown field or a value of the wrong type: one line in main.py
  try:
    experiment.validate_config(config)
    task = tasks.get_task(config)
    models.get_model(config, **task.model_inputs())
  except UserError:
    pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=300))
def test_random_text_is_cut_or_refused_in_one_line(tts_model, text):
  from audiodiff.tasks import tts  # pylint: disable=g-import-not-at-top
  from audiodiff.tts import text as text_lib  # pylint: disable=g-import-not-at-top
  try:
    cleaned = text_lib.normalize(tts.strip_markup(text))
  except UserError:
    return
  if not any(c.isascii() and c.isalpha() for c in cleaned):
    with pytest.raises(UserError):
      tts_model.task.synthesize(tts_model, [text])
    return
  pieces = tts_model.task._fitting_pieces(cleaned)  # pylint: disable=protected-access
  assert all(len(ids) <= tts_model.config.tts.max_tokens for _, ids in pieces)


def test_a_config_field_twice_a_sampler_option_its_sampler_ignores_and_negative_noise(
    tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5, 8000), 8000)
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  common = (f'--workdir={notes}', '--mode=restore', f'--input={tmp_path / "in.wav"}',
            f'--output={tmp_path / "out"}')
  result = _main(*common, '--config.restore.gaps=0.1-0.12', '--config.restore.gaps=0.2-0.22',
                 '--config.restore.noise_std=-1')
  assert 'is given 2 times; the last one counts (--config.restore.gaps=0.2-0.22)' in result.stderr
  result = _main(*common, '--config.restore.gaps=0.1-0.12', '--config.restore.method=projection',
                 '--config.sampler.name=ddim', '--config.sampler.churn=0.5')
  assert result.returncode == 2 and "churn does not apply to the 'ddim'" in result.stderr
  result = _main(*common, '--config.restore.gaps=0.1-0.12', '--config.restore.method=pigdm',
                 '--config.restore.noise_std=-1')
  assert result.returncode == 2 and 'noise_std=-1.0 must be a finite number >= 0' in result.stderr
  assert not os.path.exists(tmp_path / 'out')


@pytest.mark.parametrize('name', ['config.json', 'params.msgpack'])
def test_loading_a_file_of_the_model_loads_its_folder(name):
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes', name))
  assert model.sample_rate == 8000 and model.config.task == 'generate'


def test_loading_another_file_is_named(tmp_path):
  import audiodiff  # pylint: disable=g-import-not-at-top
  wav = tmp_path / 'x.wav'
  wav.write_bytes(b'RIFF')
  with pytest.raises(UserError, match='x.wav is a file; give the folder'):
    audiodiff.load(str(wav))


def test_sampler_settings_given_to_sample_are_named():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  with pytest.raises(UserError, match='got num_steps, which this .* takes: labels'):
    model.sample(2, num_steps=4)


def test_a_tts_vocoder_that_is_another_kind_of_model_is_named():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  tts = os.path.join(ROOT, 'pretrained', 'tts_cpu')
  config = experiment.read_config(tts)
  config.tts.vocoder_workdir = ENHANCER
  with pytest.raises(UserError, match="task 'enhance', not a vocoder"):
    audiodiff.load(tts, config)


def test_a_recording_shorter_than_one_stft_window_is_refused():
  import audiodiff  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match='at least one STFT hop, 128 samples'):
    audiodiff.load(ENHANCER).enhance(np.full(1, 0.3, np.float32))


def test_vocoding_a_file_at_another_rate_says_so(tmp_path, capsys):
  import audiodiff  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'take.wav'
  audio_io.save_audio(path, _speechlike(0.5, rate=22050), 22050)
  vocoder = audiodiff.load(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'))
  mel, audio = inference._checked_vocoder_input(str(path), vocoder.task)  # pylint: disable=protected-access
  assert mel is None and len(audio) == 8000
  assert "22050 Hz, resampled to the model's 16000 Hz; the output is at that rate" in (
      capsys.readouterr().out)


# ---- the seventh probe ----------------------------------------------------------

def test_names_that_clash_once_dots_are_underscores_are_numbered():
  stems = outputs.output_stems(['c/x.y.wav', 'c/x_y.wav', 'c/x.y.flac'])
  assert len(set(stems)) == 3, stems


def test_a_users_file_in_a_sub_folder_of_an_output_folder_is_not_overwritten(tmp_path):
  (tmp_path / 'p' / 'a').mkdir(parents=True)
  (tmp_path / 'p' / 'b').mkdir()
  for folder, seed in (('a', 0), ('b', 1)):
    audio_io.save_audio(tmp_path / 'p' / folder / 'x.wav', _speechlike(0.3, seed=seed), 16000)
  inference.enhance(None, ENHANCER, [str(tmp_path / 'p' / 'a' / 'x.wav')],
                    output=str(tmp_path / 'out'))   # an audiodiff folder with a page
  (tmp_path / 'out' / 'a').mkdir()
  (tmp_path / 'out' / 'a' / 'x.wav').write_bytes(b'mine')
  with pytest.raises(UserError, match='audiodiff did not write it'):
    inference.enhance(None, ENHANCER, [str(tmp_path / 'p' / 'a' / 'x.wav'),
                                       str(tmp_path / 'p' / 'b' / 'x.wav')],
                      output=str(tmp_path / 'out'))
  assert (tmp_path / 'out' / 'a' / 'x.wav').read_bytes() == b'mine'


def test_janssen_fills_a_gap_at_the_start_of_a_recording():
  from audiodiff.restoration import baselines, operators  # pylint: disable=g-import-not-at-top
  t = np.arange(16000) / 16000
  clean = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 530 * t)).astype(
      np.float32)
  for gap in ((0.0, 0.02), (0.98, 1.0)):
    weights = operators.gap_weights(len(clean), [gap], 16000)
    filled = baselines.janssen_inpaint(clean * weights, weights)
    inside = weights <= 0
    assert np.max(np.abs(filled)) < 1   # once 1e14 at the start
    assert np.sqrt(np.mean((filled - clean)[inside] ** 2)) < 0.1


@pytest.mark.parametrize('args, message', [
    (('--output=OUT/enhanced.wav',), 'names a file'),
    (('--config.enhance.input_rms=inf',), 'training fixes it'),
    (('--config.enhance.hop_length=64',), 'training fixes it'),
])
def test_seventh_probe_enhance_flags_are_refused(tmp_path, args, message):
  audio_io.save_audio(tmp_path / 'x.wav', _speechlike(0.3), 16000)
  args = [a.replace('OUT', str(tmp_path)) for a in args]
  result = _main(f'--workdir={ENHANCER}', '--mode=enhance', f'--input={tmp_path / "x.wav"}',
                 *args)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert result.stderr.strip().startswith('error:')


def test_channels_that_cancel_are_not_called_silence(tmp_path):
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  voice = _speechlike(0.3)
  sf.write(tmp_path / 'opposite.wav', np.stack([voice, -voice], axis=1), 16000, subtype='FLOAT')
  with pytest.raises(UserError, match='cancel out'):
    inference.enhance(None, ENHANCER, [str(tmp_path / 'opposite.wav')],
                      output=str(tmp_path / 'out'))


def test_seventh_probe_api_and_setting_mistakes():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  from audiodiff.restoration import restore  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  for directory in (None, 123):
    with pytest.raises(UserError, match='model directory'):
      audiodiff.load(directory)
  enhancer = audiodiff.load(ENHANCER)
  with pytest.raises(UserError, match='takes a list'):
    list(enhancer.enhance_many(_speechlike(0.3)))
  vocoder = audiodiff.load(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'))
  for mel in (np.zeros((10, 80), complex), np.ones((10, 80), int), 'abc', [[0.1] * 80, [0.2]]):
    with pytest.raises(UserError, match='float array'):
      vocoder.vocode(mel=mel)
  config = defaults.get_config()
  config.sampler.temperature = 1e6
  with pytest.raises(UserError, match='sampler.temperature'):
    experiment.validate_config(config)
  settings = defaults.get_config().restore
  settings.cutoff_hz = 1e-9
  with pytest.raises(UserError, match='below 300 Hz'):
    restore.measure('bandwidth', np.zeros(100, np.float32), settings, 16000)


def test_seventh_probe_labels_families_symbols_and_stereo_declipping(tmp_path):
  import audiodiff  # pylint: disable=g-import-not-at-top
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from audiodiff.tts import text  # pylint: disable=g-import-not-at-top
  notes = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  audio, _ = notes.sample(2, labels=(i for i in (0, 1)))   # any iterable of ids
  assert audio.shape[0] == 2
  music = audiodiff.load(os.path.join(ROOT, 'pretrained', 'music_latent_cpu'))
  for family in ('kazoo', ['piano', 'piano']):
    with pytest.raises(UserError, match='family='):
      music.sample(1, family=family)
  assert 'less than' in text.normalize('if a < b then go')
  # Channels clipped apart: their mean is not a clipped signal.
  voice = _speechlike(0.5)
  stereo = np.stack([np.clip(voice, -0.02, 0.02), np.clip(0.8 * voice, -0.03, 0.03)], axis=1)
  sf.write(tmp_path / 'clipped.wav', stereo, 16000)
  result = _main(f'--workdir={PRIOR}', '--mode=restore', '--config.restore.task=declip',
                 f'--input={tmp_path / "clipped.wav"}', f'--output={tmp_path / "out"}')
  assert result.returncode == 2 and 'each channel' in result.stderr, result.stderr


def test_eighth_probe_music_length_and_key_from_the_command_line(tmp_path):
  music = os.path.join(ROOT, 'pretrained', 'music_latent_cpu')
  result = _main(f'--workdir={music}', '--mode=sample', '--num_samples=1',
                 '--config.latent.seconds=5', '--config.latent.key=2',
                 f'--output={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr
  wavs = [f for f in os.listdir(tmp_path / 'out') if f.endswith('.wav')]
  audio, rate = audio_io.read_audio(tmp_path / 'out' / wavs[0])
  assert abs(len(audio) / rate - 5.0) < 0.1


# ---- ninth probe -------------------------------------------------------------------

def test_ninth_probe_batch_and_microbatch_messages_name_the_right_field():
  from audiodiff.run import train  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  for batch, parts, devices, message in ((3, 1, 8, r'batch_size=3 must be a multiple of the 8 '
                                          r'device\(s\).*batch_size=8'),
                                         (12, 1, 8, 'batch_size=16'),
                                         (16, 3, 2, r'one of 1, 2, 4, 8 \(1 turns')):
    config = ml_collections.ConfigDict(dict(batch_size=batch, microbatches=parts))
    with pytest.raises(UserError, match=message):
      train.check_microbatches(config, devices)
  train.check_microbatches(ml_collections.ConfigDict(dict(batch_size=16, microbatches=2)), 8)


def test_ninth_probe_inputs_to_blame_are_named(tmp_path, capsys):
  import audiodiff  # pylint: disable=g-import-not-at-top
  # A mel louder than any speech: the input is named, not the model.
  np.save(tmp_path / 'ones.npy', np.ones((40, 80), np.float32))
  with pytest.raises(UserError, match=r'--input=.*ones.npy.*louder than any speech'):
    inference.vocode(None, os.path.join(ROOT, 'pretrained', 'vocoder_cpu'),
                     [str(tmp_path / 'ones.npy')], output=str(tmp_path / 'voc'))
  # Keyword arguments a method does not take: one UserError, with the rate.
  enhancer = audiodiff.load(ENHANCER)
  with pytest.raises(UserError, match=r'sample_rate.*model.sample_rate = 16000 Hz'):
    enhancer.enhance(_speechlike(0.3), sample_rate=8000)
  # Samples clipped at full scale before writing are said.
  audio = np.zeros(100, np.float32)
  audio[10:13] = 1.0
  outputs.check_output(audio, 'x', clipped_by=' by the sampler')
  assert 'x: 3 sample(s) at full scale (1.0), clipped there by the sampler' in (
      capsys.readouterr().out)
  # A byte-order mark is not text.
  (tmp_path / 'bom.txt').write_bytes('\ufeffHello there.\n'.encode('utf-8'))
  assert inference.read_texts([], str(tmp_path / 'bom.txt')) == ['Hello there.']
  # Random bytes named .wav: not "does not exist".
  (tmp_path / 'noise.wav').write_bytes(np.random.default_rng(0).bytes(5000))
  with pytest.raises(audio_io.AudioFileError) as error:
    audio_io.read_audio(tmp_path / 'noise.wav')
  assert 'does not exist' not in str(error.value)


def test_ninth_probe_a_reference_at_a_lower_rate_is_refused_and_json_has_no_nan(tmp_path):
  voice = _speechlike(1.0)
  audio_io.save_audio(tmp_path / 'in.wav', voice, 16000)
  audio_io.save_audio(tmp_path / 'ref8k.wav', audio_io.resample(voice, 16000, 8000), 8000)
  audio_io.save_audio(tmp_path / 'ref.wav', voice, 16000)
  common = (f'--workdir={PRIOR}', '--mode=restore', '--config.restore.task=bandwidth',
            '--config.restore.cutoff_hz=4000', '--config.restore.method=baseline',
            f'--input={tmp_path / "in.wav"}')
  result = _main(*common, f'--reference={tmp_path / "ref8k.wav"}', f'--output={tmp_path / "a"}')
  assert result.returncode == 2 and 'below --input' in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / 'a')
  result = _main(*common, f'--reference={tmp_path / "ref.wav"}', f'--output={tmp_path / "b"}')
  assert result.returncode == 0, result.stderr
  text = (tmp_path / 'b' / 'in.json').read_text()
  assert 'NaN' not in text and 'silent_high_band_excess_db' in text


# ---- tenth probe -------------------------------------------------------------------

@pytest.mark.parametrize('field,value', [('taper_ms', float('inf')), ('taper_ms', 1e6),
                                         ('data_std', float('nan')), ('data_std', -1.0),
                                         ('guidance', float('inf')),
                                         ('quiet_gate_db', float('inf')),
                                         ('start_order', -1), ('start_order', 4096),
                                         ('low_band_hz', float('inf')), ('center_gain', 1.5),
                                         ('envelope_hz', -1.0)])
def test_tenth_probe_restore_settings_out_of_range_are_refused(field, value):
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  config = defaults.get_config()
  config.restore[field] = value
  with pytest.raises(UserError, match=f'config.restore.{field}=.*finite|config.restore.{field}='
                                      r'.*in \[0, (50|2048|1)\]'):
    experiment.validate_config(config)


@pytest.mark.parametrize('field,value', [('intersperse_blank', False), ('mel_scale', 5.0)])
def test_tenth_probe_a_tts_models_trained_text_settings_cannot_change(field, value):
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'tts_cpu')
  config = experiment.read_config(directory)
  config.unlock()
  config.tts[field] = value
  with pytest.raises(UserError, match=f'config.tts.{field}=.*training fixes it'):
    audiodiff.load(directory, config)


def test_tenth_probe_restore_says_what_applies_before_refusing(tmp_path):
  voice = _speechlike(1.0)
  audio_io.save_audio(tmp_path / 'x.wav', voice, 16000)
  result = _main(f'--workdir={PRIOR}', '--mode=restore', f'--input={tmp_path / "x.wav"}',
                 '--config.restore.method=dps', '--config.sampler.num_steps=4',
                 '--config.restore.gaps=5.0-5.1', f'--output={tmp_path / "a"}')
  assert result.returncode == 2 and 'ends beyond the input' in result.stderr, result.stderr
  assert 'gradient-guided methods need about 10 steps' in result.stdout
  stereo = np.stack([np.clip(voice, -0.02, 0.02), np.clip(0.8 * voice, -0.03, 0.03)], axis=1)
  sf.write(tmp_path / 'stereo.wav', stereo, 16000)
  result = _main(f'--workdir={PRIOR}', '--mode=restore', '--config.restore.task=declip',
                 f'--input={tmp_path / "stereo.wav"}', f'--output={tmp_path / "b"}')
  assert result.returncode == 2 and 'each channel' in result.stderr
  assert 'as their mean' not in result.stdout   # no line the refusal contradicts


# ---- eleventh probe ----------------------------------------------------------------

def test_eleventh_probe_recipes_init_from_and_outputs_of_other_runs(tmp_path):
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import warm_start  # pylint: disable=g-import-not-at-top
  # A recipe whose fixed setting differs from the model's: the fix names --config too.
  with pytest.raises(UserError, match=r"training fixes it: drop --config\.\S+, or, where the "
                                      r"--config recipe sets it, drop --config"):
    audiodiff.load(ENHANCER, _recipe('enhance_cpu'))
  # init_from a folder that never trained: the field is named.
  with pytest.raises(UserError, match=r'config.train.init_from=.* has no config.json'):
    warm_start.warm_start(None, str(tmp_path))
  # A sample in --output is not replaced by another mode's output of that name.
  (tmp_path / 'out').mkdir()
  audio_io.save_audio(tmp_path / 'out' / 'x.wav', _speechlike(0.2), 16000)
  with pytest.raises(UserError, match='made from no input file'):
    outputs.check_sources(str(tmp_path / 'out'), ['x'], [str(tmp_path / 'x.wav')])


def test_eleventh_probe_training_samples_above_full_scale_are_scaled_not_clipped(tmp_path):
  result = _main(f'--config={os.path.join(ROOT, "experiments", "configs", "tiny.py")}',
                 f'--workdir={tmp_path / "run"}')
  assert result.returncode == 0, result.stderr
  wavs = list((tmp_path / 'run' / 'samples').glob('step_*/*.wav'))
  assert wavs
  for wav in wavs:
    audio, _ = sf.read(wav, dtype='float32')
    assert np.mean(np.abs(audio) >= 0.9999) < 0.01, wav   # an untrained model's noise, scaled


# ---- twelfth probe -----------------------------------------------------------------

def test_twelfth_probe_sampling_resumes_and_another_runs_samples_are_kept(tmp_path):
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  out = tmp_path / 's'
  assert _main(f'--workdir={notes}', '--mode=sample', '--num_samples=2',
               f'--output={out}').returncode == 0
  (out / 'index.html').unlink()   # as a run stopped before its page leaves the folder
  result = _main(f'--workdir={notes}', '--mode=sample', '--num_samples=3', f'--output={out}')
  assert result.returncode == 0, result.stderr   # the same settings: resumed
  before = (out / 'sample_000_class0_organ.wav').read_bytes()
  result = _main(f'--workdir={notes}', '--mode=sample', '--num_samples=2', '--config.seed=5',
                 f'--output={out}')
  assert result.returncode == 2 and 'an earlier run' in result.stderr
  assert (out / 'sample_000_class0_organ.wav').read_bytes() == before
  (tmp_path / 'samples').mkdir()
  (tmp_path / 'samples' / 'index.html').write_text('<html></html>')
  with pytest.raises(UserError, match='--name=index.html: .* is a file'):
    inference._output_dir(str(tmp_path), 'index.html', 'x')  # pylint: disable=protected-access


def test_twelfth_probe_an_interrupted_export_leaves_nothing(tmp_path, monkeypatch):
  from audiodiff.run import api  # pylint: disable=g-import-not-at-top

  def stopped(trained, directory, precision):
    del trained, precision
    os.makedirs(directory)
    (open(os.path.join(directory, 'config.json'), 'w')).close()
    raise KeyboardInterrupt

  monkeypatch.setattr(api, 'export', stopped)
  with pytest.raises(KeyboardInterrupt):
    inference.export(None, os.path.join(ROOT, 'pretrained', 'notes'), str(tmp_path / 'x'))
  assert not os.listdir(tmp_path)


# ---- thirteenth probe --------------------------------------------------------------

def test_thirteenth_probe_inputs_and_outputs_with_the_longest_legal_names(tmp_path):
  name = 'L' * 246 + '.wav'   # 250 bytes: the file system allows 255
  t = np.arange(16000) / 16000
  sf.write(tmp_path / name, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
  out = tmp_path / 'out'
  (path,) = inference.enhance(None, ENHANCER, [str(tmp_path / name)], output=str(out))
  assert os.path.basename(path) == name and sorted(os.listdir(out))[-1] == 'index.html'
  exported = tmp_path / ('E' * 250)
  inference.export(None, os.path.join(ROOT, 'pretrained', 'notes'), str(exported))
  assert (exported / 'params.msgpack').exists() and len(os.listdir(tmp_path)) == 3


def test_thirteenth_probe_another_models_or_settings_outputs_are_kept(tmp_path):
  t = np.arange(16000) / 16000
  sf.write(tmp_path / 'one.wav', 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
  out = str(tmp_path / 'out')
  (path,) = inference.enhance(None, ENHANCER, [str(tmp_path / 'one.wav')], output=out)
  before = open(path, 'rb').read()
  # As a killed run leaves it: no page, a temporary file. The same command resumes.
  os.remove(os.path.join(out, 'index.html'))
  open(os.path.join(out, '.partial-1-0123456789ab'), 'wb').close()
  inference.enhance(None, ENHANCER, [str(tmp_path / 'one.wav')], output=out)
  changed = inference.api.load(ENHANCER).config
  changed.enhance.shifts = 1
  with pytest.raises(UserError, match=r'enhancing with .*, and .* would replace it'):
    inference.enhance(changed, ENHANCER, [str(tmp_path / 'one.wav')], output=out)
  with pytest.raises(UserError, match='an earlier run'):
    inference.vocode(None, os.path.join(ROOT, 'pretrained', 'vocoder_cpu'),
                     [str(tmp_path / 'one.wav')], output=out)
  assert open(path, 'rb').read() == before


@pytest.mark.parametrize('args, message', [
    (('--config.sampler.num_steps=10000000000',), r'num_steps=10000000000 must be in \[1, 1,000,000\]'),
    (('--config.sampler.num_steps=99999999999999999999999',), 'must be in'),
    (('--num_samples=1000000000000',), r'in \[1, 1,000,000\]'),
])
def test_thirteenth_probe_huge_step_and_sample_counts_are_refused(tmp_path, args, message):
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "notes")}', '--mode=sample',
                 '--config.sampler.name=dpm_solver', *args, f'--output={tmp_path / "s"}')
  assert result.returncode == 2 and re.search(message, result.stderr), result.stderr
  assert not (tmp_path / 's').exists()


def test_thirteenth_probe_a_finite_input_beyond_float32_is_called_loud_not_nan():
  loud = np.sin(np.arange(16000) / 10.0) * 1e39
  with pytest.raises(UserError, match='peaks at 1e\\+39'):
    audio_io.checked_signal(loud, 'The input')


# ---- fourteenth probe --------------------------------------------------------------

def test_fourteenth_probe_eval_results_of_another_model_or_the_user_are_kept(tmp_path):
  check = inference._check_earlier_eval  # pylint: disable=protected-access
  path = tmp_path / 'step_2.json'
  check(str(path), 'evaluating A', ours=False)   # nothing there yet
  path.write_text('{"step": 2, "made_by": "evaluating A", "eval_loss": 1.0}')
  check(str(path), 'evaluating A', ours=False)   # the same model and settings: replaced
  with pytest.raises(UserError, match='results of evaluating A; evaluating would replace'):
    check(str(path), 'evaluating B', ours=False)
  path.write_text('{"step": 2, "eval_loss": 1.0}')   # older audiodiff, the run's own folder
  check(str(path), 'evaluating B', ours=True)
  with pytest.raises(UserError, match='another run'):
    check(str(path), 'evaluating B', ours=False)
  path.write_text('{"my": "own results"}')
  with pytest.raises(UserError, match='audiodiff did not write it'):
    check(str(path), 'evaluating B', ours=True)
  assert inference._nan_to_none({'a': float('nan'), 'b': [1.0, float('inf')], 'c': 'x'}) == {  # pylint: disable=protected-access
      'a': None, 'b': [1.0, None], 'c': 'x'}


def test_fourteenth_probe_load_reads_a_home_path_and_names_an_empty_one(tmp_path, monkeypatch):
  import audiodiff  # pylint: disable=g-import-not-at-top
  shutil.copytree(os.path.join(ROOT, 'pretrained', 'notes'), tmp_path / 'm')
  monkeypatch.setenv('HOME', str(tmp_path))
  assert audiodiff.load('~/m').step == audiodiff.load(str(tmp_path / 'm')).step
  with pytest.raises(UserError, match='got an empty name'):
    audiodiff.load('')


def test_fourteenth_probe_an_output_folder_locked_mid_run_ends_in_one_line(tmp_path):
  code = ('import errno, sys\n'
          'from absl import app\n'
          'from experiments import main\n'
          'from audiodiff.run import inference\n'
          'def locked(*args, **kwargs):\n'
          "  raise PermissionError(errno.EPERM, 'Operation not permitted', '/o/f1.png')\n"
          'inference.enhance = locked\n'
          "sys.argv = ['main.py', '--workdir=pretrained/enhance_cpu', '--mode=enhance', "
          "'--input=x.wav']\n"
          'app.run(main.main)\n')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: Cannot write /o/f1.png (Operation not permitted): its folder was removed')


# ---- fifteenth probe ---------------------------------------------------------------

class _TaskWithAVocoder:
  """What load_frozen_runs reads of a task: its settings and frozen runs."""
  name = 'tts'

  def __init__(self, value):
    import ml_collections  # pylint: disable=g-import-not-at-top
    self.settings = ml_collections.ConfigDict({'vocoder_workdir': value})

  def frozen_runs(self):
    from audiodiff.tasks import base  # pylint: disable=g-import-not-at-top
    return {'vocoder': base.FrozenRun('vocoder_workdir', 'Train one first.')}


def test_fifteenth_probe_a_sub_model_path_does_not_depend_on_the_current_folder(
    tmp_path, monkeypatch, capsys):
  from audiodiff.run import api  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(ROOT)
  task = _TaskWithAVocoder('pretrained/vocoder_cpu')
  assert set(api.load_frozen_runs(task, str(tmp_path))) == {'vocoder'}
  assert "vocoder_workdir='pretrained/vocoder_cpu' read from the current folder" in (
      capsys.readouterr().out)
  # Kept as a full path: config.json (and the outputs' record) name this one.
  assert task.settings.vocoder_workdir == os.path.join(ROOT, 'pretrained', 'vocoder_cpu')
  monkeypatch.chdir(tmp_path)
  with pytest.raises(UserError, match=r'read from the current folder .* give the full path'):
    api.load_frozen_runs(_TaskWithAVocoder('pretrained/vocoder_cpu'), str(tmp_path / 'run'))


def test_fifteenth_probe_eval_into_another_models_folder_is_refused(tmp_path):
  other = tmp_path / 'other'
  shutil.copytree(os.path.join(ROOT, 'pretrained', 'notes'), other)
  with pytest.raises(UserError, match='is another model\'s folder'):
    inference.evaluate(None, os.path.join(ROOT, 'pretrained', 'notes'), output=str(other))
  assert not (other / 'eval').exists()


# ---- sixteenth probe ---------------------------------------------------------------

def test_sixteenth_probe_a_config_path_from_another_folder_names_the_configs(tmp_path):
  result = subprocess.run([sys.executable, MAIN, '--config=experiments/configs/tiny.py',
                           f'--workdir={tmp_path / "w"}'], capture_output=True, text=True,
                          cwd=tmp_path, check=False)
  assert result.returncode == 2, result.stderr
  assert f'(read from the current folder, {tmp_path})' in result.stderr
  assert os.path.join(ROOT, 'experiments', 'configs') in result.stderr


def test_sixteenth_probe_training_resumes_past_a_damaged_latest_checkpoint(tmp_path):
  from test_train import run_main  # pylint: disable=g-import-not-at-top
  run_main(tmp_path, '--config.train.num_steps=2', '--config.train.checkpoint_every=1',
           '--config.train.eval_every=100', '--config.train.sample_every=100')
  shutil.rmtree(tmp_path / 'checkpoints' / '2' / 'state')
  result = run_main(tmp_path, '--config.train.num_steps=3', '--config.train.checkpoint_every=1',
                    '--config.train.eval_every=100', '--config.train.sample_every=100')
  assert 'Resumed from the checkpoint at step 1' in result.stdout
  assert (tmp_path / 'checkpoints_damaged' / '2').is_dir()   # kept, out of the way
  assert {'2', '3'} <= set(os.listdir(tmp_path / 'checkpoints'))


def test_seventeenth_probe_a_file_where_damaged_checkpoints_go_is_named(tmp_path):
  from audiodiff.run import checkpoint  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  checkpointer = checkpoint.Checkpointer(str(tmp_path / 'checkpoints'), keep=3)
  checkpointer.save(1, {'w': jnp.ones((3,))})
  checkpointer.wait()
  (tmp_path / 'checkpoints_damaged').write_text('mine')
  with pytest.raises(UserError, match='checkpoints_damaged is a file'):
    checkpointer._move_aside([1])  # pylint: disable=protected-access
  assert (tmp_path / 'checkpoints' / '1').is_dir()
  assert (tmp_path / 'checkpoints_damaged').read_text() == 'mine'
  checkpointer.close()


def test_seventeenth_probe_output_beyond_full_scale_names_the_sampler_too():
  with pytest.raises(UserError, match=r'sampler settings may not suit the model'):
    outputs.check_output(np.full(100, 7.0), 'sample_000')


def test_eighteenth_probe_an_unknown_tfds_name_is_one_line():
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  from audiodiff.data import pipeline  # pylint: disable=g-import-not-at-top
  config = defaults.get_config()
  config.data.name = 'tfds:nosuchset'
  with pytest.raises(UserError, match="TFDS has no dataset 'nosuchset'"):
    pipeline.get_builder(config)


def test_eighteenth_probe_metadata_files_of_the_wrong_shape_are_named(tmp_path):
  from audiodiff.run import model_card  # pylint: disable=g-import-not-at-top
  shutil.copytree(os.path.join(ROOT, 'pretrained', 'notes'), tmp_path / 'm')
  (tmp_path / 'm' / 'export.json').write_text('[1, 2]')
  with pytest.raises(UserError, match=r'export.json holds a JSON list, not an object'):
    model_card.info(str(tmp_path / 'm'))
  (tmp_path / 'w').mkdir()
  (tmp_path / 'w' / 'run_info.json').write_text('{"wall_seconds": 5}')
  with pytest.raises(UserError, match=r"run_info.json lacks 'machines', 'commands'"):
    model_card.TrainingClock(str(tmp_path / 'w'))


def test_a_card_json_cannot_set_what_the_checkpoint_says(tmp_path):
  from audiodiff.run import model_card  # pylint: disable=g-import-not-at-top
  (tmp_path / 'card.json').write_text('{"step": 99, "benchmarks": {"x": 1}}')
  with pytest.raises(UserError, match=r"card.json sets 'step', which the card takes from"):
    model_card._user_card(str(tmp_path / 'card.json'))  # pylint: disable=protected-access
  (tmp_path / 'card.json').write_text('{"metrics": {"pesq": 2.0}, "benchmarks": {"x": 1}}')
  assert model_card._user_card(str(tmp_path / 'card.json'))['metrics'] == {'pesq': 2.0}  # pylint: disable=protected-access


# ---- nineteenth probe ------------------------------------------------------------------


def test_nineteenth_probe_out_of_memory_names_the_batch_and_a_fresh_run_leaves_nothing(tmp_path):
  workdir = tmp_path / 'w'
  code = ('import os, sys\n'
          'from absl import app\n'
          'from experiments import main\n'
          'from audiodiff.run import train\n'
          'def oom(config, workdir):\n'
          "  os.makedirs(os.path.join(workdir, 'checkpoints'))\n"
          "  open(os.path.join(workdir, 'config.json'), 'w').write('{}')\n"
          "  raise RuntimeError('RESOURCE_EXHAUSTED: Out of memory allocating 65557249144 bytes.')\n"
          'train.train_and_evaluate = oom\n'
          "sys.argv = ['main.py', '--config=experiments/configs/tiny.py', "
          f"'--workdir={workdir}', '--config.train.batch_size=100000']\n"
          'app.run(main.main)\n')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=ROOT, check=False)
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines()[-1] == (
      'error: Out of memory (Out of memory allocating 65557249144 bytes.): '
      'config.train.batch_size=100000 does not fit; lower it, or keep it and split each step '
      'with --config.train.microbatches=N (a resumed run goes on from its last checkpoint).')
  assert not workdir.exists()   # made by this run, nothing in it to resume


@pytest.mark.parametrize('flag', ['--output=', '--workdir=', '--input='])
def test_nineteenth_probe_an_empty_path_flag_is_refused(flag):
  args = ['--mode=enhance', '--input=x.wav'] if flag != '--input=' else ['--mode=enhance']
  args = [a for a in ['--workdir=pretrained/enhance_cpu'] + args
          if not (flag == '--workdir=' and a.startswith('--workdir'))]
  result = _main(*args, flag)
  assert result.returncode == 2
  assert 'is given an empty value (an unset shell variable?)' in result.stderr.splitlines()[-1]


def test_nineteenth_probe_minor_messages(tmp_path, capsys):
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  assert not hasattr(model, 'vocode')
  with pytest.raises(UserError, match=r"a 'generate' model: it has no vocode\(\)"):
    model.vocode(audio=np.zeros(100))
  with pytest.raises(UserError, match=r'the audio is empty \(0 samples\)'):
    audio_io.checked_signal(np.zeros(0))
  assert inference._count(1, 'sample') == '1 sample'  # pylint: disable=protected-access
  assert inference._count(3, 'sample') == '3 samples'  # pylint: disable=protected-access
  tone = tmp_path / 'a.wav'
  sf.write(tone, _speechlike(1.0), 16000)
  os.symlink(tone, tmp_path / 'link.wav')
  capsys.readouterr()
  assert inference._distinct([str(tone), str(tmp_path / 'link.wav')]) == [0]  # pylint: disable=protected-access
  assert 'link.wav: the same file as' in capsys.readouterr().out


def test_twentieth_probe_api_requests_and_keys_are_checked():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  request = model.sample_request(2)
  seeded = model.run(request, 1)   # a seed is taken as PRNGKey(seed), a typed key as its data
  assert np.array_equal(seeded, model.run(request, jax.random.PRNGKey(1)))
  assert np.array_equal(seeded, model.run(request, jax.random.key(1)))
  for call, message in (
      (lambda: model.run(request, None), r'rng: give one jax.random.PRNGKey'),
      (lambda: model.run(request, jax.random.split(jax.random.PRNGKey(0), 3)),
       r'got .* of shape \(3, 2\)'),
      (lambda: list(model.run_in_batches('abc', 0)), r'request=str: pass what sample_request'),
      (lambda: model.generate(request, 0, hooks_of=5), r'hooks_of=5 must be a function'),
      (lambda: model.run(request, 0, -1), r'first=-1: give a whole number >= 0'),
      (lambda: model.run(request, -3), r'seed=-3')):
    with pytest.raises(UserError, match=message):
      call()


def test_twentieth_probe_a_restore_setting_of_another_task_is_named():
  from audiodiff.restoration import restore as restoration  # pylint: disable=g-import-not-at-top
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  settings = defaults.get_config().restore
  settings.task, settings.gaps = 'bandwidth', '0.5-0.55'
  with pytest.raises(UserError, match=r"config.restore.gaps='0.5-0.55' is for task='inpaint', "
                                      r"but config.restore.task='bandwidth' would ignore it"):
    restoration.check_task_settings(settings)
  settings.task = 'Inpaint'
  with pytest.raises(UserError, match=r"^config.restore.task='Inpaint' must be one of"):
    restoration.check_task_settings(settings)
  settings.task = 'inpaint'
  restoration.check_task_settings(settings)


@pytest.mark.parametrize('script, flag, message', [
    ('enhance_quality.py', '--model=pretrained/notes', "is a 'generate' model, not an enhancer"),
    ('vocoder_quality.py', '--model=pretrained/enhance_cpu', "is a 'enhance' model, not a vocoder"),
    ('tts_intelligibility.py', '--model=/nonexistent', 'config.json does not exist'),
    ('music_quality.py', '--model=pretrained/notes', "trained on 'synthetic_notes', not the midi"),
    ('restore_quality.py', '--prior=pretrained/enhance_cpu', 'not an audio prior'),
    ('restore_quality.py', '--methods=bogus', '--methods: bogus unknown'),
    ('enhance_quality.py', '--snrs=abc', "--snrs: 'abc' is not a number"),
    ('sampler_accuracy.py', '--calls=abc', '--calls=abc: give whole numbers'),
    ('long_input_memory.py', '--modes=bogus', '--modes: bogus unknown'),
    ('enhance_quality.py', '--test_utterances=-3', 'test_utterances=-3 must be >= 1'),
    ('music_quality.py', '--part_guidance=key=x', 'give part=scale pairs'),
    ('music_quality.py', '--part_guidance=mood=2', "'mood' is not a part"),
    ('music_quality.py', '--classifier_seeds=0,x', '--classifier_seeds=0,x: give whole numbers'),
    # The twenty-third probe: every benchmark flag checked before any work.
    ('restore_quality.py', '--first=-5', '--first=-5: -5 is not a non-negative integer'),
    ('restore_quality.py', '--voice=nobody', "has no voice 'nobody'"),
    ('restore_quality.py', '--families=bogus', '--families takes some of synthetic,recorded'),
    ('vocoder_quality.py', '--curve', '--curve scores the checkpoints of a training run'),
    ('vocoder_quality.py', '--sampler_steps=abc', '--sampler_steps takes whole numbers'),
    ('long_input_memory.py', '--seconds=-5', '--seconds takes file lengths in seconds > 0'),
    ('long_input_memory.py', '--rates=0', '--rates takes sample rates'),
    ('sampler_accuracy.py', '--draws=0', '--draws=0: 0 is not a positive integer'),
    ('sampler_accuracy.py', '--only=bogus', '--only: bogus unknown'),
    ('sampler_accuracy.py', '--trained_vocoder=pretrained/notes', 'not a vocoder'),
    ('autoencoder_quality.py', '--max_clips=0', '--max_clips=0: 0 is not a positive integer'),
    ('diffwave_speed.py', '--microbatches=3', 'config.train.microbatches=3 must divide'),
    ('music_quality.py', '--part_guidance=key=nan', 'with finite scales > 0'),
])
def test_twenty_first_probe_benchmarks_name_a_wrong_setting_in_one_line(script, flag, message):
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', script), flag],
                          capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1].startswith('error: ')
  assert message in result.stderr and not result.stdout


def test_twenty_second_probe_unconditional_samples_are_not_named_by_class():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  directory = os.path.join(ROOT, 'pretrained', 'notes')
  assert audiodiff.load(directory).sample_request(2).names[1].startswith('sample_001_class1')
  config = experiment.read_config(directory)
  config.sampler.guidance_scale = 0.0
  assert audiodiff.load(directory, config).sample_request(2).names == [
      'sample_000_unconditional', 'sample_001_unconditional']


def test_twenty_third_probe_leftover_labels_on_the_command_line(tmp_path):
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  fast = ['--config.sampler.num_steps=2', '--config.sampler.name=ddim']
  result = _main(f'--workdir={notes}', '--mode=sample', '--labels=organ,reed',
                 f'--output={tmp_path / "two"}', *fast)
  assert result.returncode == 0, result.stderr[-2000:]
  assert sorted(glob.glob('*.wav', root_dir=tmp_path / 'two')) == [
      'sample_000_class0_organ.wav', 'sample_001_class3_reed.wav']
  result = _main(f'--workdir={notes}', '--mode=sample', '--labels=2', '--num_samples=3',
                 f'--output={tmp_path / "three"}', *fast)
  assert result.returncode == 0, result.stderr[-2000:]
  assert len(glob.glob('*_class2_electric_piano.wav', root_dir=tmp_path / 'three')) == 3
  for flags, message in (
      (['--labels=kazoo'], "labels ['kazoo'] are not class names"),
      ([f'--workdir={os.path.join(ROOT, "pretrained", "enhance_cpu")}', '--labels=1'],
       "is a 'enhance' model, which samples no classes")):
    workdir = [] if any(f.startswith('--workdir') for f in flags) else [f'--workdir={notes}']
    result = _main(*workdir, '--mode=sample', *flags, f'--output={tmp_path / "bad"}')
    assert result.returncode == 2 and message in result.stderr.splitlines()[-1], result.stderr
    assert not os.path.exists(tmp_path / 'bad')


def test_twenty_fourth_probe_labels_mixed_one_for_all_and_not_with_the_unconditional_pass():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  model = audiodiff.load(notes)
  assert [n[18:] for n in model.sample_request(3, labels=['organ', 1, 'reed']).names] == [
      'organ', 'plucked_string', 'reed']
  assert model.sample_request(2, labels='reed').names == ['sample_000_class3_reed',
                                                         'sample_001_class3_reed']
  with pytest.raises(UserError, match=r"labels \['Organ'\] are not class names"):
    model.sample_request(3, labels=['organ', 1, 'Organ'])
  config = experiment.read_config(notes)
  config.sampler.guidance_scale = 0.0
  with pytest.raises(UserError, match='guidance_scale=0 samples the unconditional pass alone'):
    audiodiff.load(notes, config).sample_request(2, labels=['reed', 'reed'])


def test_twenty_fourth_probe_music_guidance_needs_what_it_guides():
  import audiodiff  # pylint: disable=g-import-not-at-top
  from audiodiff.run import experiment  # pylint: disable=g-import-not-at-top
  music = os.path.join(ROOT, 'pretrained', 'music_latent_cpu')
  model = audiodiff.load(music)
  with pytest.raises(UserError, match='guidance.key=3 guides towards the key asked for, but '
                                      'none was asked for'):
    model.sample_request(2, guidance={'key': 3})
  assert model.sample_request(2, key=['D', None], guidance={'key': 3}).uncond.others
  assert model.task.latent_shape(1, np.float32(1.0)) == model.task.latent_shape(1, 1.0)
  assert model.task.latent_shape(1, np.int64(1)) == model.task.latent_shape(1, 1)
  # Latents that are not finite decode to NaN (which no mode writes), not to silence.
  latents = np.zeros((2,) + model.task.latent_shape(1)[1:], np.float32)
  latents[1, 3, 0] = np.nan
  audio = np.asarray(model.task.decode(latents))
  assert np.all(np.isfinite(audio[0])) and np.all(np.isnan(audio[1]))
  config = experiment.read_config(music)
  config.sampler.guidance_scale = 0.0
  unconditional = audiodiff.load(music, config)
  with pytest.raises(UserError, match="key='D': config.sampler.guidance_scale=0"):
    unconditional.sample_request(1, key='D')
  with pytest.raises(UserError, match='guides parts of a conditioning, but '
                                      'config.sampler.guidance_scale=0'):
    unconditional.sample_request(1, guidance={'family': 2})


def test_twenty_fourth_probe_info_step_of_an_export_and_a_config_file_typo(tmp_path):
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "notes")}', '--mode=info',
                 '--checkpoint_step=4')
  assert result.returncode == 2 and 'drop --checkpoint_step' in result.stderr, result.stderr
  tiny = open(os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')).read()
  config_file = tmp_path / 'my_tiny.py'
  config_file.write_text(tiny.replace('  return config', '  config.train.nmu_steps = 3\n'
                                      '  return config'))
  result = _main(f'--config={config_file}', f'--workdir={tmp_path / "run"}')
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().endswith('sets config.train.nmu_steps, which is no config field '
                                        '(did you mean config.train.num_steps?).')
  assert not os.path.exists(tmp_path / 'run')


@pytest.mark.parametrize('edit, message', [
    ("  del config['sampler']", 'removes section config.sampler'),
    ("  del config.train['warmup_steps']", 'removes config.train.warmup_steps'),
    ("  config.train.num_steps = '3'", 'line 38 (`config.train.num_steps = \'3\'`): the field '
                                       'num_steps holds a whole number, not a string'),
    ('  config.train.warmup_steps = None', 'sets config.train.warmup_steps=None, a NoneType'),
    ("  config = dict(task='generate')", 'get_config() returns a dict'),
])
def test_twenty_fifth_probe_a_config_file_of_ones_own_is_checked(tmp_path, edit, message):
  tiny = open(os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')).read()
  assert tiny.splitlines()[37] == '  return config'
  config_file = tmp_path / 'mine.py'
  config_file.write_text(tiny.replace('  return config', edit + '\n  return config'))
  result = _main(f'--config={config_file}', f'--workdir={tmp_path / "run"}')
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(f'error: --config={config_file}')
  assert message in result.stderr and not os.path.exists(tmp_path / 'run')


def test_twenty_fifth_probe_config_files_with_an_argument_or_a_sibling(tmp_path):
  shutil.copy(os.path.join(ROOT, 'experiments', 'configs', 'tiny.py'), tmp_path / 'tiny.py')
  (tmp_path / 'mine.py').write_text(
      'import tiny\n\n\ndef get_config(steps):\n  config = tiny.get_config()\n'
      '  config.train.num_steps = int(steps)\n  return config\n')
  result = _main(f'--config={tmp_path / "mine.py"}', f'--workdir={tmp_path / "run"}')
  assert result.returncode == 2 and 'takes an argument; give it as --config=' in result.stderr
  result = _main(f'--config={tmp_path / "mine.py"}:1', f'--workdir={tmp_path / "run"}',
                 '--config.train.sample_every=1000')
  assert result.returncode == 0, result.stderr[-2000:]
  assert json.load(open(tmp_path / 'run' / 'config.json'))['train']['num_steps'] == 1
  # The file runs once (its side effects too).
  (tmp_path / 'loud.py').write_text('import tiny\n\n\ndef get_config():\n'
                                    '  print("GET_CONFIG RAN")\n  return tiny.get_config()\n')
  result = _main(f'--config={tmp_path / "loud.py"}', f'--workdir={tmp_path / "r2"}',
                 '--mode=check')
  assert result.returncode == 0 and result.stdout.count('GET_CONFIG RAN') == 1, result.stderr
  assert not os.path.exists(tmp_path / 'r2')


def test_twenty_sixth_probe_check_mode_and_launch_local_onto_a_file(tmp_path):
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  for flags, message in ((('--config.train.init_from=/nonexistent-run',), 'is not a directory'),
                         (('--config.model.name=unet1d', '--config.model.unet1d.channels=(8, -16)'),
                          'each a whole number >= 1')):
    result = _main(f'--config={tiny}', f'--workdir={tmp_path / "run"}', '--mode=check', *flags)
    assert result.returncode == 2 and message in result.stderr, result.stderr
  (tmp_path / 'afile').write_text('mine')
  result = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'local', '1', tiny,
                           str(tmp_path / 'afile')], capture_output=True, text=True, check=False)
  assert result.returncode == 2 and 'is a file' in result.stderr
  assert (tmp_path / 'afile').read_text() == 'mine'


def test_twenty_fifth_probe_launch_local_appends_to_the_callers_log(tmp_path):
  log = tmp_path / 'app.log'
  log.write_text('earlier line\n')
  launch = os.path.join(ROOT, 'launch.sh')
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  result = subprocess.run(f'{launch} local 1 {tiny} {tmp_path / "run"} '
                          '--config.train.num_steps=1 --config.train.sample_every=1000 '
                          f'>> {log} 2>&1', shell=True, cwd=ROOT, check=False, timeout=300)
  assert result.returncode == 0, log.read_text()[-2000:]
  text = log.read_text()
  assert text.startswith('earlier line\n') and 'step 1' in text


def test_twenty_fifth_probe_a_config_field_given_as_a_flag_is_pointed_to():
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "notes")}', '--mode=sample',
                 '--num_steps=5')
  assert result.returncode == 2
  assert result.stderr.strip().endswith('(config fields: --config.diffusion.num_steps, '
                                        '--config.sampler.num_steps, --config.train.num_steps)')


@pytest.mark.parametrize('flag, message', [
    ('--config.model.unet1d.channels=(8.5,16)', 'error: --config.model.unet1d.channels=(8.5, 16)'),
    ('--config.train.batch_size=1000000000000', 'batch_size=1000000000000 must be in [1, '),
    ("--config.diffusion.betas=('a','b')", 'must be numbers in (0, 1)'),
])
def test_twenty_seventh_probe_check_mode_names_the_flag_or_field(tmp_path, flag, message):
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  result = _main(f'--config={tiny}', f'--workdir={tmp_path / "run"}', '--mode=check', flag)
  assert result.returncode == 2 and message in result.stderr.splitlines()[-1], result.stderr


def test_twenty_seventh_probe_a_frozen_config_is_named(tmp_path):
  (tmp_path / 'frozen.py').write_text(
      'import ml_collections\nfrom experiments.configs import tiny\n\n\ndef get_config():\n'
      '  return ml_collections.FrozenConfigDict(tiny.get_config())\n')
  result = _main(f'--config={tmp_path / "frozen.py"}', f'--workdir={tmp_path / "run"}',
                 '--mode=check')
  assert result.returncode == 2 and 'returns a FrozenConfigDict' in result.stderr, result.stderr


def test_check_mode_compares_a_runs_checkpoints_with_the_model(tmp_path):
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  run = tmp_path / 'run'
  result = _main(f'--config={tiny}', f'--workdir={run}', '--config.train.num_steps=1',
                 '--config.train.sample_every=1000')
  assert result.returncode == 0, result.stderr[-2000:]
  result = _main(f'--config={tiny}', f'--workdir={run}', '--mode=check',
                 '--config.model.diffwave.residual_channels=16')
  assert result.returncode == 2 and 'hold a different model' in result.stderr, result.stderr
  assert _main(f'--config={tiny}', f'--workdir={run}', '--mode=check').returncode == 0


def test_one_input_with_two_references_is_refused(tmp_path):
  voice = _speechlike(0.5)
  for name in ('in.wav', 'ref_a.wav', 'ref_b.wav'):
    audio_io.save_audio(tmp_path / name, voice, 16000)
  inputs = [str(tmp_path / 'in.wav')] * 2
  with pytest.raises(UserError, match='given twice, with --reference='):
    inference.restore(None, PRIOR, inputs, output=str(tmp_path / 'out'),
                      references=[str(tmp_path / 'ref_a.wav'), str(tmp_path / 'ref_b.wav')])
  assert not os.path.exists(tmp_path / 'out')


def test_check_mode_needs_no_workdir_and_the_others_say_they_do():
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  result = _main(f'--config={tiny}', '--mode=check')
  assert result.returncode == 0 and 'the settings are valid' in result.stdout, result.stderr
  result = _main(f'--config={tiny}')
  assert result.returncode == 2 and '--mode=train needs --workdir=DIR' in result.stderr
  result = _main('--mode=sample')
  assert result.returncode == 2 and '--mode=sample needs --workdir=DIR' in result.stderr


@pytest.mark.parametrize('line, message', [
    ("config.train.num_steps = 'many'", 'the field num_steps holds a whole number, not a string'),
    ("config.train.learning_rate = 'fast'", 'the field learning_rate holds a number, not a string'),
])
def test_a_config_file_setting_a_wrong_type_names_its_line_and_the_type(tmp_path, line, message):
  (tmp_path / 'mine.py').write_text(
      'from experiments.configs import tiny\n\n\ndef get_config():\n'
      f'  config = tiny.get_config()\n  {line}\n  return config\n')
  result = _main(f'--config={tmp_path / "mine.py"}', '--mode=check')
  assert result.returncode == 2, result.stderr
  assert f'line 6 (`{line}`): {message}' in result.stderr, result.stderr


def test_a_count_of_labels_not_matching_the_samples_is_named_as_such():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  with pytest.raises(UserError, match=r'labels: 2 given for 1 sample \(\[0, 1\]\)'):
    model.sample(1, labels=[0, 1])
  with pytest.raises(UserError, match=r'labels: 0 given for 3 samples'):
    model.sample(3, labels=[])
  with pytest.raises(UserError, match=r'labels must be class ids in \[0, 4\)'):
    model.sample(2, labels=[0, 9])
  with pytest.raises(UserError, match=r'or class names, not True/False; got \[True\]'):
    model.sample(1, labels=[True])


# ---- twenty-eighth and twenty-ninth probes (probe39, probe40) ----------------------------

def test_twenty_ninth_probe_get_config_of_two_arguments_is_named(tmp_path):
  (tmp_path / 'two.py').write_text('from experiments.configs import tiny\n\n\n'
                                   'def get_config(a, b):\n  return tiny.get_config()\n')
  for config in (tmp_path / 'two.py', f'{tmp_path / "two.py"}:1'):
    result = _main(f'--config={config}', '--mode=check')
    assert result.returncode == 2 and 'get_config(a, b) needs 2 arguments' in result.stderr


def test_twenty_ninth_probe_an_8k_file_gets_a_cutoff_it_can_have(tmp_path):
  audio_io.save_audio(tmp_path / 'in8k.wav', audio_io.resample(_speechlike(0.5), 16000, 8000),
                      8000)
  common = (f'--workdir={PRIOR}', '--mode=restore', '--config.restore.task=bandwidth',
            '--config.restore.method=baseline', f'--input={tmp_path / "in8k.wav"}',
            f'--output={tmp_path / "out"}')
  result = _main(*common)
  assert result.returncode == 2 and 'cutoff_hz=4000 (this 8000 Hz file' in result.stderr
  result = _main(*common, '--config.restore.cutoff_hz=4000')
  assert result.returncode == 0, result.stderr
  result = _main(*common[:-1], f'--output={tmp_path / "o2"}', '--config.restore.cutoff_hz=4001')
  assert result.returncode == 2 and 'at or below 4000 Hz' in result.stderr


def test_twenty_ninth_probe_jax_integers_count_and_seed():
  import audiodiff  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  audio, _ = model.sample(jnp.int32(2), seed=jnp.int32(3))
  np.testing.assert_array_equal(audio, model.sample(2, seed=3)[0])
  with pytest.raises(UserError, match='whole number of outputs'):
    model.sample(jnp.array([2]))


def test_twenty_eighth_probe_the_readmes_export_sampling_line_runs_on_the_quickstart(tmp_path):
  """README: `--workdir=DIR/export --mode=sample ...` on the quickstart's
  model (pretrained/notes is its export), flags as the README gives them."""
  line = next(line for line in open(os.path.join(ROOT, 'README.md'), encoding='utf-8')
              if '--workdir=DIR/export --mode=sample' in line)
  flags = re.search(r'--workdir=DIR/export --mode=sample ([^`]*)`', line).group(1).split()
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "notes")}', '--mode=sample',
                 *flags, '--num_samples=1', f'--output={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr


@pytest.mark.parametrize('model, mode, flags', [
    ('speech_prior_cpu', 'restore', ('--config.restore.task=bandwidth',
                                     '--config.restore.cutoff_hz=3000',
                                     '--config.sampler.num_steps=4')),
    ('vocoder_cpu', 'vocode', ()),
    ('enhance_cpu', 'enhance', ()),
])
def test_twenty_eighth_probe_a_quiet_recording_keeps_its_level_and_resolution(
    tmp_path, model, mode, flags):
  """-80 dBFS in: restored and vocoded at speech level and scaled back, and
  written as float, not as a few 16-bit steps."""
  quiet = _speechlike(1.0) * 1e-4 / audio_io.rms(_speechlike(1.0))
  sf.write(tmp_path / 'quiet.wav', quiet.astype(np.float32), 16000, subtype='FLOAT')
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", model)}', f'--mode={mode}',
                 f'--input={tmp_path / "quiet.wav"}', f'--output={tmp_path / "out"}', *flags)
  assert result.returncode == 0, result.stderr
  assert mode == 'enhance' or 'quiet (RMS -80 dBFS)' in result.stdout
  out = tmp_path / 'out' / 'quiet.wav'
  assert sf.info(out).subtype == 'FLOAT'
  level = audio_io.rms(sf.read(out)[0])
  assert 0.3e-4 < level < 2e-4, level


def test_twenty_eighth_probe_a_band_above_the_cutoff_is_named(tmp_path):
  import scipy.signal  # pylint: disable=g-import-not-at-top
  full = _speechlike(1.0) + 0.02 * np.random.default_rng(0).standard_normal(16000)
  low = scipy.signal.sosfiltfilt(scipy.signal.butter(10, 3000, fs=16000, output='sos'), full)
  for name, audio in (('full', full), ('low', low)):
    audio_io.save_audio(tmp_path / f'{name}.wav', audio.astype(np.float32), 16000)
    result = _main(f'--workdir={PRIOR}', '--mode=restore', '--config.restore.task=bandwidth',
                   '--config.restore.cutoff_hz=3000', '--config.restore.method=baseline',
                   f'--input={tmp_path / f"{name}.wav"}', f'--output={tmp_path / name}')
    assert result.returncode == 0, result.stderr
    assert ('it is not band-limited there' in result.stdout) == (name == 'full')


def test_twenty_ninth_probe_sys_exit_in_a_config_file_and_tuple_items_are_named(tmp_path):
  (tmp_path / 'leaves.py').write_text('import sys\n\n\ndef get_config():\n  sys.exit(3)\n')
  result = _main(f'--config={tmp_path / "leaves.py"}', '--mode=check')
  assert result.returncode == 2 and 'called sys.exit(3)' in result.stderr, result.stderr
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  result = _main(f'--config={tiny}', '--mode=check', '--config.model.name=unet1d',
                 '--config.model.unet1d.channels=(8.5,16)')
  assert result.returncode == 2 and 'each item must be a whole number' in result.stderr


def test_twenty_ninth_probe_too_short_to_restore_and_a_mel_of_no_frames(tmp_path):
  audio_io.save_audio(tmp_path / 'one.wav', np.full(1, 0.3, np.float32), 16000)
  with pytest.raises(UserError, match='is 1 sample long; restoration needs at least 10 ms'):
    inference.restore(None, PRIOR, [str(tmp_path / 'one.wav')], output=str(tmp_path / 'out'))
  np.save(tmp_path / 'empty.npy', np.zeros((0, 80), np.float32))
  with pytest.raises(UserError, match='it has no frames'):
    inference.vocode(None, os.path.join(ROOT, 'pretrained', 'vocoder_cpu'),
                     [str(tmp_path / 'empty.npy')], output=str(tmp_path / 'voc'))


@pytest.mark.parametrize('flag', ['--config.audio.sample_rate=16000',
                                  '--config.diffusion.schedule=cosine'])
def test_thirtieth_probe_a_resume_cannot_change_what_training_fixed(tmp_path, flag):
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  run = tmp_path / 'run'
  common = (f'--config={tiny}', f'--workdir={run}', '--config.train.sample_every=1000')
  assert _main(*common, '--config.train.num_steps=1').returncode == 0
  for mode in ('--mode=train', '--mode=check'):
    result = _main(*common, '--config.train.num_steps=2', flag, mode)
    assert result.returncode == 2 and 'training fixes it; drop' in result.stderr, result.stderr
  assert checkpoint_steps(run) == [1]


def checkpoint_steps(run):
  return sorted(int(n) for n in os.listdir(run / 'checkpoints') if n.isdigit())


# ---- thirty-first probe (probe42) ----------------------------------------------------------

@pytest.mark.parametrize('flags, message', [
    (('--config.restore.average=3',), "average has no effect with config.restore.method='baseline'"),
    (('--config.restore.method=projection', '--config.restore.jump=2'), 'it is for repaint'),
    (('--config.restore.method=projection', '--config.restore.guidance=2'), 'it is for dps, pigdm'),
])
def test_thirty_first_probe_restore_options_the_method_ignores_are_refused(tmp_path, flags,
                                                                           message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  result = _main(f'--workdir={PRIOR}', '--mode=restore', f'--input={tmp_path / "in.wav"}',
                 '--config.restore.gaps=0.2-0.22', '--config.restore.method=baseline',
                 f'--output={tmp_path / "out"}', *flags)
  assert result.returncode == 2 and message in result.stderr, result.stderr


def test_thirty_first_probe_an_option_given_by_position_is_one_line():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(ENHANCER)
  with pytest.raises(UserError, match=r'enhance\(audio, \*, seed: int = 0\): too many positional'):
    model.enhance(_speechlike(0.3), 1)


# ---- thirty-first probe's minor notes (probe42) --------------------------------------------

def test_the_api_returns_no_broken_audio_where_the_command_line_would_write_none():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'vocoder_cpu'))
  noise = np.random.default_rng(0).uniform(0, 1, (64, model.config.audio.n_mels))
  with pytest.raises(UserError, match=r'vocode\(\): .* clipped at full scale .* nothing was '
                     r'returned\. .*not a log mel'):
    model.vocode(mel=noise.astype(np.float32))
  quiet = model.vocode(mel=np.full((32, model.config.audio.n_mels), 0.3, np.float32))
  assert quiet.shape == (32 * model.config.audio.hop_length,) and np.abs(quiet).max() < 1


def test_run_takes_numpy_and_jax_integers_for_its_seed_and_offset():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(os.path.join(ROOT, 'pretrained', 'notes'))
  request = model.sample_request(1)
  expected = model.run(request, jax.random.PRNGKey(3), first=1)
  np.testing.assert_array_equal(model.run(request, np.int64(3), first=jnp.int32(1)), expected)
  for first in (-1, 1.0, True):
    with pytest.raises(UserError, match='give a whole number >= 0'):
      model.run(request, 3, first=first)


# ---- thirty-second probe (probe43) ---------------------------------------------------------

@pytest.mark.parametrize('mode, flag, message', [
    ('enhance', '--config.model.diffwave.residual_channels=16',
     "--config.model.diffwave.residual_channels has no effect: this model is "
     "config.model.name='unet1d'"),
    ('enhance', '--config.train.learning_rate=5',
     '--config.train.learning_rate has no effect on --mode=enhance: it is a training setting'),
    ('info', '--config.train.eval_batches=2', 'has no effect on --mode=info'),
])
def test_thirty_second_probe_settings_no_part_of_the_model_reads_are_refused(
    tmp_path, mode, flag, message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  files = (f'--input={tmp_path / "in.wav"}', f'--output={tmp_path / "out"}')
  result = _main(f'--workdir={ENHANCER}', f'--mode={mode}', *files[:2 * (mode != 'info')], flag)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / 'out')


def test_thirty_second_probe_a_sweep_over_another_networks_settings_is_refused(tmp_path):
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')   # a diffwave
  common = (f'--config={tiny}', '--mode=check')
  result = _main(*common, '--config.model.unet1d.channels=(8,16)')
  assert result.returncode == 2 and "this model is config.model.name='diffwave'" in (
      result.stderr), result.stderr
  # Read once it is the model's network; the arithmetic settings on any mode.
  assert _main(*common, '--config.model.name=unet1d', '--config.model.unet1d.channels=(8,16)',
               '--config.data.segment_length=1024').returncode == 0
  result = _main(f'--workdir={ENHANCER}', '--mode=info', '--config.train.compute_dtype=float32')
  assert result.returncode == 2 and "it prints the export's model card as saved" in (
      result.stderr), result.stderr   # (the arithmetic is read by every other mode)


def test_thirty_second_probe_a_failure_mid_batch_names_what_was_written(tmp_path):
  vocoder = os.path.join(ROOT, 'pretrained', 'vocoder_cpu')
  for name in ('a.wav', 'b.wav'):
    audio_io.save_audio(tmp_path / name, _speechlike(0.3), 16000)
  np.save(tmp_path / 'ones.npy', np.ones((40, 80), np.float32))   # vocodes to full scale
  out = tmp_path / 'out'
  result = _main(f'--workdir={vocoder}', '--mode=vocode', f'--input={tmp_path / "a.wav"}',
                 f'--input={tmp_path / "b.wav"}', f'--input={tmp_path / "ones.npy"}',
                 f'--output={out}')
  assert result.returncode == 2, result.stderr
  assert 'ones.npy: the model produced audio clipped' in result.stderr
  assert f'(2 of 3 files had been written to {out}; its index.html lists them.)' in (
      result.stderr)
  assert sorted(p.name for p in out.glob('*.wav')) == ['a.wav', 'b.wav']
  assert 'b.wav' in (out / 'index.html').read_text()


def test_thirty_second_probe_more_shifts_than_the_hop_has_samples_are_refused():
  import audiodiff  # pylint: disable=g-import-not-at-top
  config = audiodiff.load(ENHANCER).config
  config.unlock()
  config.enhance.shifts = 1000
  with pytest.raises(UserError, match='shifts is 1000; give 1 .no shifts. to 128'):
    audiodiff.load(ENHANCER, config).enhance(_speechlike(0.3))


# ---- thirty-third probe (probe44) ----------------------------------------------------------

def test_thirty_third_probe_a_name_too_long_for_the_file_system_is_cut(tmp_path, capsys):
  long = 'M' * 251
  stems = outputs.output_stems([f'/in/{long}.wav', '/in/a.wav', f'/in/{"é" * 150}.wav'])
  assert stems[1] == 'a' and all(len(f'{s}.json'.encode()) <= 255 for s in stems)
  assert stems[0].startswith('M' * 150) and stems[0] != stems[2]
  (tmp_path / f'{stems[0]}.json').write_text('{}')   # and the file system takes it
  assert 'its name is too long for output files (251 bytes)' in capsys.readouterr().out


@pytest.mark.parametrize('flags, message', [
    (('--config.sampler.num_steps=4',), "--config.sampler.num_steps has no effect: "
     "config.restore.method='baseline' is classical"),
    (('--config.train.compute_dtype=bfloat16',), "config.restore.method='baseline' runs no "
     'network'),
    (('-config.restore.average=3',), '--config.restore.average has no effect'),   # one dash
])
def test_thirty_third_probe_settings_a_classical_restoration_ignores_are_refused(
    tmp_path, flags, message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  result = _main(f'--workdir={PRIOR}', '--mode=restore', f'--input={tmp_path / "in.wav"}',
                 '--config.restore.gaps=0.2-0.22', '--config.restore.method=baseline',
                 f'--output={tmp_path / "out"}', *flags)
  assert result.returncode == 2 and message in result.stderr, result.stderr


def test_thirty_third_probe_one_dash_flags_are_checked_as_two():
  tiny = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')
  result = _main(f'-config={tiny}', '-mode=check', '-config.model.unet1d.channels=(3,)')
  assert result.returncode == 2 and "this model is config.model.name='diffwave'" in (
      result.stderr), result.stderr
  assert 'a sweep over model.name takes such settings from a config file' in result.stderr


# ---- thirty-fourth probe (probe45) ---------------------------------------------------------

@pytest.mark.parametrize('workdir, args, message', [
    ('tts_cpu', ('--mode=synthesize', '--text=Hi there.', '--config.vocoder.griffin_lim_iters=4'),
     "--config.vocoder.griffin_lim_iters has no effect: this is a 'tts' model (its waveform "
     'comes from the vocoder config.tts.vocoder_workdir names'),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.gaps=0.2-0.22',
                          '--config.restore.method=projection', '--config.restore.start_level=0.1'),
     "--config.restore.start_level has no effect with config.restore.start='noise'"),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.gaps=0.2-0.22',
                          '--config.restore.method=baseline', '--config.seed=3'),
     '--config.seed has no effect: the classical restoration draws no noise'),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.gaps=0.2-0.22',
                          '--config.restore.start_level=0.1'),
     "config.restore.start_level is set by the default recipe for task='inpaint'"),
    ('enhance_cpu', ('--mode=enhance', '--config.seed=3'),
     '--config.seed has no effect: this predictive enhancer draws no noise'),
    ('vocoder_cpu', ('--mode=vocode', '--config.audio.n_mels=64'),
     'training fixes it: drop --config.audio.n_mels, or'),
    ('notes', ('--mode=sample', '--', '--config.seed=3'),
     '--config.seed=3: not read (words after a bare "--"'),
])
def test_thirty_fourth_probe_settings_that_would_do_nothing_are_refused(tmp_path, workdir, args,
                                                                         message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  inputs = () if args[0] in ('--mode=synthesize', '--mode=sample') else (
      f'--input={tmp_path / "in.wav"}',)
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", workdir)}',
                 f'--output={tmp_path / "out"}', *inputs, *args)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_thirty_fourth_probe_the_seed_reaches_the_vocoder(tmp_path):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.3), 16000)
  vocoded = []
  for seed in (0, 3):
    out = tmp_path / f'seed{seed}'
    result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "diffwave_vocoder_cpu")}',
                   '--mode=vocode', f'--input={tmp_path / "in.wav"}', f'--output={out}',
                   f'--config.seed={seed}')
    assert result.returncode == 0, result.stderr
    vocoded.append(audio_io.load_audio(str(out / 'in.wav'), 16000))
  assert not np.array_equal(*vocoded)


# ---- thirty-fifth probe (probe46) ----------------------------------------------------------

@pytest.mark.parametrize('workdir, args, message', [
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.gaps=0.2-0.22',
                          '--config.restore.method=projection', '--config.restore.filter=butterworth'),
     "--config.restore.filter has no effect with config.restore.task='inpaint' (it is for "
     "task='bandwidth')"),
    ('speech_prior_cpu', ('--mode=restore', '--config.restore.task=bandwidth',
                          '--config.restore.cutoff_hz=4000', '--config.restore.taper_ms=3'),
     "--config.restore.taper_ms has no effect with config.restore.task='bandwidth'"),
    ('diffwave_vocoder_cpu', ('--mode=vocode', '--config.vocoder.griffin_lim_iters=4'),
     'this vocoder does not start from Griffin-Lim (config.vocoder.prior is another)'),
    ('vocoder_cpu', ('--mode=vocode', '--config.vocoder.stft_loss_weight=3'),
     '--config.vocoder.stft_loss_weight has no effect on --mode=vocode: only training reads it'),
    ('enhance_cpu', ('--mode=enhance', '--config.enhance.si_sdr_weight=1'),
     'only training reads it'),
])
def test_thirty_fifth_probe_settings_that_would_do_nothing_are_refused(tmp_path, workdir, args,
                                                                        message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", workdir)}',
                 f'--output={tmp_path / "out"}', f'--input={tmp_path / "in.wav"}', *args)
  assert result.returncode == 2 and message in result.stderr, result.stderr


def test_thirty_fifth_probe_the_api_takes_the_configs_seed_and_refuses_unread_sections():
  import audiodiff  # pylint: disable=g-import-not-at-top
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  config = audiodiff.load(notes).config
  config.unlock()
  config.seed = 3
  seeded = audiodiff.load(notes, config)
  np.testing.assert_array_equal(seeded.sample(1)[0], seeded.sample(1, seed=3)[0])
  assert not np.array_equal(seeded.sample(1)[0], seeded.sample(1, seed=0)[0])
  tts_config = audiodiff.load(os.path.join(ROOT, 'pretrained', 'tts_cpu')).config
  tts_config.unlock()
  tts_config.vocoder.griffin_lim_iters = 4
  with pytest.raises(UserError, match="config.vocoder was changed, but the model in .* is a "
                     "'tts' model"):
    audiodiff.load(os.path.join(ROOT, 'pretrained', 'tts_cpu'), tts_config)


# ---- settings no part of the run reads (tests/test_config_reads.py records them) ----------

@pytest.mark.parametrize('workdir, args, message', [
    ('notes', ('--mode=sample', '--num_samples=1', '--config.enhance.shifts=2'),
     "--config.enhance.shifts has no effect: this is a 'generate' model, and only 'enhance' "
     'models read config.enhance'),
    ('enhance_cpu', ('--mode=enhance', '--config.data.segment_length=1024'),
     "it is the training crop; the length of an output is its input's"),
    ('vocoder_cpu', ('--mode=vocode', '--config.vocoder.prior_scale=0.5'),
     'training fixes it'),
])   # more, without a process each: tests/test_config_reads.py
def test_settings_no_part_of_the_run_reads_are_refused(tmp_path, workdir, args, message):
  audio_io.save_audio(tmp_path / 'in.wav', _speechlike(0.5), 16000)
  reads_input = args[0] in ('--mode=enhance', '--mode=vocode', '--mode=restore')
  inputs = (f'--input={tmp_path / "in.wav"}',) if reads_input else ()
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", workdir)}',
                 f'--output={tmp_path / "out"}', *inputs, *args)
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / 'out')


def test_a_music_length_rounded_to_latent_frames_is_said(tmp_path):
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "music_latent_cpu")}',
                 '--mode=sample', '--num_samples=1', '--config.latent.seconds=0.5',
                 f'--output={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr
  assert ('Clips are 0.512 s long: config.latent.seconds=0.5 rounded up to whole latent '
          'frames (256 samples each).') in result.stdout


def test_dropped_text_symbols_are_a_plain_warning_line(tmp_path):
  result = _main(f'--workdir={os.path.join(ROOT, "pretrained", "tts_cpu")}', '--mode=synthesize',
                 '--text=Hello \u2603 there.', f'--output={tmp_path / "out"}')
  assert result.returncode == 0, result.stderr
  assert 'warning: Text front end' in result.stderr and 'U+2603' in result.stderr
  assert 'text.py:' not in result.stderr, result.stderr


def test_probe_47_info_on_an_export_refuses_settings():
  notes = os.path.join(ROOT, 'pretrained', 'notes')
  result = _main(f'--workdir={notes}', '--mode=info', '--config.sampler.name=ddim')
  assert result.returncode == 2 and ("--config.sampler.name has no effect on --mode=info: it "
                                     "prints the export's model card as saved") in result.stderr
  # The same with the folder as a separate argument (--workdir DIR).
  result = _main('--workdir', notes, '--mode=info', '--config.sampler.name=ddim')
  assert result.returncode == 2 and 'has no effect on --mode=info' in result.stderr
  assert _main(f'--workdir={notes}', '--mode=info').returncode == 0


def test_probe_48_an_unknown_task_in_a_saved_config_names_the_file(tmp_path):
  model = tmp_path / 'notes'
  shutil.copytree(os.path.join(ROOT, 'pretrained', 'notes'), model)
  text = (model / 'config.json').read_text()
  (model / 'config.json').write_text(text.replace('"task": "generate"', '"task": "nope"'))
  result = _main(f'--workdir={model}', '--mode=sample', '--num_samples=1',
                 f'--output={tmp_path / "out"}')
  assert result.returncode == 2 and (f"{model / 'config.json'} says task='nope', which is not "
                                     "one of this version's") in result.stderr, result.stderr
  assert not os.path.exists(tmp_path / 'out')
