"""What every mode builds from a config: task, model, schedule, sampler,
optimizer, mesh, the initial train state and (for training) the checkpointer."""

import dataclasses
import datetime
import functools
import json
import os
from typing import Any, Optional

import jax
import ml_collections
import optax
from absl import logging

from audiodiff import models, tasks
from audiodiff.run import checkpoint, parallel
from audiodiff.diffusion import samplers, schedules
from audiodiff.run import train_state
from audiodiff.errors import UserError


@dataclasses.dataclass
class Experiment:
  config: ml_collections.ConfigDict
  workdir: str
  task: tasks.Task
  model: Any
  schedule: schedules.Schedule
  sampler: samplers.Sampler
  optimizer: optax.GradientTransformation
  mesh: jax.sharding.Mesh
  _checkpointer: Optional[checkpoint.Checkpointer] = None

  @property
  def checkpointer(self) -> checkpoint.Checkpointer:
    """workdir/checkpoints, opened (and created) on first use."""
    if self._checkpointer is None:
      self._checkpointer = checkpoint.Checkpointer(
          os.path.abspath(os.path.join(self.workdir, 'checkpoints')),
          keep=self.config.train.keep_checkpoints)
    return self._checkpointer

  @functools.cached_property
  def frozen(self):
    """The task's frozen parameters of other models (or None), loaded once."""
    return self.task.load_frozen(self.workdir)

  def init_params(self, rng):
    """Fresh network parameters for the task's example batch."""
    return self.task.init_variables(self.model, rng, self.frozen)

  def init_state(self) -> train_state.TrainState:
    """A fresh state, created directly with replicated shardings."""
    def init(rng):
      params_rng, state_rng = jax.random.split(rng)
      return train_state.create_train_state(self.init_params(params_rng), self.optimizer,
                                            state_rng)

    return jax.jit(init, out_shardings=parallel.replicated(self.mesh))(
        jax.random.PRNGKey(self.config.seed))

  def apply_fn(self, params, x, t, cond, *, rng=None, train: bool = False):
    """The network: x_t [B, ...], t [B], cond -> prediction. With train,
    dropout draws from rng."""
    rngs = {'dropout': rng} if train and rng is not None else None
    return self.model.apply({'params': params}, x, t, cond, train=train, rngs=rngs)

  def network(self, params, *, rng=None, train: bool = False):
    """network(method, *args) -> the model's `method` with these params (a
    task's view of model parts beyond the denoiser, e.g. a text encoder)."""
    rngs = {'dropout': rng} if train and rng is not None else None
    return lambda method, *args: self.model.apply({'params': params}, *args, method=method,
                                                  train=train, rngs=rngs)

  def condition(self, params, cond):
    """cond with per-utterance work done once (a model's `condition`), or as is."""
    if cond is None or not hasattr(self.model, 'condition'):
      return cond
    return self.model.apply({'params': params}, cond, method='condition')


# (field, test, what it must be): checked before anything is created.
_CONFIG_RULES = (
    ('audio.sample_rate', lambda v: 1000 <= v <= 384000, 'an audio rate in [1000, 384000] Hz'),
    ('audio.hop_length', lambda v: v >= 1, '>= 1'),
    ('audio.win_length', lambda v: v >= 1, '>= 1'),
    ('audio.n_mels', lambda v: v >= 1, '>= 1'),
    ('data.segment_length', lambda v: v >= 1, '>= 1 sample'),
    ('data.num_examples', lambda v: v >= 1, '>= 1'),
    ('data.max_text_length', lambda v: v >= 1, '>= 1'),
    ('diffusion.num_steps', lambda v: v >= 1, '>= 1'),
    ('train.num_steps', lambda v: v >= 0, '>= 0'),
    ('train.batch_size', lambda v: v >= 1, '>= 1'),
    ('train.learning_rate', lambda v: 0 < v < float('inf'), 'a positive number'),
    ('train.warmup_steps', lambda v: v >= 0, '>= 0'),
    ('train.grad_clip_norm', lambda v: v > 0, '> 0'),
    ('train.ema_decay', lambda v: 0 <= v < 1, 'in [0, 1)'),
    ('train.divergence_factor', lambda v: v > 1, '> 1'),
    ('train.log_every', lambda v: v >= 1, '>= 1'),
    ('train.eval_every', lambda v: v >= 1, '>= 1'),
    ('train.eval_batches', lambda v: v >= 1, '>= 1'),
    ('train.sample_every', lambda v: v >= 1, '>= 1'),
    ('train.checkpoint_every', lambda v: v >= 1, '>= 1'),
    ('train.keep_checkpoints', lambda v: v >= 1, '>= 1'),
    ('sampler.num_samples', lambda v: v >= 1, '>= 1'),
    ('sampler.temperature', lambda v: v > 0, '> 0'),
    ('restore.taper_ms', lambda v: v >= 0, '>= 0'),
    ('restore.guidance', lambda v: v >= 0, '>= 0 (0: the method\'s default)'),
    ('restore.resample', lambda v: v >= 1, '>= 1'),
    ('restore.jump', lambda v: v >= 1, '>= 1'),
    ('restore.overlap', lambda v: 0 <= v < 0.9, 'in [0, 0.9)'),
    ('restore.batch_windows', lambda v: v >= 1, '>= 1'),
)


def validate_config(config) -> None:
  """Raises a UserError naming the first field out of its range, and the fix."""
  for field, is_valid, requirement in _CONFIG_RULES:
    section, name = field.split('.')
    value = config[section][name]
    if not is_valid(value):
      raise UserError(f'config.{field}={value!r} must be {requirement}; set '
                      f'--config.{field}=<value>.')
  audio = config.audio
  if audio.win_length > audio.n_fft:
    raise UserError(f'config.audio.win_length={audio.win_length} must not exceed '
                    f'config.audio.n_fft={audio.n_fft}.')
  if not 0 <= audio.f_min < audio.f_max:
    raise UserError(f'config.audio needs 0 <= f_min < f_max; got f_min={audio.f_min}, '
                    f'f_max={audio.f_max}.')
  if config.data.normalize not in ('peak', 'loudness', 'none'):
    raise UserError(f"config.data.normalize={config.data.normalize!r} must be 'peak', "
                    "'loudness' or 'none'.")


def build(config, workdir: str, *, resolve: bool = True) -> Experiment:
  """Checks the config and builds every part; writes nothing to disk.

  resolve: fill data-dependent settings (e.g. the class count) from the
  dataset; off when the config comes from a trained run, which has them.
  """
  validate_config(config)
  task = tasks.get_task(config)
  if resolve:
    task.resolve_config()
  schedule = schedules.get_schedule(config.diffusion)
  exp = Experiment(
      config=config, workdir=workdir, task=task,
      model=models.get_model(config, **task.model_inputs()),
      schedule=schedule,
      sampler=samplers.sampler_from_config(config.sampler, schedule,
                                           config.diffusion.prediction),
      optimizer=train_state.make_optimizer(config.train),
      mesh=parallel.make_mesh())
  exp.frozen  # pylint: disable=pointless-statement  (loaded now, never inside a jit trace)
  return exp


def write_config(config, workdir: str, *, history: bool = False) -> None:
  """workdir/config.json, the full resolved config of the run; with history
  also workdir/configs/<UTC start time>.json, one per run started there."""
  if jax.process_index() != 0:
    return
  text = json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)
  paths = [os.path.join(workdir, 'config.json')]
  if history:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')
    paths.append(os.path.join(workdir, 'configs', f'{stamp}.json'))
  for path in paths:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
      f.write(text)
    os.replace(path + '.tmp', path)  # a crash mid-write leaves the old file


def _update(defaults: ml_collections.ConfigDict, saved: dict, prefix: str = 'config') -> None:
  """Writes saved values over defaults; fields the defaults lack (from an
  older version) are skipped with a warning."""
  for key, value in saved.items():
    if key not in defaults:
      logging.warning('%s.%s in the saved config is not a field any more; ignored.',
                      prefix, key)
    elif isinstance(defaults[key], ml_collections.ConfigDict) and isinstance(value, dict):
      _update(defaults[key], value, f'{prefix}.{key}')
    else:
      defaults[key] = value


def read_config(directory: str) -> ml_collections.ConfigDict:
  """The config.json a run or an export wrote, over today's defaults (fields
  added since it was written take their defaults), as a locked ConfigDict."""
  from experiments.configs import base  # pylint: disable=g-import-not-at-top
  path = os.path.join(directory, 'config.json')
  if not os.path.exists(path):
    raise UserError(f'{path} does not exist: {directory} is not a trained run or an '
                    'exported model (pass --config as well, or train first).')
  with open(path) as f:
    saved = json.load(f)
  config = base.get_config()
  with config.unlocked():
    _update(config, saved)
  config.lock()
  return config
