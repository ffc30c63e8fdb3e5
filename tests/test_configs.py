"""Every config in experiments/configs builds its task, schedule, model and sampler."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from audiodiff import models, samplers, schedules, tasks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'experiments', 'configs')
NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CONFIG_DIR, '*.py'))
               if not p.endswith('__init__.py'))


@pytest.mark.parametrize('name', NAMES)
def test_config_builds(name):
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  if config.generate.class_conditional and config.generate.num_classes == 0:
    config.generate.num_classes = 4   # resolved from the dataset in a real run
  task = tasks.get_task(config)
  model = models.get_model(config, **task.model_inputs())
  schedule = schedules.get_schedule(config.diffusion)
  samplers.sampler_from_config(config.sampler, schedule, config.diffusion.prediction)
  frozen = task.load_frozen(ROOT)  # e.g. enhance_cpu's shipped predictor
  inputs = jax.eval_shape(
      lambda b: task.diffusion_inputs(b, jax.random.PRNGKey(0), train=False, frozen=frozen),
      task.example_batch())
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), inputs.x0,
                             jax.ShapeDtypeStruct((1,), jnp.float32), inputs.cond)
  assert jax.tree.leaves(variables)
