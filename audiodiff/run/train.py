"""Training: one jitted, sharded step; the loop with evaluation, samples and
checkpoints."""

import contextlib
import os
import re
import signal
import threading
import time
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from audiodiff import data
from audiodiff.data import pipeline
from audiodiff.run import api, checkpoint, console, evaluation, experiment, health, losses
from audiodiff.run import listening_page, model_card, outputs, parallel, warm_start, workdir_lock
from audiodiff.run import train_state as train_state_lib
from audiodiff.errors import Stopped, UserError
from audiodiff.run.summary import SummaryWriter


def check_microbatches(train_config, num_devices: int):
  """Raises a ValueError unless the batch splits into equal, shardable microbatches."""
  batch, parts = train_config.batch_size, train_config.microbatches
  if batch % num_devices:
    raise UserError(f'config.train.batch_size={batch} must be a multiple of the {num_devices} '
                    f'device(s) it is split over: e.g. --config.train.batch_size='
                    f'{max(1, round(batch / num_devices)) * num_devices}.')
  if parts < 1 or batch % parts or (batch // parts) % num_devices:
    divisors = [d for d in range(1, batch + 1) if batch % d == 0 and (batch // d) % num_devices == 0]
    raise UserError(
        f'config.train.microbatches={parts} must divide config.train.batch_size={batch} '
        f'into microbatches divisible by the {num_devices} device(s): one of '
        f'{", ".join(map(str, divisors))} (1 turns gradient accumulation off).')


def accumulated_value_and_grad(loss_fn, params, batch, rng, microbatches: int):
  """Mean loss, metrics and gradients of loss_fn over `microbatches` equal slices.

  loss_fn(params, batch, rng) -> (loss, metrics). Gives the full batch's
  update (the loss is a batch mean) while holding one slice's activations at
  a time: less memory, and on CPU a faster step for large models
  (benchmarks/README.md). Microbatch i takes examples i, i + k, i + 2k, ...
  (k = microbatches), so with the batch sharded over devices every
  microbatch is too.
  """
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  if microbatches == 1:
    return grad_fn(params, batch, rng)

  def split(x):
    x = x.reshape(x.shape[0] // microbatches, microbatches, *x.shape[1:])
    return jnp.moveaxis(x, 1, 0)

  def accumulate(totals, sliced):
    i, part = sliced
    (loss, aux), grads = grad_fn(params, part, jax.random.fold_in(rng, i))
    return jax.tree.map(jnp.add, totals, ((loss, aux), grads)), None

  slices = (jnp.arange(microbatches), jax.tree.map(split, batch))
  shapes = jax.eval_shape(grad_fn, params, jax.tree.map(lambda x: x[0], slices[1]), rng)
  zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  totals, _ = jax.lax.scan(accumulate, zeros, slices)
  return jax.tree.map(lambda x: x / microbatches, totals)


def make_train_step(exp: experiment.Experiment):
  """Returns jitted step(state, batch, frozen) -> (state, metrics); state is
  donated. frozen: the task's frozen parameters of other models (or None)."""
  config = exp.config
  check_microbatches(config.train, exp.mesh.size)
  loss_fn = losses.make_loss_fn(exp)
  learning_rate = train_state_lib.learning_rate_schedule(config.train)

  def step(state, batch, frozen):
    rng = jax.random.fold_in(state.rng, state.step)
    (loss, metrics), grads = accumulated_value_and_grad(
        lambda p, b, r: loss_fn(p, b, r, train=True, frozen=frozen, step=state.step),
        state.params, batch, rng, config.train.microbatches)
    updates, opt_state = exp.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # EMA warm-up: short runs should not sample from near-initial weights.
    decay = jnp.minimum(config.train.ema_decay, (1.0 + state.step) / (10.0 + state.step))
    new_state = state.replace(
        step=state.step + 1, params=params, opt_state=opt_state,
        ema_params=train_state_lib.ema_update(state.ema_params, params, decay))
    metrics = {**metrics, 'loss': loss, 'grad_norm': optax.tree.norm(grads),
               'update_norm': optax.tree.norm(updates),
               'param_norm': optax.tree.norm(params),
               'learning_rate': learning_rate(state.step)}
    return new_state, metrics

  replicated = parallel.replicated(exp.mesh)
  return jax.jit(step, in_shardings=(replicated, parallel.data_sharding(exp.mesh), replicated),
                 out_shardings=(replicated, replicated), donate_argnums=(0,))


def write_samples(exp, trained, step: int, reference_batch, writer):
  """Samples at `step` -> workdir/samples/step_<step>/<name>.{wav,png}."""
  config = exp.config
  audio, request = trained.sample(config.sampler.num_samples, seed=config.seed + step,
                                  reference_batch=reference_batch)
  if jax.process_index() == 0:
    directory = os.path.join(exp.workdir, 'samples', f'step_{step}')
    # An early model's clips may be anything: written as they are, but those
    # above full scale scaled to fit (the 16-bit writer would clip them).
    fitted = [outputs.scaled_to_fit(np.nan_to_num(clip, posinf=0.0, neginf=0.0))
              for clip in np.asarray(audio, np.float32)]
    audio = np.stack([clip for clip, _ in fitted])
    loud = sum(peak > 1.0 for _, peak in fitted)
    outputs.write_audio_files(directory, audio, request.names, config.audio, check=False)
    for clip, name in zip(audio, request.names):
      writer.audio(f'samples/{name}', clip, step, config.audio.sample_rate)
      writer.image(f'samples/{name}', os.path.join(directory, f'{name}.png'), step)
    listening_page.write_folder_page(directory, title=f'step {step}')
    listening_page.write_run_page(exp.workdir)
    console.say(f'step {step}: wrote {len(audio)} samples to {directory}'
                + (f' ({loud} peaking above full scale, scaled to fit)' if loud else ''))


def _progress_line(step, num_steps, metrics, steps_per_second):
  eta = (num_steps - step) / max(steps_per_second, 1e-9)
  return (f'step {step}/{num_steps}  loss {metrics["loss"]:.4f}  '
          f'grad_norm {metrics["grad_norm"]:.3f}  lr {metrics["learning_rate"]:.2e}  '
          f'{steps_per_second:.2f} steps/s  ETA {time.strftime("%H:%M:%S", time.gmtime(eta))}')


def train_and_evaluate(config, workdir: str) -> train_state_lib.TrainState:
  """Trains config.train.num_steps steps, resuming from workdir's checkpoints.

  Holds workdir's lock for the whole run (one run per work directory).
  Writes to workdir: config.json (and configs/<start>-from-step-<N>.json) once the
  config validated and the checkpoints fit, TensorBoard events, checkpoints/,
  samples/step_<N>/. Stops with a DivergenceError when the run diverges,
  keeping only checkpoints of healthy states.
  """
  if jax.process_index() == 0:
    check_not_a_model(workdir)
    outputs.writable_directory(workdir, 'give a writable --workdir.')
  check_resumed_settings(workdir, config)
  exp = api.build(config, workdir)
  check_microbatches(config.train, exp.mesh.size)
  lock = (workdir_lock.WorkdirLock(workdir) if jax.process_index() == 0
          else contextlib.nullcontext())
  with lock:
    try:
      return _train(exp)
    finally:
      # Also on errors: finish writing the last good checkpoint and stop
      # Orbax's threads before exiting.
      exp.checkpointer.close()


# Fixed for a run's life beside api.TRAINED_SETTINGS: the optimizer state
# in its checkpoints is laid out by which parameters train.
_RESUME_FIXED = ('train.trainable',)


def check_resumed_settings(workdir: str, config) -> None:
  """A UserError when a run with checkpoints would resume with another value
  of a setting training fixes (api.TRAINED_SETTINGS: the task, the audio
  format, the noise schedule, ...): its checkpoints learned the saved one."""
  steps = checkpoint.saved_steps(os.path.join(workdir, 'checkpoints'))
  try:
    saved = experiment.flat_config(experiment.read_config(workdir)) if steps else {}
  except UserError:
    return   # no readable config.json: the checkpoints' shapes are still checked
  now = experiment.flat_config(config)
  for key in sorted(saved):
    if (api.is_trained_setting(key) or key in _RESUME_FIXED) and saved[key] != now.get(key):
      raise UserError(f'config.{key}={now.get(key)!r}, but the checkpoints in {workdir} (step '
                      f'{steps[-1]}) were trained with {saved[key]!r}, and training fixes it; '
                      f'drop --config.{key} to resume, or train into a new --workdir '
                      f'(--config.train.init_from={workdir} starts from these weights).')


def check_not_a_model(workdir: str) -> None:
  """A UserError when `workdir` holds an exported model, or a config.json
  that is not a training run's: training would overwrite it."""
  if os.path.exists(os.path.join(workdir, api.PARAMS_FILE)):
    raise UserError(f'--workdir={workdir} is an exported model; training would overwrite its '
                    'config.json. Train into a new folder, starting from it with '
                    f'--config.train.init_from={workdir}.')
  if (os.path.exists(os.path.join(workdir, 'config.json'))
      and not os.path.isdir(os.path.join(workdir, 'checkpoints'))
      and not os.path.isdir(os.path.join(workdir, 'configs'))):
    raise UserError(f'--workdir={workdir} holds a config.json that is not a training run\'s; '
                    'training would overwrite it. Give a new folder with --workdir=DIR.')


def _train(exp):
  config, workdir = exp.config, exp.workdir
  frozen = exp.frozen
  train_iter = iter(data.get_dataset(config, 'train', features=exp.task.features,
                                     mesh=exp.mesh, transforms=exp.task.data_transforms('train')))
  builder = pipeline.get_builder(config)
  examples = len(builder.as_data_source(split='train'))
  if config.train.batch_size > examples:
    console.say(f'config.train.batch_size={config.train.batch_size} is more than the '
                f'{examples} training examples: every batch repeats examples (and needs the '
                'memory of the whole batch).')
  state = exp.init_state()
  restored, restored_step = exp.checkpointer.restore_latest(state, train_iter)
  if restored is not None:
    _init_from_on_resume(workdir, config, restored_step)
    changes = changed_settings(workdir, config)
    if changes:
      console.say(f'Resuming with changed settings: {changes} (the run no longer matches '
                  'an uninterrupted one).')
    if restored_step >= config.train.num_steps:
      console.say(f'The run is at step {restored_step}, config.train.num_steps='
                  f'{config.train.num_steps}: nothing to train (raise '
                  '--config.train.num_steps to go on); config.json is left as it was.')
    state = restored
    console.say(f'Resumed from the checkpoint at step {restored_step} in {workdir}.')
  elif config.train.init_from:
    state, summary = warm_start.warm_start(state, config.train.init_from,
                                           config.train.init_exclude, config)
    console.say(summary)
  if restored is None or restored_step < config.train.num_steps:
    experiment.write_config(config, workdir,
                            start_step=0 if restored is None else restored_step)
  num_params = sum(x.size for x in jax.tree.leaves(state.params))
  console.say(f'Task {exp.task.name}, model {config.model.name} '
              f'({num_params / 1e6:.2f} M parameters), sampler {exp.sampler.describe()}; '
              f'workdir {workdir}')
  if config.train.trainable:
    pattern = re.compile(config.train.trainable)
    trained = sum(leaf.size for name, leaf in warm_start.flat_params(state.params).items()
                  if pattern.search(name))
    console.say(f'{trained / 1e6:.2f} M of them train (config.train.trainable='
                f'{config.train.trainable!r}); the rest keep their values.')

  train_step = make_train_step(exp)
  eval_step = evaluation.make_eval_step(exp)
  trained = api.Trained(exp, state.ema_params, int(state.step))
  reference_batch = (evaluation.reference_batches(exp, 1)[0]
                     if exp.task.needs_reference() else None)
  writer = SummaryWriter(workdir)
  try:
    return _train_loop(exp, state, train_iter, train_step, eval_step, trained,
                       reference_batch, writer, frozen, pipeline.data_version(builder))
  finally:
    writer.close()


def check(config, workdir: Optional[str]) -> None:
  """What training checks before its first step (--mode=check), writing
  nothing: the config, the other trained runs the task reads, that the
  run's checkpoints fit the model (by their recorded shapes), and
  config.train.init_from (a run or export; not on a run with checkpoints)."""
  exp = experiment.build(config, None)
  api.load_frozen_runs(exp.task, workdir)
  shapes = jax.eval_shape(exp.init_state)   # also matches config.train.trainable
  if config.train.init_from:
    warm_start.check_fresh_parameters_train(shapes.params, config.train.init_exclude,
                                            config.train.trainable)
  if not workdir:   # the settings alone
    if config.train.init_from:
      warm_start.check_source(config.train.init_from)
    return
  checkpoints = os.path.join(workdir, 'checkpoints')
  steps = checkpoint.saved_steps(checkpoints)
  if steps:
    check_resumed_settings(workdir, config)
    _init_from_on_resume(workdir, config, steps[-1])
    checkpoint.check_fits(checkpoints, shapes)
  elif config.train.init_from:
    warm_start.check_source(config.train.init_from)


def _init_from_on_resume(workdir: str, config, step: int) -> None:
  """A UserError for an init_from this run did not start from: a run with
  checkpoints resumes from them and would never read it. Without one, the
  run keeps the init_from it started from (its config still says so)."""
  try:
    started_from = experiment.read_config(workdir).train.init_from
  except UserError:
    started_from = ''
  if not config.train.init_from and started_from:
    config.train.init_from = started_from   # resuming: the run still says where it began
  if config.train.init_from and config.train.init_from != started_from:
    raise UserError(f'config.train.init_from={config.train.init_from!r}: {workdir} already '
                    f'has checkpoints (step {step}), which training resumes from, so it would '
                    'not be read; give a new --workdir to start from it, or drop it to resume.')


def changed_settings(workdir: str, config, limit: int = 6) -> str:
  """'' or 'train.batch_size 4 -> 3, ...': the fields that differ from the
  run's saved config.json (at most `limit` named)."""
  try:
    saved = experiment.flat_config(experiment.read_config(workdir))
  except UserError:
    return ''
  now = experiment.flat_config(config)
  changed = [f'{key} {saved[key]!r} -> {now[key]!r}' for key in sorted(now)
             if key in saved and saved[key] != now[key]]
  more = f' and {len(changed) - limit} more' if len(changed) > limit else ''
  return ', '.join(changed[:limit]) + more


def _divergence_message(exp, step, problem, metrics):
  exp.checkpointer.wait()
  kept = exp.checkpointer.all_steps()
  train_config = exp.config.train
  figures = ', '.join(f'{k} {float(metrics[k]):.3g}'
                      for k in ('loss', 'grad_norm', 'param_norm'))
  kept = (f'the last healthy checkpoint, step {kept[-1]}, is kept in {exp.workdir}/checkpoints'
          if kept else 'no checkpoint had been written yet')
  return (f'Training diverged at step {step}: {problem} ({figures}); {kept} and nothing '
          f'after it was saved. Lower config.train.learning_rate (now '
          f'{train_config.learning_rate:g}), keep config.train.grad_clip_norm small (now '
          f'{train_config.grad_clip_norm:g}), or check the data for NaN/inf.')


# On several processes, how often (in steps) they agree whether any was signalled.
STOP_AGREEMENT_EVERY = 10


class _StopRequest:
  """Ctrl-C (SIGINT) and SIGTERM set `signal_number` instead of interrupting,
  so the loop stops between steps, with the state whole (a step donates it).
  On several processes a signal to any one stops them all at the same step
  (`agreed`), since each checkpoint needs every process."""

  def __init__(self):
    self.signal_number = None
    self._previous = {}
    self._pipe = None
    if threading.current_thread() is threading.main_thread():
      # Signals that arrive while a step runs inside XLA reach Python as one
      # handler call; the wakeup pipe gets a byte for each, so none is lost.
      self._pipe = os.pipe()
      for fd in self._pipe:
        os.set_blocking(fd, False)
      self._previous_fd = signal.set_wakeup_fd(self._pipe[1], warn_on_full_buffer=False)
      for number in (signal.SIGINT, signal.SIGTERM):
        self._previous[number] = signal.signal(number, self._request)

  def restore(self):
    """Puts back the handlers (and wakeup fd) that were there before."""
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    if self._pipe is not None:
      signal.set_wakeup_fd(self._previous_fd)
      for fd in self._pipe:
        os.close(fd)
      self._pipe = None

  def _arrived(self) -> int:
    """How many stop signals arrived since the last call (at least one)."""
    try:
      data = os.read(self._pipe[0], 4096) if self._pipe is not None else b''
    except BlockingIOError:
      data = b''
    return max(1, sum(byte in (signal.SIGINT, signal.SIGTERM) for byte in data))

  def agreed(self, step: int):
    """The signal to stop on before `step`, or None. A single process stops
    on its own signal at once; several share theirs every
    STOP_AGREEMENT_EVERY steps, so all stop at the same step."""
    if jax.process_count() == 1:
      return self.signal_number
    if step % STOP_AGREEMENT_EVERY:
      return None
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    numbers = multihost_utils.process_allgather(np.int32(self.signal_number or 0))
    number = int(np.max(numbers))
    return number or None

  def _request(self, number, frame):
    if self.signal_number is not None or self._arrived() > 1:  # a second: stop now
      previous = self._previous.get(number)
      if callable(previous):
        previous(number, frame)
      raise KeyboardInterrupt
    self.signal_number = number
    again = 'press Ctrl-C again' if number == signal.SIGINT else 'send it again'
    console.say(f'{signal.Signals(number).name}: saving a checkpoint after this step '
                f'({again} to quit without it).')


def _stop(exp, step, state, train_iter, number):
  """Saves the state at `step` (unless saved there already) and raises Stopped;
  further signals are ignored while it saves, so the checkpoint is whole."""
  for signal_number in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signal_number, signal.SIG_IGN)
  if step not in exp.checkpointer.all_steps():
    exp.checkpointer.save(step, state, train_iter)
  exp.checkpointer.wait()
  raise Stopped(f'Stopped by {signal.Signals(number).name} at step {step}: the checkpoint of '
                f'step {step} is in {exp.workdir}/checkpoints. Run the same command to '
                'resume from it.', number)


def _train_loop(exp, state, train_iter, train_step, eval_step, trained,
                reference_batch, writer, frozen, data_version):
  stop = _StopRequest()
  try:
    return _steps(exp, state, train_iter, train_step, eval_step, trained, reference_batch,
                  writer, frozen, stop, data_version)
  finally:
    stop.restore()


def _steps(exp, state, train_iter, train_step, eval_step, trained, reference_batch, writer,
           frozen, stop, data_version):
  """The training steps from state.step to config.train.num_steps."""
  config = exp.config
  step = int(state.step)
  num_steps = config.train.num_steps
  monitor = health.DivergenceMonitor(config.train.divergence_factor)
  monitor.start(float(optax.tree.norm(state.params)))
  clock = model_card.TrainingClock(exp.workdir, data_version, step)
  if step < num_steps and clock.earlier_data not in (None, clock.info['data_version']):
    console.say(f'The prepared training data differ from what this run last trained on '
                f'({clock.earlier_data} -> {clock.info["data_version"]}: a changed config.data '
                'or config.audio setting, or changed files): training goes on with these.')
  last_time, last_step = time.time(), step
  while step < num_steps:
    number = stop.agreed(step)
    if number is not None:
      _stop(exp, step, state, train_iter, number)
    batch = data.make_global_batch(next(train_iter), exp.mesh)
    state, metrics = train_step(state, batch, frozen)
    step += 1
    checked = jax.device_get({k: metrics[k] for k in ('loss', 'grad_norm', 'param_norm')})
    problem = monitor.check(checked)
    if problem:
      raise health.DivergenceError(_divergence_message(exp, step, problem, checked))
    if step % config.train.log_every == 0 or step == num_steps:
      metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
      now = time.time()
      metrics['steps_per_second'] = (step - last_step) / (now - last_time)
      last_time, last_step = now, step
      writer.scalars(metrics, step)
      if jax.process_index() == 0:
        print(_progress_line(step, num_steps, metrics, metrics['steps_per_second']),
              flush=True)
    eval_loss = None
    if step % config.train.eval_every == 0 or step == num_steps:
      eval_metrics = evaluation.evaluate_loss(exp, eval_step, state.ema_params, frozen)
      eval_loss = eval_metrics['loss']
      writer.scalars({f'eval/{k}': v for k, v in eval_metrics.items()}, step)
      terms = '  '.join(f'{k} {v:.4f}' for k, v in eval_metrics.items() if k != 'loss')
      console.say(f'step {step}: eval loss (EMA) {eval_loss:.4f}  ({terms})')
      if step == num_steps:
        writer.hparams(config, {f'eval/{k}': v for k, v in eval_metrics.items()})
    if step % config.train.checkpoint_every == 0 or step == num_steps:
      # Saved after the step's batch was drawn, so a resumed run continues
      # with the next batch.
      exp.checkpointer.save(step, state, train_iter, eval_loss)
      clock.record(step)
    if step % config.train.sample_every == 0 or step == num_steps:
      trained.params, trained.step = state.ema_params, step
      write_samples(exp, trained, step, reference_batch, writer)
  return state
