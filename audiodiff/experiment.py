"""What every mode builds from a config: task, model, schedule, sampler,
optimizer, mesh, the initial train state and (for training) the checkpointer."""

import dataclasses
import json
import os
from typing import Any, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from audiodiff import checkpoint, models, parallel, samplers, schedules, tasks
from audiodiff import train_state


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

  def init_params(self, rng):
    """Fresh network parameters for the task's example batch."""
    inputs = self.task.diffusion_inputs(
        jax.tree.map(jnp.asarray, self.task.example_batch()), jax.random.PRNGKey(0),
        train=False, frozen=self.task.load_frozen())
    x0 = inputs.x0
    return self.model.init(rng, x0, jnp.zeros((x0.shape[0],)), inputs.cond)['params']

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

  def condition(self, params, cond):
    """cond with per-utterance work done once (a model's `condition`), or as is."""
    if cond is None or not hasattr(self.model, 'condition'):
      return cond
    return self.model.apply({'params': params}, cond, method='condition')


def build(config, workdir: str, *, resolve: bool = True) -> Experiment:
  """Checks the config and builds every part; writes nothing to disk.

  resolve: fill data-dependent settings (e.g. the class count) from the
  dataset; off when the config comes from a trained run, which has them.
  """
  task = tasks.get_task(config)
  if resolve:
    task.resolve_config()
  schedule = schedules.get_schedule(config.diffusion)
  return Experiment(
      config=config, workdir=workdir, task=task,
      model=models.get_model(config, **task.model_inputs()),
      schedule=schedule,
      sampler=samplers.sampler_from_config(config.sampler, schedule,
                                           config.diffusion.prediction),
      optimizer=train_state.make_optimizer(config.train),
      mesh=parallel.make_mesh())


def write_config(config, workdir: str) -> None:
  """workdir/config.json, the full resolved config of the run."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)


def read_config(directory: str) -> ml_collections.ConfigDict:
  """The config.json a run or an export wrote, as a locked ConfigDict."""
  path = os.path.join(directory, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} does not exist: {directory} is not a trained run '
                            'or an exported model (pass --config as well, or train first).')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  config.lock()
  return config
