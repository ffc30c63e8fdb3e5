"""A diverged run never passes for a good one, one run per work directory,
one clean line per user mistake (exit status 2, no traceback)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import soundfile as sf

from experiments.configs import tiny
from test_train import final_params, run_main

from audiodiff.audio import audio_io
from audiodiff.run import experiment, health, workdir_lock
from audiodiff.data import audio_folder
from audiodiff.errors import UserError


def _assert_one_clean_line(result, *fragments):
  assert result.returncode == 2, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1, result.stderr[-3000:]
  for fragment in fragments:
    assert fragment in errors[0], errors[0]


# ---------------------------------------------------------------------------
# Divergence


def test_monitor_flags_non_finite_and_exploding_values():
  monitor = health.DivergenceMonitor(factor=100.0)
  for loss in (0.8, 0.7, 0.75, 0.6, 0.9, 0.65):   # ordinary noise passes
    assert monitor.check({'loss': loss, 'grad_norm': 0.1, 'param_norm': 20.0}) is None
  assert 'loss 1e+04' in monitor.check({'loss': 1e4, 'grad_norm': 0.1, 'param_norm': 20.0})
  assert 'param_norm' in monitor.check({'loss': 0.7, 'grad_norm': 0.1, 'param_norm': 5e3})
  assert 'nan' in monitor.check({'loss': 0.7, 'grad_norm': float('nan'), 'param_norm': 20.0})
  # Gradients may legitimately grow a lot from a zero-initialised output layer.
  assert monitor.check({'loss': 0.7, 'grad_norm': 50.0, 'param_norm': 20.0}) is None
  # The parameters before the first update are the reference for the first.
  started = health.DivergenceMonitor(factor=100.0)
  started.start(20.0)
  assert 'param_norm' in started.check({'loss': 0.7, 'grad_norm': 0.1, 'param_norm': 5e3})


@pytest.mark.parametrize('flags', [
    ['--config.train.learning_rate=1e8', '--config.train.warmup_steps=30',
     '--config.train.grad_clip_norm=1e30'],
    ['--config.train.learning_rate=1e6'],   # default clipping: loss ~1e4 before
])
def test_a_diverged_run_stops_keeping_only_healthy_checkpoints(tmp_path, flags):
  result = run_main(tmp_path, '--config.train.num_steps=8', '--config.diffusion.loss=l2',
                    '--config.train.checkpoint_every=1', '--config.train.sample_every=100',
                    *flags, check=False)
  _assert_one_clean_line(result, 'Training diverged at step', 'learning_rate')
  steps = sorted(int(s) for s in os.listdir(tmp_path / 'checkpoints') if s.isdigit())
  for step in steps:
    state, _ = final_params(tmp_path)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state.params))
    assert float(jnp.sqrt(sum(jnp.sum(p ** 2) for p in jax.tree.leaves(state.params)))) < 1e3
  if steps:
    assert f'step {steps[-1]}, is kept' in result.stderr
  else:
    assert 'no checkpoint had been written yet' in result.stderr


def test_sampling_refuses_non_finite_parameters(tmp_path):
  config = tiny.get_config()
  exp = experiment.build(config, str(tmp_path))
  state = exp.init_state()
  state = state.replace(ema_params=jax.tree.map(lambda p: p * jnp.nan, state.ema_params))
  exp.checkpointer.save(1, state)
  exp.checkpointer.close()
  experiment.write_config(config, str(tmp_path))
  result = run_main(tmp_path, '--mode=sample', check=False)
  _assert_one_clean_line(result, 'not finite', '--checkpoint_step')
  assert not (tmp_path / 'samples').exists()


# ---------------------------------------------------------------------------
# One run per work directory


def test_a_second_run_on_a_locked_workdir_is_refused(tmp_path):
  with workdir_lock.WorkdirLock(str(tmp_path)):
    result = run_main(tmp_path, '--config.train.num_steps=1', check=False)
    _assert_one_clean_line(result, f'PID {os.getpid()}', 'another training run')
    with pytest.raises(UserError, match='in use'):   # another open file, same process
      workdir_lock.WorkdirLock(str(tmp_path)).__enter__()
  assert not (tmp_path / 'checkpoints').exists()


def test_a_stale_lock_is_taken_over_with_a_message(tmp_path):
  with open(tmp_path / '.lock', 'w') as f:
    json.dump({'pid': 999999, 'host': 'elsewhere', 'started': 'yesterday'}, f)
  result = run_main(tmp_path, '--config.train.num_steps=1', '--config.train.sample_every=100')
  assert 'Took over the lock' in result.stdout and 'PID 999999' in result.stdout


# ---------------------------------------------------------------------------
# config.json and its history


def test_failed_runs_leave_config_json_as_it_was(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=1', '--config.train.sample_every=100')
  before = (tmp_path / 'config.json').read_text()
  assert len(os.listdir(tmp_path / 'configs')) == 1
  result = run_main(tmp_path, '--config.train.num_steps=2',
                    '--config.model.diffwave.residual_channels=16', check=False)
  _assert_one_clean_line(result, 'use a new --workdir', 'untouched')
  assert len(result.stderr.splitlines()) < 10, result.stderr
  result = run_main(tmp_path, '--config.audio.sample_rate=0', check=False)
  _assert_one_clean_line(result, 'config.audio.sample_rate=0')
  assert (tmp_path / 'config.json').read_text() == before
  assert len(os.listdir(tmp_path / 'configs')) == 1
  run_main(tmp_path, '--config.train.num_steps=2', '--config.train.sample_every=100')
  assert len(os.listdir(tmp_path / 'configs')) == 2   # each run's config is kept


# ---------------------------------------------------------------------------
# User mistakes: one line, exit status 2, nothing created


@pytest.mark.parametrize('flags,fragments', [
    (['--config.train.batch_size=0'], ['config.train.batch_size=0']),
    (['--config.sampler.name=dpm'], ["config.sampler.name='dpm'", 'dpm_solver']),
    (['--config.sampler.temperature=0'], ['config.sampler.temperature']),
])
def test_config_mistakes_fail_before_anything_is_created(tmp_path, flags, fragments):
  workdir = tmp_path / 'run'
  _assert_one_clean_line(run_main(workdir, *flags, check=False), *fragments)
  assert not workdir.exists()


def test_a_missing_config_file_names_its_path(tmp_path):
  import subprocess, sys  # pylint: disable=g-import-not-at-top,multiple-imports
  from test_train import MAIN  # pylint: disable=g-import-not-at-top
  result = subprocess.run([sys.executable, MAIN, '--config=experiments/configs/nope.py',
                           f'--workdir={tmp_path}'], capture_output=True, text=True)
  _assert_one_clean_line(result, 'nope.py', 'experiments/configs/')


def test_vocoder_inputs_are_checked_before_anything_is_written(tmp_path):
  vocoder = ['--config.task=vocoder', '--config.sampler.guidance_scale=1',
             '--config.sampler.name=fast', '--config.sampler.fast_betas=(1e-4, 0.01, 0.1, 0.3)']
  run_main(tmp_path, '--config.train.num_steps=1', '--config.train.sample_every=100',
           *vocoder)
  mel = np.ones((10, 20), np.float32)
  mel[2, 3] = np.nan
  np.save(tmp_path / 'nan.npy', mel)
  sf.write(tmp_path / 'short.wav', np.full(30, 0.1), 8000)
  for name, fragment in (('nan.npy', 'NaN'), ('short.wav', 'at least one hop')):
    result = run_main(tmp_path, '--mode=vocode', f'--input={tmp_path / name}', *vocoder,
                      check=False)
    _assert_one_clean_line(result, name, fragment)
  assert not (tmp_path / 'samples' / 'vocoded_step_1').exists()


# ---------------------------------------------------------------------------
# Audio at the boundary


def test_audio_that_overflows_or_claims_an_absurd_rate_is_refused(tmp_path):
  huge = tmp_path / 'huge.wav'
  sf.write(huge, np.full((500, 2), 3e38, np.float32), 22050, subtype='FLOAT')
  with pytest.raises(audio_io.AudioFileError, match='huge.wav.*too large'):
    audio_io.load_audio(huge, 16000)
  slow = tmp_path / 'one_hz.wav'
  sf.write(slow, np.zeros(500, np.float32), 1, subtype='FLOAT')
  with pytest.raises(audio_io.AudioFileError, match='one_hz.wav.*1 Hz'):
    audio_io.load_audio(slow, 16000)


def test_prepared_data_name_includes_skip_bad_files(tmp_path):
  sf.write(tmp_path / 'a.wav', np.zeros(800), 8000)
  names = {audio_folder.folder_config(str(tmp_path), 8000, skip).name for skip in (False, True)}
  assert len(names) == 2
