"""What every mode builds from a config: model, schedule, optimizer, mesh,
an initial train state and the checkpointer."""

import dataclasses
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax

from audiodiff import checkpoint, data, models, parallel, schedules, tasks, train_state


@dataclasses.dataclass
class Experiment:
  config: ml_collections.ConfigDict
  workdir: str
  model: Any
  schedule: schedules.Schedule
  optimizer: optax.GradientTransformation
  mesh: jax.sharding.Mesh
  checkpointer: checkpoint.Checkpointer

  def init_state(self) -> train_state.TrainState:
    """A fresh state, created directly with replicated shardings."""
    config = self.config
    length = config.data.segment_length
    x = jnp.zeros((1, length), jnp.float32)
    batch = {'audio': x, 'label': jnp.zeros((1,), jnp.int32)}
    inputs = tasks.model_inputs(config, batch, jax.random.PRNGKey(0), train=False)

    def init(rng):
      params_rng, state_rng = jax.random.split(rng)
      params = self.model.init(params_rng, inputs['x0'], jnp.zeros((1,)),
                               inputs['cond'])['params']
      return train_state.create_train_state(params, self.optimizer, state_rng)

    return jax.jit(init, out_shardings=parallel.replicated(self.mesh))(
        jax.random.PRNGKey(config.seed))

  def apply_fn(self, params, x, t, cond):
    return self.model.apply({'params': params}, x, t, cond)


def resolve_num_classes(config) -> None:
  """Label conditioning with num_classes=0 takes the dataset's class count."""
  if config.model.conditioning == 'label' and config.model.num_classes == 0:
    with config.unlocked():
      config.model.num_classes = data.num_classes(config)


def build(config, workdir: str) -> Experiment:
  resolve_num_classes(config)
  model = models.get_model(config)
  tasks.check_config(config)
  return Experiment(
      config=config, workdir=workdir, model=model,
      schedule=schedules.get_schedule(config.diffusion),
      optimizer=train_state.make_optimizer(config.train),
      mesh=parallel.make_mesh(),
      checkpointer=checkpoint.Checkpointer(
          os.path.abspath(os.path.join(workdir, 'checkpoints')),
          keep=config.train.keep_checkpoints))


def write_config(config, workdir: str) -> None:
  """workdir/config.json, the full resolved config of the run."""
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)
