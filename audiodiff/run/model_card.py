"""A model's card: what it is, what it learned from, how long, how well.

Training keeps WORKDIR/run_info.json up to date (wall seconds over every
session of the run, the machine, each command that trained it); an export's
export.json is the card:

  task, model (name, parameters), data (dataset, voices, train examples and
  hours), step, training (wall minutes, machines, commands), metrics (the
  run's --mode=eval file for that step, with its command) and whatever
  WORKDIR/card.json adds (e.g. benchmark figures with their commands).

`--mode=info --workdir=DIR` prints it, for an export or a work directory.
"""

import json
import os
import platform
import shlex
import sys
import time

import jax

from audiodiff import data
from audiodiff.data import pipeline
from audiodiff.errors import UserError

RUN_INFO_FILE = 'run_info.json'
USER_CARD_FILE = 'card.json'
EXPORT_FILE = 'export.json'
_VOICED_DATASETS = ('flite_speech', 'real_speech')
# Past this many training examples the hours are extrapolated from their mean.
_MAX_EXAMPLES_READ = 2000


RUN_INFO_KEYS = ('wall_seconds', 'machines', 'commands')
# What the model is: computed from the checkpoint, never taken from card.json.
IDENTITY_KEYS = ('task', 'model', 'step', 'num_params', 'bytes')


def machine() -> str:
  """'cpu, 2 cores (x86_64)' or 'gpu NVIDIA H200 x 1, 16 cores'."""
  device = jax.devices()[0]
  kind = 'cpu' if device.platform == 'cpu' else f'{device.platform} {device.device_kind}'
  count = '' if device.platform == 'cpu' else f' x {jax.device_count()}'
  return f'{kind}{count}, {os.cpu_count()} cores ({platform.machine()})'


def _read_json(path, keys=()):
  """The JSON object in `path` (None when there is none); a UserError naming
  the file when it is not an object or lacks one of `keys`."""
  try:
    with open(path) as f:
      value = json.load(f)
  except FileNotFoundError:
    return None
  except (OSError, ValueError) as error:
    raise UserError(f'{path} cannot be read as JSON ({error}); fix or delete it.') from None
  if not isinstance(value, dict):
    raise UserError(f'{path} holds a JSON {type(value).__name__}, not an object '
                    '({"name": value, ...}); fix or delete it.')
  missing = [key for key in keys if key not in value]
  if missing:
    raise UserError(f'{path} lacks {", ".join(map(repr, missing))}; fix or delete it.')
  return value


class TrainingClock:
  """Adds this session's wall time to WORKDIR/run_info.json at each save,
  with the step each command started from and the wall time at each saved
  step (so the card of an earlier step lists only what trained it)."""

  def __init__(self, workdir: str, data_version: str = '', step: int = 0):
    self.path = os.path.join(workdir, RUN_INFO_FILE)
    self.info = _read_json(self.path, RUN_INFO_KEYS) or {'wall_seconds': 0.0, 'machines': [],
                                                         'commands': []}
    # The data the run last trained on (pipeline.data_version), before this session's.
    self.earlier_data = self.info.get('data_version')
    if data_version:
      self.info['data_version'] = data_version
    command = shlex.join([os.path.basename(sys.executable)] + sys.argv)
    starts = self.info.get('command_steps')
    if not isinstance(starts, list) or len(starts) != len(self.info['commands']):
      starts = self.info['command_steps'] = [0] * len(self.info['commands'])  # older runs
    if command not in self.info['commands']:
      self.info['commands'].append(command)
      starts.append(int(step))
    if machine() not in self.info['machines']:
      self.info['machines'].append(machine())
    if not isinstance(self.info.get('wall_seconds_at_step'), dict):
      self.info['wall_seconds_at_step'] = {}
    self.base, self.start = float(self.info['wall_seconds']), time.time()

  def record(self, step: int) -> None:
    if jax.process_index() != 0:
      return
    self.info.update(wall_seconds=self.base + time.time() - self.start, step=int(step))
    self.info['wall_seconds_at_step'][str(int(step))] = self.info['wall_seconds']
    with open(self.path + '.tmp', 'w') as f:
      json.dump(self.info, f, indent=2)
    os.replace(self.path + '.tmp', self.path)


def data_summary(config) -> dict:
  """The training data: dataset, voices, train examples and hours."""
  summary = {'dataset': config.data.name}
  if config.data.name in _VOICED_DATASETS:
    summary['voices'] = list(config.data.voices)
  try:
    count = len(pipeline.get_builder(config).as_data_source(split='train'))
    lengths = [len(a) for a in data.load_utterances(config, 'train', _MAX_EXAMPLES_READ)]
  except Exception:  # pylint: disable=broad-except
    return summary  # data not prepared on this machine: the names still say what it was
  if lengths:
    seconds = sum(lengths) / len(lengths) * count / config.audio.sample_rate
    summary.update(train_examples=count, train_hours=float(f'{seconds / 3600:.3g}'))
  return summary


def card(trained, workdir: str) -> dict:
  """The card of `trained` (an api.Trained) from run `workdir`."""
  config = trained.config
  info = _read_json(os.path.join(workdir, RUN_INFO_FILE), RUN_INFO_KEYS) or {}
  result = {
      'task': config.task,
      'model': {'name': config.model.name,
                'parameters': int(sum(x.size for x in jax.tree.leaves(trained.params)))},
      'step': trained.step,
  }
  result['data'] = data_summary(config)
  earlier = _read_json(os.path.join(workdir, EXPORT_FILE)) or {}  # an export's own card
  for key in ('training', 'metrics', 'data'):
    if key in earlier:
      result[key] = earlier[key]
  if info:
    step = trained.step
    at_step = info.get('wall_seconds_at_step')
    seconds = (at_step if isinstance(at_step, dict) else {}).get(str(step), info['wall_seconds'])
    starts = info.get('command_steps', [])
    commands = info['commands']
    if len(starts) == len(commands):  # those that trained up to this step
      commands = [c for c, start in zip(commands, starts) if start < max(step, 1)]
    result['training'] = {'wall_minutes': round(seconds / 60, 1),
                          'machines': info['machines'], 'commands': commands}
  metrics = _read_json(os.path.join(workdir, 'eval', f'step_{trained.step}.json'))
  if metrics:
    result['metrics'] = {'values': metrics, 'command': shlex.join([
        'python', 'experiments/main.py', f'--workdir={workdir}', '--mode=eval'])}
  result.update(_user_card(os.path.join(workdir, USER_CARD_FILE)))
  return result


def _user_card(path) -> dict:
  """WORKDIR/card.json's figures ({} when absent); a UserError when it sets
  what the checkpoint says (IDENTITY_KEYS)."""
  user = _read_json(path) or {}
  clash = [key for key in IDENTITY_KEYS if key in user]
  if clash:
    raise UserError(f'{path} sets {", ".join(map(repr, clash))}, which the card takes from '
                    'the checkpoint itself; rename or remove that entry (your own figures '
                    'go under names of your own, or under "metrics").')
  return user


def info(workdir: str, trained=None) -> dict:
  """An export's card as written, or a work directory's as an export would
  write it (trained: its latest checkpoint, loaded by the caller)."""
  written = _read_json(os.path.join(workdir, EXPORT_FILE))
  if written is not None:
    return written
  if trained is None:
    raise UserError(f'{workdir} holds neither an export ({EXPORT_FILE}) nor checkpoints.')
  return card(trained, workdir)


def describe(card_dict: dict, indent: str = '') -> str:
  """The card as indented 'key: value' lines."""
  lines = []
  for key, value in card_dict.items():
    if isinstance(value, dict):
      lines.append(f'{indent}{key}:')
      lines.append(describe(value, indent + '  '))
    elif isinstance(value, list) and value and isinstance(value[0], str) and len(value) > 1:
      lines.append(f'{indent}{key}:')
      lines.extend(f'{indent}  - {item}' for item in value)
    else:
      shown = ', '.join(map(str, value)) if isinstance(value, list) else value
      lines.append(f'{indent}{key}: {shown}')
  return '\n'.join(lines)
