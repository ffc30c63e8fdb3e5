"""Tasks: one module per capability, chosen by config.task.

    task = get_task(config)

A module `audiodiff/tasks/<name>.py` that calls `register(name, TaskClass)`
is imported the first time a config names it; `base.Task` documents what a
task owns.
"""

import importlib

from audiodiff.errors import UserError
from audiodiff.tasks.base import DiffusionInputs, SampleRequest, Task

BUILT_IN_TASKS = ('generate', 'vocoder', 'enhance', 'tts', 'autoencoder', 'latent')
_TASKS = {}


def register(name: str, task_class) -> None:
  _TASKS[name] = task_class


def get_task(config) -> Task:
  """The task config.task names, with its config checked."""
  name = config.task
  if name not in _TASKS:
    try:
      importlib.import_module(f'audiodiff.tasks.{name}')
    except ModuleNotFoundError as error:
      if error.name != f'audiodiff.tasks.{name}':
        raise
  if name not in _TASKS:
    raise UserError(f'Unknown config.task={name!r}; valid tasks: '
                     f'{", ".join(sorted(set(BUILT_IN_TASKS) | set(_TASKS)))}.')
  task = _TASKS[name](config)
  task.check_config()
  return task


__all__ = ['get_task', 'register', 'Task', 'DiffusionInputs', 'SampleRequest']
