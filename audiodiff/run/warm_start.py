"""config.train.init_from: a new run starts from another model's parameters.

    state = warm_start(state, 'pretrained/enhance_cpu', exclude='')

The source is a work directory (its latest checkpoint) or an export; its EMA
parameters become the new run's parameters and EMA. The optimizer state
is the fresh one and the step stays 0: fine-tuning, not resuming. Every
parameter array of the new model must exist in the source with the same
shape, except those whose path matches the regular expression
config.train.init_exclude (a new head, say), which keep their fresh
initialisation; a mismatch is named with the pattern that would skip it.
"""

import os
import re

import jax

from audiodiff.errors import UserError
from audiodiff.run import api, train_state


def flat_params(params) -> dict:
  """{'a/b/kernel': array} of a parameter tree."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  return {train_state.parameter_name(path): leaf for path, leaf in leaves}


def merged_params(fresh, source, exclude: str = '', source_name: str = 'the source'):
  """The fresh parameter tree with every leaf taken from `source` (a tree or
  flat dict), except leaves whose path matches `exclude`. -> (params, taken
  leaf count, excluded leaf count)."""
  try:
    pattern = re.compile(exclude) if exclude else None
  except re.error as error:
    raise UserError(f'config.train.init_exclude={exclude!r} is not a regular expression '
                    f'({error}).') from None
  old = flat_params(source)
  paths, treedef = jax.tree_util.tree_flatten_with_path(fresh)
  leaves, taken, skipped, problems = [], 0, 0, []
  for path, leaf in paths:
    name = train_state.parameter_name(path)
    if pattern is not None and pattern.search(name):
      leaves.append(leaf)
      skipped += 1
      continue
    if name not in old:
      problems.append(f'{name} {tuple(leaf.shape)} is not in {source_name}')
    elif tuple(old[name].shape) != tuple(leaf.shape):
      problems.append(f'{name} is {tuple(old[name].shape)} in {source_name}, '
                      f'{tuple(leaf.shape)} here')
    else:
      leaves.append(jax.numpy.asarray(old[name], leaf.dtype))
      taken += 1
      continue
    leaves.append(leaf)
  if problems:
    first = problems[0].split(' ')[0]
    raise UserError(
        f'config.train.init_from: {len(problems)} parameter array(s) of this model do not '
        f'fit {source_name}: {"; ".join(problems[:3])}{"; ..." if len(problems) > 3 else ""}. '
        + (f'Train them fresh with --config.train.init_exclude={re.escape(first)!r} (a '
           "regular expression), or use the source's model settings."
           if len(problems) * 2 <= len(leaves) else
           "Use the source's model settings (most arrays differ), or train them fresh with "
           "config.train.init_exclude (a regular expression)."))
  return jax.tree_util.tree_unflatten(treedef, leaves), taken, skipped


def check_source(source: str) -> None:
  """A UserError unless `source` is a trained run or an export."""
  if not os.path.isdir(source):
    raise UserError(f'config.train.init_from={source!r} is not a directory: give a work '
                    'directory or an export (e.g. pretrained/enhance_cpu).')
  if not os.path.exists(os.path.join(source, 'config.json')):
    raise UserError(f'config.train.init_from={source!r} is not a trained run or an export '
                    '(it has no config.json): give a work directory that has trained, or an '
                    'export (e.g. pretrained/enhance_cpu).')


def check_fresh_parameters_train(params, exclude: str, trainable: str) -> None:
  """A UserError when init_exclude keeps a parameter at its fresh random
  initialisation that config.train.trainable then freezes there."""
  if not (exclude and trainable):
    return
  try:
    kept, trained = re.compile(exclude), re.compile(trainable)
  except re.error:
    return   # named where each pattern is compiled
  frozen_fresh = [name for name in flat_params(params)
                  if kept.search(name) and not trained.search(name)]
  if frozen_fresh:
    raise UserError(
        f'config.train.init_exclude={exclude!r} starts {len(frozen_fresh)} parameter array(s) '
        f'fresh (e.g. {frozen_fresh[0]}) that config.train.trainable={trainable!r} freezes: '
        'they would stay random. Widen trainable to cover them, or narrow init_exclude.')


def warm_start(state, source: str, exclude: str = '', config=None):
  """state (fresh, step 0) -> the same with params and EMA from `source` (a
  work directory or an export), placed as the fresh ones are. -> (state,
  a one-line summary). config: this run's, to name a source of another task
  or model when its parameters do not fit."""
  check_source(source)
  try:
    trained = api.load(source)
  except UserError as error:
    raise UserError(f'config.train.init_from={source!r}: {error}') from None
  try:
    params, taken, skipped = merged_params(state.params, trained.params, exclude,
                                           source_name=source)
  except UserError as error:
    ours = config and (config.task, config.model.name)
    theirs = (trained.config.task, trained.config.model.name)
    if not ours or ours == theirs:
      raise
    raise UserError(f'config.train.init_from={source!r} is a model of task {theirs[0]!r} '
                    f'({theirs[1]}), this run one of task {ours[0]!r} ({ours[1]}): {error}'
                    ) from None
  if not taken:
    raise UserError(f'config.train.init_exclude={exclude!r} excludes every parameter array: '
                    f'nothing would be taken from config.train.init_from={source!r}; narrow '
                    'init_exclude, or drop init_from to train from scratch.')
  params = jax.tree.map(lambda new, old: jax.device_put(new, old.sharding), params,
                        state.params)
  if config is not None:
    check_fresh_parameters_train(state.params, exclude, config.train.trainable)
  summary = (f'Warm start from {source} (step {trained.step}): {taken} parameter arrays '
             f'taken' + (f', {skipped} trained fresh (init_exclude)' if skipped else '')
             + '; a fresh optimizer, from step 0.')
  # Two buffers: the training step donates both trees.
  return state.replace(params=params, ema_params=jax.tree.map(jax.numpy.copy, params)), summary
