"""A config file of one's own, checked before any work: `check(path, argument)`
runs its get_config() once, as --config will, and names in one line what it
gets wrong: an exception (with the file's line), a get_config that needs an
argument, no ConfigDict, a field no default has (a typo), a field or section
it removed, or a value of another type than the default's.
"""

import difflib
import importlib.util
import inspect
import os
import sys
import traceback

import ml_collections

from audiodiff import defaults
from audiodiff.errors import UserError
from audiodiff.run import experiment


def check(path: str, argument, configs_dir: str) -> None:
  """argument: the text after `path:` in --config, or None."""
  directory = os.path.dirname(os.path.abspath(path))
  if directory not in sys.path:
    sys.path.append(directory)   # a config may import another beside it (`import tiny`)
  spec = importlib.util.spec_from_file_location('_config_file', path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    required = [p for p in inspect.signature(module.get_config).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required and argument is None:
      raise UserError(f'--config={path}: its get_config({required[0].name}) takes an argument; '
                      f'give it as --config={path}:VALUE.')
    config = module.get_config() if argument is None else module.get_config(argument)
  except UserError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if os.path.abspath(frame.filename) == os.path.abspath(path)]
    where = f', line {lines[-1]}' if lines else ''
    text = ' '.join(str(error).split())
    raise UserError(f'--config={path}{where}: {type(error).__name__}: {text}') from None
  if not isinstance(config, ml_collections.ConfigDict):
    forgot = ' (no `return config`?)' if config is None else ''
    raise UserError(f'--config={path}: get_config() returns a {type(config).__name__}{forgot}; '
                    'return an ml_collections.ConfigDict (start from '
                    f'audiodiff.defaults.get_config() or a config in {configs_dir}/ and change '
                    'its fields).')
  known, mine = experiment.flat_config(defaults.get_config()), experiment.flat_config(config)
  _check_known_fields(mine, known, path)
  missing = [k for k in known if k not in mine and not any(m.startswith(k + '.') for m in mine)]
  if missing:
    sections = sorted({k.split('.')[0] for k in missing
                       if not any(m.startswith(k.split('.')[0] + '.') for m in mine)})
    what = f'section config.{sections[0]}' if sections else f'config.{missing[0]}'
    raise UserError(f'--config={path} removes {what} ({len(missing)} field(s) in all); keep '
                    'every field and change its value instead.')
  for key, default in known.items():
    if not _same_kind(mine[key], default):
      raise UserError(f'--config={path} sets config.{key}={mine[key]!r}, a '
                      f'{type(mine[key]).__name__} where the default is {default!r}; give a '
                      f'value of type {type(default).__name__}.')


def _check_known_fields(mine: dict, known: dict, path: str) -> None:
  """A UserError naming a field no default has (config.train.nmu_steps would
  be kept and ignored), with the closest one."""
  for key in mine:
    parts = key.split('.')
    if any('.'.join(parts[:i]) in known for i in range(1, len(parts) + 1)):
      continue   # a known field, or inside one that holds a dict
    # The first part no default has, among the fields beside it.
    depth = next(i for i in range(1, len(parts) + 1)
                 if not any(k.startswith('.'.join(parts[:i]) + '.') for k in known))
    prefix = ''.join(f'{p}.' for p in parts[:depth - 1])
    fields = sorted({k[len(prefix):].split('.')[0] for k in known if k.startswith(prefix)})
    close = difflib.get_close_matches(parts[depth - 1], fields, n=1)
    hint = (f' (did you mean config.{prefix}{close[0]}?)' if close else
            f'; the fields of config{"." + prefix[:-1] if prefix else ""}: {", ".join(fields)}')
    raise UserError(f'{path} sets config.{key}, which is no config field{hint}.')


def _same_kind(value, default) -> bool:
  """Whether a config file's value may stand for the default's type (an
  int for a float, a list for a tuple; anything for a default of None)."""
  if default is None:
    return True
  if isinstance(default, bool) or isinstance(value, bool):
    return isinstance(value, bool) and isinstance(default, bool)
  if isinstance(default, float):
    return isinstance(value, (int, float))
  if isinstance(default, (tuple, list)):
    return isinstance(value, (tuple, list))
  return isinstance(value, type(default))
