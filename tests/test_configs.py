"""Every config in experiments/configs builds its task, schedule, model and sampler."""

import glob
import importlib
import os

import jax
import jax.numpy as jnp
import pytest

from audiodiff import models, tasks
from audiodiff.diffusion import samplers, schedules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(ROOT, 'experiments', 'configs')
SHIPPED_AUTOENCODER = 'pretrained/music_latent_cpu/autoencoder'
NAMES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CONFIG_DIR, '*.py'))
               if not p.endswith('__init__.py'))


@pytest.mark.parametrize('name', NAMES)
def test_config_builds(name):
  config = importlib.import_module(f'experiments.configs.{name}').get_config()
  for section in ('generate', 'latent'):
    if config[section].class_conditional and config[section].num_classes == 0:
      config[section].num_classes = 4   # resolved from the dataset in a real run
  if config.task == 'latent' and not os.path.exists(config.latent.autoencoder_workdir):
    # A GPU recipe's own autoencoder is trained first; build on the shipped one.
    config.latent.autoencoder_workdir = os.path.join(ROOT, SHIPPED_AUTOENCODER)
  task = tasks.get_task(config)
  model = models.get_model(config, **task.model_inputs())
  schedule = schedules.get_schedule(config.diffusion)
  samplers.sampler_from_config(config.sampler, schedule, config.diffusion.prediction)
  frozen = task.load_frozen(ROOT)  # e.g. enhance_cpu's shipped predictor
  params = jax.eval_shape(lambda rng: task.init_variables(model, rng, frozen),
                          jax.random.PRNGKey(0))
  assert jax.tree.leaves(params)

  def inputs_and_output(params, batch):
    network = lambda method, *args: model.apply({'params': params}, *args, method=method)
    inputs = task.diffusion_inputs(batch, jax.random.PRNGKey(0), train=False, frozen=frozen,
                                   network=network)
    t = jnp.zeros((inputs.x0.shape[0],))
    return inputs, model.apply({'params': params}, inputs.x0, t, inputs.cond)

  inputs, output = jax.eval_shape(inputs_and_output, params, task.example_batch())
  assert output.shape == inputs.x0.shape
