"""Nothing the user owns is overwritten or left half-done, and settings that
cannot hold are refused by name: outputs never replace inputs or files
audiodiff did not write, exports never replace another model, a failed
fresh run leaves no folder behind, loud or silent inputs are handled."""

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from audiodiff import defaults
from audiodiff.audio import audio_io
from audiodiff.errors import UserError
from audiodiff.latent.scaling import LatentScaling
from audiodiff.run import experiment, inference, listening_page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, 'experiments', 'main.py')
ENHANCER = os.path.join(ROOT, 'pretrained', 'enhance_cpu')
NOTES = os.path.join(ROOT, 'pretrained', 'notes')


def _speechlike(seconds=1.0, rate=16000, gain=1.0):
  t = np.arange(int(seconds * rate)) / rate
  voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
  noise = np.random.default_rng(0).normal(0, 0.01, len(t))
  return (gain * (0.05 * voiced + noise)).astype(np.float32)


def _digest(path):
  with open(path, 'rb') as f:
    return hashlib.sha256(f.read()).hexdigest()


def _main(*args):
  return subprocess.run([sys.executable, MAIN, *args], capture_output=True, text=True,
                        cwd=ROOT, check=False)


# ---- outputs never replace what the user has ----------------------------------------

def test_enhancing_into_the_inputs_own_folder_keeps_the_input(tmp_path):
  folder = tmp_path / 'recordings'
  folder.mkdir()
  noisy = str(folder / 'noisy.wav')
  audio_io.save_audio(noisy, _speechlike(), 16000)
  before = _digest(noisy)
  with pytest.raises(UserError, match='already holds files audiodiff did not write'):
    inference.enhance(None, ENHANCER, [noisy], output=str(folder))
  # A folder audiodiff wrote (it has its listening page) still never loses an input.
  listening_page.write_folder_page(str(folder))
  with pytest.raises(UserError, match='would overwrite the input'):
    inference.enhance(None, ENHANCER, [noisy], output=str(folder))
  assert _digest(noisy) == before
  assert sorted(os.listdir(folder)) == ['index.html', 'noisy.wav']


def test_output_into_a_folder_audiodiff_wrote_is_allowed_again(tmp_path):
  noisy = str(tmp_path / 'noisy.wav')
  audio_io.save_audio(noisy, _speechlike(), 16000)
  out = str(tmp_path / 'out')
  first = inference.enhance(None, ENHANCER, [noisy], output=out)
  again = inference.enhance(None, ENHANCER, [noisy], output=out)
  assert first == again and os.path.exists(first[0])


def test_a_run_stopped_before_its_page_is_resumed_into_the_same_output(tmp_path):
  noisy = str(tmp_path / 'noisy.wav')
  audio_io.save_audio(noisy, _speechlike(), 16000)
  out = tmp_path / 'out'
  inference.enhance(None, ENHANCER, [noisy], output=str(out))
  os.remove(out / 'index.html')  # as after Ctrl-C: outputs written, no page yet
  assert inference.enhance(None, ENHANCER, [noisy], output=str(out))
  # A file of someone else's there is still refused.
  os.remove(out / 'index.html')
  (out / 'notes.txt').write_text('mine')
  with pytest.raises(UserError, match='already holds files audiodiff did not write'):
    inference.enhance(None, ENHANCER, [noisy], output=str(out))


def test_a_mistake_found_after_the_output_folder_was_made_leaves_no_folder(tmp_path):
  out = tmp_path / 'spoken'
  result = _main('--workdir=' + os.path.join(ROOT, 'pretrained', 'tts_cpu'), '--mode=synthesize',
                 '--text=...!?', f'--output={out}')
  assert result.returncode == 2 and 'nothing to speak' in result.stderr
  assert not out.exists()


def test_a_second_folder_into_the_same_output_keeps_the_first_ones_outputs(tmp_path):
  for folder in ('a', 'b'):
    (tmp_path / folder).mkdir()
    audio_io.save_audio(str(tmp_path / folder / 'x.wav'), _speechlike(), 16000)
  out = str(tmp_path / 'out')
  (first,) = inference.enhance(None, ENHANCER, [str(tmp_path / 'a' / 'x.wav')], output=out)
  before = _digest(first)
  with pytest.raises(UserError, match=r'comes from .*a/x.wav .*\(an earlier run\)'):
    inference.enhance(None, ENHANCER, [str(tmp_path / 'b' / 'x.wav')], output=out)
  assert _digest(first) == before


def test_loud_float_input_is_scaled_to_full_scale_not_clipped(tmp_path, capsys):
  loud = str(tmp_path / 'loud.wav')
  import soundfile  # pylint: disable=g-import-not-at-top
  soundfile.write(loud, _speechlike(gain=60.0), 16000, subtype='FLOAT')
  (path,) = inference.enhance(None, ENHANCER, [loud], output=str(tmp_path / 'out'))
  assert 'times full scale; scaled down' in capsys.readouterr().out
  enhanced, _ = audio_io.read_audio(path)
  assert np.mean(np.abs(enhanced) >= 0.999) < 0.01


def test_silent_input_is_refused_by_name(tmp_path):
  silent = str(tmp_path / 'silent.wav')
  audio_io.save_audio(silent, np.zeros(16000, np.float32), 16000)
  with pytest.raises(UserError, match='silent.wav is silent'):
    inference._model_input(silent, 16000, 'restored')  # pylint: disable=protected-access


def test_mel_files_outside_the_log_mel_range_are_refused(tmp_path):
  from audiodiff import tasks  # pylint: disable=g-import-not-at-top
  config = defaults.get_config()
  config.task = 'vocoder'
  path = str(tmp_path / 'MEL.NPY')
  np.save(tmp_path / 'MEL.npy', np.full((20, config.audio.n_mels), 50.0, np.float32))
  os.rename(tmp_path / 'MEL.npy', path)
  with pytest.raises(UserError, match='MEL.NPY: The mel holds values from 50 to 50; a '
                     'log-mel of this project lies in'):
    inference._checked_vocoder_input(path, tasks.get_task(config))  # pylint: disable=protected-access


def test_name_cannot_leave_the_samples_folder(tmp_path):
  for name in ('../../escaped', '/abs', '..', ''):
    with pytest.raises(UserError, match='must be a plain folder name'):
      inference._output_dir(str(tmp_path), name, 'default')  # pylint: disable=protected-access
  assert not os.path.exists(tmp_path / 'escaped')


def test_directory_inputs_take_flac_and_ogg_and_name_the_rest(tmp_path, capsys):
  for name in ('a.wav', 'b.FLAC', 'c.ogg'):
    audio_io.save_audio(str(tmp_path / name), _speechlike(0.1), 16000)
  (tmp_path / 'notes.txt').write_text('x')
  (tmp_path / 'takes').mkdir()
  (tmp_path / '._a.wav').write_bytes(b'\0\5\26\7')   # macOS's copy beside a.wav: not audio
  (tmp_path / '.cache').mkdir()
  files = inference._input_files([str(tmp_path)])  # pylint: disable=protected-access
  assert [os.path.basename(f) for f in files] == ['a.wav', 'b.FLAC', 'c.ogg']
  said = capsys.readouterr().out
  assert '3 files to read; 1 other entry skipped' in said and '1 sub-folder not read' in said
  assert '2 hidden names skipped (._a.wav, ...' in said
  (tmp_path / 'outer' / 'inner').mkdir(parents=True)
  with pytest.raises(UserError, match='its 1 sub-folder not read'):
    inference._input_files([str(tmp_path / 'outer')])  # pylint: disable=protected-access


# ---- exports never replace another model --------------------------------------------

def test_export_refuses_a_folder_that_is_not_empty(tmp_path):
  other = tmp_path / 'other_model'
  other.mkdir()
  (other / 'config.json').write_text('{"mine": true}')
  with pytest.raises(UserError, match='is not empty'):
    inference.export(None, NOTES, str(other))
  assert (other / 'config.json').read_text() == '{"mine": true}'
  with pytest.raises(UserError, match='is the model being exported'):
    inference.export(None, NOTES, NOTES)


# ---- failed runs leave nothing behind --------------------------------------------------

def test_a_fresh_run_that_fails_leaves_no_work_directory(tmp_path):
  not_a_folder = tmp_path / 'file'
  not_a_folder.write_text('x')
  workdir = tmp_path / 'run'
  result = _main('--config=experiments/configs/tiny.py', f'--workdir={workdir}',
                 '--config.train.num_steps=1', f'--config.data.data_dir={not_a_folder}')
  assert result.returncode == 2, result.stderr
  assert result.stderr.strip().splitlines()[-1].startswith(
      'error: The dataset cannot be written to'), result.stderr
  assert not workdir.exists()


# ---- settings that cannot hold ----------------------------------------------------------

@pytest.mark.parametrize('field, value, message', [
    ('seed', -1, 'config.seed=-1 must be a whole number'),
    ('seed', 10**20, 'must be a whole number in'),
    ('sampler.guidance_scale', float('nan'), 'guidance_scale=nan must be a finite number'),
    ('sampler.eta', -2.0, 'eta=-2.0 must be in'),
    ('sampler.num_steps', 0, r'num_steps=0 must be in \[1, 1,000,000\]'),
    ('train.num_steps', 0, r'num_steps=0 must be >= 1'),
    ('train.eval_batches', 1000000, r'eval_batches=1000000 must be in \[1, 10,000\]'),
    ('restore.cutoff_hz', -100.0, 'cutoff_hz=-100.0 must be 0'),
    ('tts.length_scale', 1000.0, 'length_scale=1000.0 must be in'),
    ('tts.max_tokens', 3, 'max_tokens=3 must be >= 16'),
    ('enhance.batch_windows', 0, 'batch_windows=0 must be >= 1'),
])
def test_settings_out_of_range_are_named(field, value, message):
  config = defaults.get_config()
  if '.' in field:
    section, name = field.split('.')
    config[section][name] = value
  else:
    config[field] = value
  with pytest.raises(UserError, match=message):
    experiment.validate_config(config)


def test_text_files_that_hold_no_text_are_named(tmp_path):
  with pytest.raises(UserError, match='is not a file'):
    inference.read_texts([], str(tmp_path))
  blank = tmp_path / 'blank.txt'
  blank.write_text('\n  \n')
  with pytest.raises(UserError, match='holds no text'):
    inference.read_texts([], str(blank))


@pytest.mark.parametrize('values, message', [
    ({'scale': 'x'}, 'needs "shift" and "scale"'),
    ({'shift': [0.0, 1.0], 'scale': [1.0]}, 'the same length'),
    ({'shift': [0.0], 'scale': [0.0]}, 'finite and > 0'),
])
def test_damaged_latent_scaling_is_named(values, message):
  with pytest.raises(ValueError, match=message):
    LatentScaling.from_dict(values)


# ---- resuming and sampling with settings that do not apply ----------------------------

def test_resuming_names_changed_settings_and_keeps_the_config_when_done(tmp_path):
  workdir = tmp_path / 'run'
  tiny = ['--config=experiments/configs/tiny.py', f'--workdir={workdir}',
          f'--config.data.data_dir={tmp_path / "tfds"}']
  assert _main(*tiny).returncode == 0
  saved = (workdir / 'config.json').read_text()
  result = _main(*tiny, '--config.train.num_steps=1', '--config.train.batch_size=3')
  assert result.returncode == 0, result.stderr
  assert 'changed settings: train.batch_size 4 -> 3, train.num_steps 2 -> 1' in result.stdout
  assert 'nothing to train' in result.stdout
  assert (workdir / 'config.json').read_text() == saved


def test_num_steps_with_a_fixed_step_sampler_is_refused():
  result = _main(f'--workdir={NOTES}', '--mode=sample', '--config.sampler.num_steps=5')
  assert result.returncode == 2
  assert "does not apply to the 'ddpm' sampler" in result.stderr


def test_home_is_expanded_in_path_flags(tmp_path):
  home = tmp_path / 'home'
  home.mkdir()
  result = subprocess.run([sys.executable, MAIN, f'--workdir={NOTES}', '--mode=sample',
                           '--num_samples=1', '--output=~/out'], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, 'HOME': str(home)},
                          check=False)
  assert result.returncode == 0, result.stderr
  assert (home / 'out').is_dir() and not (tmp_path / '~').exists()


def test_a_silent_reference_is_refused(tmp_path):
  audio_io.save_audio(str(tmp_path / 'in.wav'), _speechlike(0.5), 16000)
  audio_io.save_audio(str(tmp_path / 'ref.wav'), np.zeros(8000, np.float32), 16000)
  prior = os.path.join(ROOT, 'pretrained', 'speech_prior_cpu')
  config = experiment.read_config(prior)
  with config.unlocked():
    config.restore.update(task='bandwidth', cutoff_hz=4000.0)
  with pytest.raises(UserError, match='ref.wav is silent'):
    inference.restore(config, prior, [str(tmp_path / 'in.wav')],
                      references=[str(tmp_path / 'ref.wav')], output=str(tmp_path / 'out'))
  assert not (tmp_path / 'out').exists()


def test_vocoding_a_wav_keeps_its_length(tmp_path):
  path = str(tmp_path / 'speech.wav')
  audio_io.save_audio(path, _speechlike(0.5)[:8000 - 100], 16000)  # not whole hops
  (out,) = inference.vocode(None, os.path.join(ROOT, 'pretrained', 'vocoder_cpu'), [path],
                            output=str(tmp_path / 'out'))
  assert len(audio_io.read_audio(out)[0]) == 8000 - 100


def test_a_file_of_yours_in_an_output_folder_is_kept(tmp_path):
  noisy = str(tmp_path / 'noisy.wav')
  audio_io.save_audio(noisy, _speechlike(), 16000)
  out = tmp_path / 'out'
  inference.enhance(None, ENHANCER, [noisy], output=str(out))
  other = tmp_path / 'other'
  other.mkdir()
  audio_io.save_audio(str(other / 'song.wav'), _speechlike(), 16000)
  audio_io.save_audio(str(out / 'song.wav'), _speechlike(gain=0.5), 16000)  # the user's
  before = _digest(out / 'song.wav')
  with pytest.raises(UserError, match='song.wav exists and audiodiff did not write it'):
    inference.enhance(None, ENHANCER, [str(other / 'song.wav')], output=str(out))
  assert _digest(out / 'song.wav') == before


@pytest.mark.parametrize('setup, message', [
    ('export', 'is an exported model'),
    ('foreign', 'holds a config.json that is not a training run'),
])
def test_training_never_overwrites_a_model_or_your_config(tmp_path, setup, message):
  workdir = tmp_path / 'folder'
  if setup == 'export':
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.copytree(NOTES, workdir)
  else:
    workdir.mkdir()
    (workdir / 'config.json').write_text('{"mine": 1}')
  before = (workdir / 'config.json').read_text()
  result = _main('--config=experiments/configs/tiny.py', f'--workdir={workdir}')
  assert result.returncode == 2 and message in result.stderr, result.stderr
  assert (workdir / 'config.json').read_text() == before


def test_inference_refuses_settings_training_fixed():
  result = _main(f'--workdir={NOTES}', '--mode=sample', '--config.audio.sample_rate=44100')
  assert result.returncode == 2
  assert 'config.audio.sample_rate=44100, but the model' in result.stderr
  with pytest.raises(UserError, match="trained as 'predictive'"):
    config = experiment.read_config(ENHANCER)
    config.enhance.method = 'sgmse'
    import audiodiff  # pylint: disable=g-import-not-at-top
    audiodiff.load(ENHANCER, config)


def test_export_into_the_runs_checkpoints_is_refused(tmp_path):
  workdir = tmp_path / 'run'
  assert _main('--config=experiments/configs/tiny.py', f'--workdir={workdir}',
               f'--config.data.data_dir={tmp_path / "tfds"}').returncode == 0
  result = _main(f'--workdir={workdir}', '--mode=export',
                 f'--output={workdir / "checkpoints" / "99"}')
  assert result.returncode == 2 and 'or its checkpoints' in result.stderr, result.stderr
  assert not (workdir / 'checkpoints' / '99').exists()
  # The default folder is the run's own: a second export replaces the first, and says so.
  assert _main(f'--workdir={workdir}', '--mode=export').returncode == 0
  again = _main(f'--workdir={workdir}', '--mode=export')
  assert again.returncode == 0 and 'Replacing the earlier export of step' in again.stdout


def test_a_fresh_run_with_a_wrong_init_from_leaves_no_folder(tmp_path):
  workdir = tmp_path / 'run'
  result = _main('--config=experiments/configs/tiny.py', f'--workdir={workdir}',
                 f'--config.data.data_dir={tmp_path / "tfds"}',
                 f'--config.train.init_from={ENHANCER}')
  assert result.returncode == 2, result.stderr
  assert not workdir.exists(), os.listdir(workdir)


def test_declipping_refuses_an_input_that_is_nearly_all_clipped():
  from audiodiff.restoration import restore as restoration  # pylint: disable=g-import-not-at-top
  config = defaults.get_config()
  config.restore.task, config.restore.clip_level = 'declip', 0.001
  with pytest.raises(UserError, match='of the input is clipped at 0.001'):
    restoration.measure('declip', np.clip(_speechlike(), -0.001, 0.001), config.restore, 16000)


def test_eval_of_a_shipped_model_writes_where_output_says(tmp_path):
  result = _main(f'--workdir={NOTES}', '--mode=eval', f'--output={tmp_path / "ev"}',
                 f'--config.data.data_dir={tmp_path / "tfds"}', '--config.train.eval_batches=1')
  assert result.returncode == 0, result.stderr
  assert os.listdir(tmp_path / 'ev' / 'eval') and not os.path.exists(os.path.join(NOTES, 'eval'))


def test_two_runs_cannot_write_into_one_folder_at_once(tmp_path):
  from audiodiff.run import outputs  # pylint: disable=g-import-not-at-top
  folder = tmp_path / 'out'
  holder = subprocess.Popen(
      [sys.executable, '-c', 'import sys, time; from audiodiff.run import outputs; '
       f'outputs.claim_folder({str(folder)!r}); print("held", flush=True); time.sleep(30)'],
      stdout=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    assert holder.stdout.readline().strip() == 'held'
    with pytest.raises(UserError, match='Another audiodiff run is writing into'):
      outputs.claim_folder(str(folder))
  finally:
    holder.kill()
    holder.wait()
  outputs.claim_folder(str(folder))  # free again once the other run ended


@pytest.mark.parametrize('betas', ['()', 'None'])
def test_fast_betas_that_are_not_a_list_of_betas_are_named(betas):
  result = _main(f'--workdir={NOTES}', '--mode=sample', '--config.sampler.name=fast',
                 f'--config.sampler.fast_betas={betas}')
  assert result.returncode == 2, result.stderr
  assert 'config.sampler.fast_betas must be a non-empty list' in result.stderr


def test_class_names_a_model_learned_cannot_change():
  config = experiment.read_config(NOTES)
  config.generate.class_names = ('piano',)
  import audiodiff  # pylint: disable=g-import-not-at-top
  with pytest.raises(audiodiff.UserError, match='learned'):
    audiodiff.load(NOTES, config)


def test_labels_may_be_class_names():
  import audiodiff  # pylint: disable=g-import-not-at-top
  model = audiodiff.load(NOTES)
  names = model.config.generate.class_names
  _, request = model.sample(2, labels=[names[1], names[0]])
  assert request.names[0].endswith(names[1]) and request.names[1].endswith(names[0])
  with pytest.raises(UserError, match='not class names of this model'):
    model.sample(1, labels=['tuba'])
