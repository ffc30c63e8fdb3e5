"""Names a config chooses from: tasks, datasets, models, samplers, schedules.

    TASKS = Registry('config.task', package='audiodiff.tasks')

    @TASKS.register('generate')
    class Generate(base.Task): ...

    TASKS.get(config.task)        # the class; a UserError lists the known names

With a package, the module `<package>.<name>` is imported the first time
`<name>` is asked for, so a registry needs no list of its members and its
members import the registry, not the other way round.
"""

import importlib
import pkgutil
from typing import Callable, Iterable, Optional

from audiodiff.errors import UserError


class Registry:
  """Names -> classes or functions, filled by the `register` decorator.

  Args:
    field: the config field that holds a name (for errors), e.g. 'config.task'.
    package: a package whose module `<package>.<name>` registers `<name>`.
    also: values the caller accepts beside the registered names (for errors),
      e.g. 'tfds:<catalog name>'.
  """

  def __init__(self, field: str, *, package: Optional[str] = None, also: Iterable[str] = ()):
    self.field = field
    self.package = package
    self.also = tuple(also)
    self._entries = {}

  def register(self, name: str) -> Callable:
    """Decorator: `@REGISTRY.register('name')` on a class or function."""
    def add(entry):
      if self._entries.get(name, entry) is not entry:
        raise ValueError(f'{self.field}={name!r} is registered twice: '
                         f'{self._entries[name]!r} and {entry!r}.')
      self._entries[name] = entry
      return entry
    return add

  def __contains__(self, name: str) -> bool:
    self._import(name)
    return name in self._entries

  def get(self, name: str):
    """The entry registered as `name`; a UserError naming the field and the
    known names otherwise."""
    if name not in self:
      raise UserError(f'Unknown {self.field}={name!r}; valid names: '
                      f'{", ".join(self.names())}.')
    return self._entries[name]

  def names(self) -> list:
    """Every known name (with a package, after importing all its modules)."""
    if self.package:
      for module in pkgutil.iter_modules(importlib.import_module(self.package).__path__):
        self._import(module.name)
    return sorted(self._entries) + list(self.also)

  def _import(self, name: str) -> None:
    """Imports <package>.<name>, which registers itself; none is fine."""
    if not self.package or name in self._entries or not str(name).isidentifier():
      return
    module = f'{self.package}.{name}'
    try:
      importlib.import_module(module)
    except ModuleNotFoundError as error:
      if error.name != module:  # the module exists; a package it needs does not
        raise
