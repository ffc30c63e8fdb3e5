"""Tasks: one module per capability, chosen by config.task.

    task = get_task(config)

A module `audiodiff/tasks/<name>.py` whose task class carries
`@tasks.TASKS.register('<name>')` is imported the first time a config names
it; `base.Task` documents what a task owns.
"""

from audiodiff.registry import Registry
from audiodiff.tasks.base import DiffusionInputs, SampleRequest, Task

TASKS = Registry('config.task', package='audiodiff.tasks')


def get_task(config) -> Task:
  """The task config.task names, with its config checked."""
  task = TASKS.get(config.task)(config)
  task.check_config()
  return task


__all__ = ['get_task', 'TASKS', 'Task', 'DiffusionInputs', 'SampleRequest']
