"""Every config in experiments/configs builds its task, schedule, model and sampler."""

import glob
import importlib
import json
import os

import jax
import jax.numpy as jnp
import pytest

from audiodiff import models, tasks
from audiodiff.diffusion import samplers, schedules
from audiodiff.run import api, experiment
from audiodiff import defaults

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
  frozen = task.attach_frozen(api.load_frozen_runs(task, ROOT), ROOT)  # e.g. a predictor
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


# ---------------------------------------------------------------------------
# Configs written before each model read its own section still load.

PRETRAINED_CONFIGS = sorted(os.path.dirname(p) for p in glob.glob(
    os.path.join(ROOT, 'pretrained', '**', 'config.json'), recursive=True))


def _field(config, path):
  for part in path.split('.'):
    config = config[part]
  return config


def test_legacy_model_fields_are_translated():
  saved = {'model': {'name': 'unet1d', 'unet_channels': [8, 16], 'unet_downsample': 2,
                     'residual_layers': 3, 'diffwave_layers': 'scan', 'mlp_hidden': 7,
                     'ae_strides': [2, 2], 'ae_discriminator': True, 'dropout': 0.1,
                     'embedding_dim': 32},
           'tts': {'symbols': 'characters', 'encoder_heads': 4, 'attention_window': 2,
                   'duration_channels': 24}}
  before = json.dumps(saved)
  assert experiment.translate_legacy(saved) == {
      'model': {'name': 'unet1d',
                'unet1d': {'channels': [8, 16], 'downsample': 2, 'dropout': 0.1,
                           'embedding_dim': 32},
                'diffwave': {'residual_layers': 3, 'formulation': 'scan', 'dropout': 0.1,
                             'embedding_dim': 32},
                'mlp': {'hidden': 7, 'dropout': 0.1, 'embedding_dim': 32},
                'autoencoder': {'strides': [2, 2], 'adversarial': True},
                'grad_tts': {'heads': 4, 'window': 2, 'duration_channels': 24}},
      'tts': {'symbols': 'characters'}}
  assert json.dumps(saved) == before   # the caller's dict is left as it was
  today = defaults.get_config()
  for old, new_fields in experiment.LEGACY_FIELDS.items():
    section, field = old.split('.')
    assert field not in today[section], old
    for new in new_fields:
      _field(today, new)   # a field of today's defaults


@pytest.mark.parametrize('directory', PRETRAINED_CONFIGS,
                         ids=lambda d: os.path.relpath(d, os.path.join(ROOT, 'pretrained')))
def test_shipped_configs_read_into_model_sections(directory):
  """Every pretrained/**/config.json reads into today's sections (the old
  flat model fields each in its new place) and builds its model."""
  with open(os.path.join(directory, 'config.json')) as f:
    saved = json.load(f)
  config = experiment.read_config(directory)
  assert config.model.name == saved['model']['name']
  moved = 0
  for old, new_fields in experiment.LEGACY_FIELDS.items():
    section, field = old.split('.')
    if field in saved.get(section, {}):
      value = saved[section][field]
      for new in new_fields:
        read = _field(config, new)
        assert (tuple(read) == tuple(value)) if isinstance(value, list) else read == value
        moved += 1
  # Newer exports are written in today's sections: the model's own one.
  assert moved or config.model.name in saved['model'], directory
  models.get_model(config, **tasks.get_task(config).model_inputs())
