"""End-to-end training runs on tiny configs, through the real entry point."""

import glob
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import tiny

from audiodiff.run import experiment, train
from audiodiff.run import train_state as train_state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, 'experiments', 'main.py')
TINY = os.path.join(ROOT, 'experiments', 'configs', 'tiny.py')


def run_main(workdir, *flags, env=None, check=True, timeout=300):
  """Runs experiments/main.py with the tiny config; returns the process."""
  command = [sys.executable, MAIN, f'--config={TINY}', f'--workdir={workdir}', *flags]
  full_env = {**os.environ, 'JAX_PLATFORMS': 'cpu', **(env or {})}
  result = subprocess.run(command, capture_output=True, text=True, env=full_env,
                          timeout=timeout)
  if check and result.returncode != 0:
    raise AssertionError(f'{command} failed:\n{result.stdout}\n{result.stderr[-4000:]}')
  return result


def losses(stdout):
  """Per-step losses from the progress lines."""
  return np.array([float(line.split('loss ')[1].split()[0])
                   for line in stdout.splitlines()
                   if line.startswith('step ') and 'steps/s' in line])


def final_params(workdir, **overrides):
  config = tiny.get_config()
  for key, value in overrides.items():
    section, name = key.split('.')
    config[section][name] = value
  exp = experiment.build(config, str(workdir))
  state, step = exp.checkpointer.restore_latest(exp.init_state())
  exp.checkpointer.close()
  return state, step


def test_train_writes_outputs_then_sample_and_eval(tmp_path):
  result = run_main(tmp_path, '--config.train.num_steps=2')
  assert 'step 2/2' in result.stdout and 'ETA' in result.stdout
  assert json.load(open(tmp_path / 'config.json'))['model']['name'] == 'diffwave'
  assert glob.glob(str(tmp_path / 'events.out.tfevents.*'))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['1', '2', 'state_spec.json']
  wavs = sorted(glob.glob(str(tmp_path / 'samples' / 'step_2' / '*.wav')))
  pngs = sorted(glob.glob(str(tmp_path / 'samples' / 'step_2' / '*.png')))
  assert len(wavs) == len(pngs) == 2
  run_main(tmp_path, '--mode=sample', '--num_samples=3', '--name=mine',
           '--config.sampler.name=ddim', '--config.sampler.num_steps=5')
  assert len(glob.glob(str(tmp_path / 'samples' / 'mine' / '*.wav'))) == 3
  run_main(tmp_path, '--mode=eval')
  assert np.isfinite(json.load(open(tmp_path / 'eval' / 'step_2.json'))['eval_loss'])


def test_mistyped_config_key_fails_naming_it(tmp_path):
  result = run_main(tmp_path, '--config.train.num_stepz=3', check=False)
  assert result.returncode != 0
  assert 'num_stepz' in result.stderr


def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
  steps = 6
  flags = [f'--config.train.num_steps={steps}', '--config.train.sample_every=100']
  run_main(tmp_path / 'straight', *flags)

  interrupted = tmp_path / 'interrupted'
  command = [sys.executable, MAIN, f'--config={TINY}', f'--workdir={interrupted}',
             *flags, '--config.train.checkpoint_every=2']
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  deadline = time.time() + 240
  while not (interrupted / 'checkpoints' / '2' / 'state').exists():
    assert time.time() < deadline and process.poll() is None
    time.sleep(0.2)
  process.send_signal(signal.SIGKILL)
  process.wait()
  run_main(interrupted, *flags, '--config.train.checkpoint_every=2')

  a, step_a = final_params(tmp_path / 'straight')
  b, step_b = final_params(interrupted)
  assert step_a == step_b == steps
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_corrupt_latest_checkpoint_falls_back(tmp_path, caplog):
  run_main(tmp_path, '--config.train.num_steps=2')
  # Damage every data file of the newest checkpoint.
  for path in glob.glob(str(tmp_path / 'checkpoints' / '2' / 'state' / '**'), recursive=True):
    if os.path.isfile(path) and 'ocdbt' in path or path.endswith('_METADATA'):
      with open(path, 'wb') as f:
        f.write(b'garbage')
  state, step = final_params(tmp_path)
  assert step == 1 and int(state.step) == 1


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  result = run_main(tmp_path, '--config.train.num_steps=6',
                    '--config.train.learning_rate=1e30', '--config.train.grad_clip_norm=1e30',
                    '--config.train.warmup_steps=0', '--config.train.decay=constant',
                    '--config.diffusion.loss=l2',
                    check=False)
  assert result.returncode == 2
  assert 'Training diverged' in result.stderr and 'nothing after it was saved' in result.stderr
  for step in os.listdir(tmp_path / 'checkpoints'):
    state, _ = final_params(tmp_path)
    for leaf in jax.tree.leaves(state.params):
      assert np.all(np.isfinite(leaf))


def test_eight_fake_devices_match_one_device(tmp_path):
  flags = ['--config.train.num_steps=3', '--config.train.log_every=1',
           '--config.train.batch_size=8', '--config.train.sample_every=100']
  one = losses(run_main(tmp_path / 'one', *flags).stdout)
  eight = losses(run_main(tmp_path / 'eight', *flags, env={
      'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}).stdout)
  assert len(one) == 3
  np.testing.assert_allclose(one, eight, rtol=1e-3, atol=1e-4)
  # Gradient accumulation keeps every microbatch sharded over the 8 devices.
  accumulated = losses(run_main(tmp_path / 'eight_accumulated', *flags,
                                '--config.train.batch_size=16', '--config.train.microbatches=2',
                                env={'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}
                                ).stdout)
  assert len(accumulated) == 3 and np.all(np.isfinite(accumulated))


def test_accumulated_gradients_equal_full_batch_gradients():
  rng = np.random.default_rng(0)
  params = {'w': jnp.asarray(rng.standard_normal((3, 2)), jnp.float32)}
  inputs = {'x0': jnp.asarray(rng.standard_normal((8, 3)), jnp.float32),
            'cond': {'label': jnp.arange(8)}}

  def loss_fn(params, batch, rng):
    del rng  # deterministic, so the slices must add up exactly
    per_example = jnp.sum(jnp.tanh(batch['x0'] @ params['w']) ** 2, axis=1)
    per_example = per_example * (1.0 + batch['cond']['label'])
    return jnp.mean(per_example), {'max': jnp.max(per_example)}

  (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, inputs, None)
  (loss4, aux4), grads4 = train.accumulated_value_and_grad(
      loss_fn, params, inputs, jax.random.PRNGKey(0), microbatches=4)
  np.testing.assert_allclose(loss4, loss, rtol=1e-6)
  np.testing.assert_allclose(grads4['w'], grads['w'], rtol=1e-5, atol=1e-7)
  assert aux4['max'].shape == ()


@pytest.mark.parametrize('decay', ['cosine', 'constant'])
def test_learning_rate_moves_from_the_first_update_to_the_last(decay):
  train_config = tiny.get_config().train
  train_config.update(learning_rate=1e-3, warmup_steps=4, num_steps=10, decay=decay)
  rate = train_state_lib.learning_rate_schedule(train_config)
  rates = np.array([float(rate(i)) for i in range(10)])
  np.testing.assert_allclose(rates[:4], 1e-3 * np.arange(1, 5) / 4, rtol=1e-6)
  if decay == 'cosine':  # cos over 7 steps from the peak at update 3, never 0
    np.testing.assert_allclose(rates[3:], 5e-4 * (1 + np.cos(np.pi * np.arange(7) / 7)),
                               rtol=1e-5)
  else:
    np.testing.assert_allclose(rates[3:], 1e-3)
  # A one-step run with one warmup step trains at the peak.
  train_config.update(warmup_steps=1, num_steps=1)
  assert float(train_state_lib.learning_rate_schedule(train_config)(0)) > 0


@pytest.mark.parametrize('microbatches', [3, 0, 16])
def test_microbatches_that_do_not_split_the_batch_are_a_clear_error(microbatches):
  config = tiny.get_config()
  config.train.batch_size, config.train.microbatches = 8, microbatches
  with pytest.raises(ValueError, match='config.train.microbatches'):
    train.check_microbatches(config.train, num_devices=1 if microbatches != 16 else 2)


@pytest.mark.parametrize('config_flags', [
    ['--config.model.name=mlp', '--config.data.segment_length=1024'],
    ['--config.train.compute_dtype=bfloat16'],
    ['--config.train.microbatches=2'],
    ['--config.model.name=unet1d', '--config.model.unet1d.channels=(8, 16)'],
    ['--config.model.diffwave.dropout=0.2'],
    ['--config.generate.class_conditional=False', '--config.sampler.guidance_scale=1',
     '--config.diffusion.prediction=v',
     '--config.sampler.name=dpm_solver', '--config.sampler.num_steps=4'],
])
def test_other_models_and_options_train(tmp_path, config_flags):
  run_main(tmp_path, '--config.train.num_steps=1', *config_flags)
  assert glob.glob(str(tmp_path / 'samples' / 'step_1' / '*.wav'))


def test_two_processes_with_launch_script(tmp_path):
  """launch.sh starts 2 jax.distributed processes that train one model."""
  result = subprocess.run(
      [os.path.join(ROOT, 'launch.sh'), 'local', '2', TINY, str(tmp_path),
       '--config.train.num_steps=2', '--config.train.sample_every=100'],
      capture_output=True, text=True, timeout=300,
      env={**os.environ, 'PYTHON': sys.executable, 'JAX_PLATFORMS': 'cpu'})
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert 'step 2/2' in result.stdout
  iterator_files = os.listdir(tmp_path / 'checkpoints' / '2' / 'data_iter')
  assert {'process_0-of-2.json', 'process_1-of-2.json'} <= set(iterator_files)


def _pid_of_process(index, workdir):
  """The pid of jax.distributed process `index` training in workdir."""
  for entry in os.listdir('/proc'):
    try:
      with open(f'/proc/{entry}/environ', 'rb') as f:
        environ = f.read().split(b'\0')
      with open(f'/proc/{entry}/cmdline', 'rb') as f:
        cmdline = f.read()
    except (OSError, ValueError):
      continue
    if (f'AUDIODIFF_PROCESS_ID={index}'.encode() in environ
        and f'--workdir={workdir}'.encode() in cmdline):
      return int(entry)
  return None


def test_a_signal_to_one_process_stops_all_at_one_checkpoint(tmp_path):
  launch = subprocess.Popen(
      [os.path.join(ROOT, 'launch.sh'), 'local', '2', TINY, str(tmp_path),
       '--config.train.num_steps=100000', '--config.train.log_every=1',
       '--config.train.checkpoint_every=100000', '--config.train.sample_every=100000',
       '--config.train.eval_every=100000'],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
      env={**os.environ, 'PYTHON': sys.executable, 'JAX_PLATFORMS': 'cpu'})
  lines = []
  for line in launch.stdout:
    lines.append(line)
    if line.startswith('step 3/'):
      break
  os.kill(_pid_of_process(1, tmp_path), signal.SIGTERM)  # process 1 only
  output = ''.join(lines) + launch.communicate(timeout=300)[0]
  assert launch.returncode == 128 + signal.SIGTERM  # launch.sh passes on their status
  with open(tmp_path / 'process_1.log') as f:
    other = f.read()
  stopped = [text.split('Stopped by SIGTERM at step ') for text in (output, other)]
  assert all(len(parts) > 1 for parts in stopped), (  # what each process said, if not that
      f'process 0:\n{output[-3000:]}\nprocess 1:\n{other[-3000:]}')
  steps = [int(parts[1].split(':')[0]) for parts in stopped]
  assert steps[0] == steps[1] and steps[0] % train.STOP_AGREEMENT_EVERY == 0, steps
  saved = os.listdir(tmp_path / 'checkpoints' / str(steps[0]) / 'data_iter')
  assert {'process_0-of-2.json', 'process_1-of-2.json'} <= set(saved)


def _dry_sweep(root, *points):
  """launch.sh sweep with DRY_RUN=1: (return code, the '+ ' command lines, stderr)."""
  result = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'sweep', TINY, str(root), *points],
                          capture_output=True, text=True, env={**os.environ, 'DRY_RUN': '1'})
  # Each line is shell-quoted: splitting it as a shell would gives the arguments back.
  lines = [' '.join(shlex.split(l[2:])) for l in result.stdout.splitlines()
           if l.startswith('+ ')]
  return result.returncode, lines, result.stderr


def test_sweep_names_one_workdir_per_point(tmp_path):
  code, lines, stderr = _dry_sweep(tmp_path, 'train.learning_rate=1e-3,3e-4',
                                   'model.diffwave.residual_layers=2,3')
  assert code == 0, stderr
  assert len(lines) == 4
  assert f'--workdir={tmp_path}/train.learning_rate=3e-4_model.diffwave.residual_layers=3' in lines[3]
  assert '--config.model.diffwave.residual_layers=3' in lines[3]


def test_sweep_keeps_commas_inside_brackets(tmp_path):
  code, lines, stderr = _dry_sweep(tmp_path, 'model.unet1d.channels=(32, 64),[64,128]',
                                   'seed=1,2', '--', '--config.model.name=unet1d',
                                   '--config.data.segment_length=1024')
  assert code == 0, stderr
  assert len(lines) == 4
  assert '--config.model.unet1d.channels=(32, 64) --config.seed=1' in lines[0]
  assert f'--workdir={tmp_path}/model.unet1d.channels=[64,128]_seed=2' in lines[3]
  code, _, stderr = _dry_sweep(tmp_path, 'seed=(1,2')
  assert code == 2 and 'unbalanced brackets' in stderr


@pytest.mark.parametrize('points, message', [
    (('seed=1,1',), 'share the work directory'),
    (('seed=1,,2',), 'empty value'),
    (('seed=1,2', '--', '--workdir=elsewhere'), 'own --workdir'),
    (('seed=1,2', '--', '--config.seed=5'), "'seed' is swept; drop '--config.seed=5'"),
    (('seed=1', 'seed=2'), "'seed' is swept twice"),
    (('--config.seed=1,2',), None),  # the flag's prefix is accepted
    (('train.learning_rate=1e-3,1e-3x',), "point 'train.learning_rate=1e-3x' is refused"),
    (('seed=1,2', '--', '--config.train.num_steps=0'), "point 'seed=1' is refused"),
    (('seed=1,2', '--', '--seed=5'), "Unknown command line flag 'seed'"),
    (('train.init_from=/nonexistent-run',), "init_from='/nonexistent-run' is not a directory"),
    (('seed=1', '--', '--config.train.num_steps', '1'), None),
])
def test_sweep_mistakes_stop_before_any_run(tmp_path, points, message):
  code, lines, stderr = _dry_sweep(tmp_path, *points)
  if message is None:
    assert code == 0 and '--config.--config' not in lines[-1], stderr
    assert '--config.seed=2' in lines[-1] or '--config.train.num_steps 1' in lines[-1]
  else:
    assert code == 2 and message in stderr and not lines


def test_sweep_with_an_empty_root_is_refused():
  result = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'sweep', TINY, '', 'seed=1'],
                          capture_output=True, text=True, env={**os.environ, 'DRY_RUN': '1'})
  assert result.returncode == 2 and 'WORKROOT is empty' in result.stderr
  assert '+ ' not in result.stdout


def test_local_launch_with_a_missing_config_makes_no_folder(tmp_path):
  result = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'local', '1', 'nope.py',
                           str(tmp_path / 'run')], capture_output=True, text=True)
  assert result.returncode == 2 and 'nope.py does not exist' in result.stderr
  assert not os.path.exists(tmp_path / 'run')


def test_local_launch_needs_a_process_count(tmp_path):
  result = subprocess.run([os.path.join(ROOT, 'launch.sh'), 'local', 'two', TINY,
                           str(tmp_path / 'run')], capture_output=True, text=True)
  assert result.returncode == 2 and 'whole number >= 1' in result.stderr
  assert not os.path.exists(tmp_path / 'run')


def test_incompatible_config_keeps_existing_checkpoints(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=2')
  before = sorted(os.listdir(tmp_path / 'checkpoints'))
  result = run_main(tmp_path, '--config.train.num_steps=4',
                    '--config.model.diffwave.residual_channels=16', check=False)
  assert result.returncode != 0
  assert 'use a new --workdir' in result.stderr
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == before


def test_an_earlier_checkpoint_is_loaded_and_exported_with_its_own_runs_config(tmp_path):
  run_main(tmp_path, '--config.train.num_steps=2')
  run_main(tmp_path, '--config.train.num_steps=4', '--config.sampler.num_steps=7')
  histories = sorted(os.listdir(tmp_path / 'configs'))
  assert [name.split('-from-step-')[1] for name in histories] == ['0.json', '2.json']
  assert experiment.read_config(str(tmp_path), 2).sampler.num_steps == 4   # tiny.py's
  assert experiment.read_config(str(tmp_path), 3).sampler.num_steps == 7
  assert experiment.read_config(str(tmp_path)).sampler.num_steps == 7

  def export(name, *flags):   # the model's own saved config: no --config
    subprocess.run([sys.executable, MAIN, f'--workdir={tmp_path}', '--mode=export',
                    f'--output={tmp_path / name}', *flags], check=True, capture_output=True,
                   env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, timeout=300)
    return json.load(open(tmp_path / name / 'config.json'))['sampler']

  assert export('latest')['num_steps'] == 7
  assert export('at2', '--checkpoint_step=2')['num_steps'] == 4
  changed = export('changed', '--checkpoint_step=2', '--config.sampler.temperature=0.5')
  assert (changed['num_steps'], changed['temperature']) == (4, 0.5)


def test_two_signals_during_one_long_call_count_as_two():
  """Both arrive while the main thread is inside one C call (as in an XLA
  step); Python runs the handler once, and the second must still quit."""
  stop = train._StopRequest()  # pylint: disable=protected-access
  try:
    def send_twice():
      time.sleep(0.2)
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(0.05)
      os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_twice)
    sender.start()
    with pytest.raises(KeyboardInterrupt):
      np.linalg.svd(np.random.default_rng(0).standard_normal((1500, 1500)))  # ~1 s in LAPACK
      time.sleep(5)   # not reached when the second signal counts
    sender.join()
    assert stop.signal_number is None   # quit at once, not "save after this step"
  finally:
    stop.restore()
