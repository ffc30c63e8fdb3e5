"""A config file of one's own, checked before any work, in one line each: a
get_config that needs an argument (`check_signature`, from the parsed
file), an exception while it loads (`diagnose`: the file's line), and what
it returned (`check_loaded`): no ConfigDict, a field no default has (a
typo), a field or section it removed, a value of another type than the
default's (tuple items too).
"""

import ast
import difflib
import importlib.util
import os
import re
import sys
import traceback

import ml_collections

from audiodiff import defaults
from audiodiff.errors import UserError
from audiodiff.run import experiment


def check_signature(path: str, tree, argument) -> None:
  """tree: the file's ast; a UserError when get_config needs an argument
  and none was given (`--config=FILE:VALUE`). The file's folder joins the
  import path: a config may import another beside it (`import tiny`)."""
  directory = os.path.dirname(os.path.abspath(path))
  if directory not in sys.path:
    sys.path.append(directory)
  for node in tree.body:
    if isinstance(node, ast.FunctionDef) and node.name == 'get_config':
      positional = node.args.posonlyargs + node.args.args
      required = positional[:len(positional) - len(node.args.defaults)]
      if len(required) > 1:
        names = ', '.join(arg.arg for arg in required)
        raise UserError(f'--config={path}: its get_config({names}) needs {len(required)} '
                        'arguments, and --config=FILE:VALUE passes one; give the others '
                        'defaults in the file (or read them from one VALUE).')
      if required and argument is None:
        raise UserError(f'--config={path}: its get_config({required[0].arg}) takes an '
                        f'argument; give it as --config={path}:VALUE.')
      if not positional and not node.args.vararg and argument is not None:
        raise UserError(f'--config={path}:{argument}: its get_config() takes no argument; '
                        f'drop ":{argument}".')


def diagnose(path: str, argument, configs_dir: str) -> None:
  """After loading the file failed: runs its get_config() again, to name
  the file's line that raised, or what it returned (a UserError); returns if
  both are fine (the failure was elsewhere)."""
  spec = importlib.util.spec_from_file_location('_config_file', path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    config = module.get_config() if argument is None else module.get_config(argument)
  except Exception as error:  # pylint: disable=broad-except
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if os.path.abspath(frame.filename) == os.path.abspath(path)]
    where = f', line {frames[-1].lineno}' if frames else ''
    text = ' '.join(str(error).split())
    wrong_type = _WRONG_TYPE.search(text)
    if wrong_type:
      field, value, given, wanted = wrong_type.groups()
      code = f' (`{frames[-1].line}`)' if frames and frames[-1].line else ''
      wanted, given = (_KINDS.get(kind, f'a {kind}') for kind in (wanted, given))
      raise UserError(f'--config={path}{where}{code}: the field {field} holds {wanted}, not '
                      f'{given} ({value}); give {wanted}.') from None
    raise UserError(f'--config={path}{where}: {type(error).__name__}: {text}') from None
  check_loaded(config, path, configs_dir)


_KINDS = {'int': 'a whole number', 'float': 'a number', 'str': 'a string',
          'bool': 'True or False', 'NoneType': 'None'}
# ml_collections' message for a value of another type than the field's.
_WRONG_TYPE = re.compile(r"Could not override field '(\w+)' \(reference\)\. (.*) is of original "
                         r"type <class '(\w+)'> and cannot be casted to type <class '(\w+)'>")


def check_loaded(config, path: str, configs_dir: str, flagged=()) -> None:
  """The config get_config() returned (with the --config.* flags over it,
  `flagged` their keys), against the defaults."""
  if isinstance(config, ml_collections.FrozenConfigDict) or not isinstance(
      config, ml_collections.ConfigDict):
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
      where = f'--config.{key}' if key in flagged else f'--config={path} sets config.{key}'
      if isinstance(default, (tuple, list)) and isinstance(mine[key], (tuple, list)):
        kind = _KINDS.get(type(default[0]).__name__, f'a {type(default[0]).__name__}')
        raise UserError(f'{where}={mine[key]!r}: each item must be {kind}, as in the default '
                        f'{default!r}.')
      raise UserError(f'{where}={mine[key]!r}, a '
                      f'{type(mine[key]).__name__} where the default is {default!r}; give a '
                      f'value of its type.')


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
  if isinstance(default, (tuple, list)):   # and each item as the default's first
    return isinstance(value, (tuple, list)) and (
        not default or all(_same_kind(v, default[0]) for v in value))
  return isinstance(value, type(default))
