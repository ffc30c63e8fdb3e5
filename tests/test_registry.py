"""One registry convention: a decorator, lazy import by name, an error that
lists the known names."""

import subprocess
import sys

import pytest

from audiodiff import models, tasks
from audiodiff.data import pipeline
from audiodiff.diffusion import samplers, schedules
from audiodiff.errors import UserError
from audiodiff.registry import Registry


def test_register_get_and_list():
  registry = Registry('config.thing')

  @registry.register('b')
  def make_b():
    return 'b'

  @registry.register('a')
  class A:  # pylint: disable=unused-variable
    pass

  assert registry.get('b') is make_b and 'a' in registry and 'c' not in registry
  assert registry.names() == ['a', 'b']
  with pytest.raises(UserError, match=r"Unknown config.thing='c'; valid names: a, b\."):
    registry.get('c')
  with pytest.raises(ValueError, match='registered twice'):
    registry.register('b')(lambda: None)


def test_a_package_module_is_imported_on_first_use():
  """config.task='tts' imports audiodiff.tasks.tts, which registers itself."""
  code = ('import sys\n'
          'from audiodiff import tasks\n'
          "assert 'audiodiff.tasks.tts' not in sys.modules\n"
          "assert tasks.TASKS.get('tts').__module__ == 'audiodiff.tasks.tts'\n"
          "assert 'nope' not in tasks.TASKS and 'not a name' not in tasks.TASKS\n")
  subprocess.run([sys.executable, '-c', code], check=True)


@pytest.mark.parametrize('registry, names', [
    (tasks.TASKS, ('autoencoder', 'enhance', 'generate', 'latent', 'tts', 'vocoder')),
    (pipeline.DATASETS, ('audio_folder', 'flite_speech', 'midi_music', 'real_speech',
                         'synthetic_notes', 'tfds:<catalog name>')),
    (models.MODELS, ('autoencoder', 'diffwave', 'mlp', 'unet1d')),
    (samplers.SAMPLERS, ('ddim', 'ddpm', 'dpm_solver', 'fast', 'heun')),
    (schedules.SCHEDULES, ('cosine', 'explicit', 'linear', 'sigmoid')),
], ids=lambda r: r.field if isinstance(r, Registry) else '')
def test_every_registry_knows_its_built_in_names(registry, names):
  assert set(names) <= set(registry.names())
  with pytest.raises(UserError, match=f"Unknown {registry.field}='nope'; valid names: .*"
                                      + '.*'.join(names[-2:])):
    registry.get('nope')
