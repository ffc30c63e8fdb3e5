"""Every config in experiments/configs builds its schedule, model and sampler."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from audiodiff import models, samplers, schedules, tasks

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'experiments', 'configs')
NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CONFIG_DIR, '*.py'))
               if not p.endswith('__init__.py'))


@pytest.mark.parametrize('name', NAMES)
def test_config_builds(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  if config.model.conditioning == 'label' and config.model.num_classes == 0:
    config.model.num_classes = 4
  model = models.get_model(config)
  tasks.check_config(config)
  schedule = schedules.get_schedule(config.diffusion)
  samplers.sampler_from_config(config.sampler, schedule, config.diffusion.prediction)
  length = config.data.segment_length
  x = jax.ShapeDtypeStruct((1, length), jnp.float32)
  cond = None
  if config.model.conditioning == 'label':
    cond = {'label': jax.ShapeDtypeStruct((1,), jnp.int32)}
  elif config.model.conditioning == 'mel':
    cond = {'mel': jax.ShapeDtypeStruct((1, length // config.audio.hop_length,
                                         config.audio.n_mels), jnp.float32)}
  variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x,
                             jax.ShapeDtypeStruct((1,), jnp.float32), cond)
  assert jax.tree.leaves(variables)
