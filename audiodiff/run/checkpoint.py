"""Orbax checkpoints of the train state and the data iterator position.

Layout: workdir/checkpoints/<step>/{state, data_iter}. The N latest
checkpoints are kept, plus the one with the lowest evaluation loss. Saves are
asynchronous; every process takes part (Orbax coordinates the hosts).
"""

import contextlib
import errno
import glob
import json
import os
import shutil
import time
from typing import Optional

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging
from orbax.checkpoint import checkpoint_managers

from audiodiff.errors import UserError


SPEC_FILE = 'state_spec.json'
# Free space a save needs beyond the state's bytes (the data iterator, metadata).
_SAVE_MARGIN_BYTES = 2**20


def is_disk_full(error: BaseException) -> bool:
  """Whether `error` (or an error it was raised from) is "no space left on
  device", as an OSError or as Orbax/TensorStore's message for it."""
  while error is not None:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    text = str(error)
    if 'No space left on device' in text or 'os_error_code: 28' in text:
      return True
    error = error.__cause__ or error.__context__
  return False


def state_spec(state) -> dict:
  """{path: shape} of every array in the train state."""
  leaves, _ = jax.tree_util.tree_flatten_with_path(state)
  return {jax.tree_util.keystr(path): list(getattr(leaf, 'shape', ())) for path, leaf in leaves}


def saved_spec(directory: str):
  """The shapes the checkpoints in `directory` hold (SPEC_FILE), or None when
  it is missing or unreadable (then it is written again at the next save)."""
  try:
    with open(os.path.join(directory, SPEC_FILE)) as f:
      spec = json.load(f)
  except (OSError, ValueError):
    return None
  return spec if isinstance(spec, dict) and spec else None


def check_fits(directory: str, target_state) -> None:
  """A UserError when the checkpoints in `directory` hold other shapes than
  `target_state` (arrays or jax.ShapeDtypeStructs); reads no array."""
  saved, wanted = saved_spec(directory), state_spec(target_state)
  if saved is None or saved == wanted:
    return
  differing = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
  raise UserError(
      f'The checkpoints {saved_steps(directory)} in {directory} hold a different model or '
      f'optimizer state than this config builds (first difference: {differing[0]}: '
      f'saved {saved.get(differing[0])}, now {wanted.get(differing[0])}); use a new '
      '--workdir, or the config they were trained with (config.json beside them). '
      'The checkpoints are left untouched.')


class Checkpointer:
  """Saves and restores (TrainState, data iterator) pairs.

  Beside the checkpoints, state_spec.json records the train state's array
  shapes, so a changed config is told apart from a damaged checkpoint
  before Orbax is asked to restore.
  """

  def __init__(self, directory, keep: int = 3):
    policy = checkpoint_managers.AnyPreservationPolicy([
        checkpoint_managers.LatestN(n=keep),
        checkpoint_managers.BestN(get_metric_fn=lambda m: m['eval_loss'],
                                  reverse=True, n=1,
                                  keep_checkpoints_without_metrics=False),
    ])
    self.manager = ocp.CheckpointManager(
        directory,
        options=ocp.CheckpointManagerOptions(
            preservation_policy=policy, enable_async_checkpointing=True,
            create=True))

  def all_steps(self):
    return sorted(self.manager.all_steps())

  def _spec_path(self):
    return os.path.join(os.fspath(self.manager.directory), SPEC_FILE)

  def _saved_spec(self):
    return saved_spec(os.fspath(self.manager.directory))

  def save(self, step: int, state, data_iterator=None, eval_loss=None):
    """Starts writing checkpoint `step` (asynchronously). Refuses, in one
    line, when the disk has no room for it; the kept checkpoints stay whole."""
    self._check_free_space(step, state)
    items = {'state': ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items['data_iter'] = grain.checkpoint.CheckpointSave(data_iterator)
    metrics = None if eval_loss is None else {'eval_loss': float(eval_loss)}
    with self._disk_full_as_user_error(step):
      if jax.process_index() == 0 and self._saved_spec() is None:
        with open(self._spec_path() + '.tmp', 'w') as f:   # whole, or the old one
          json.dump(state_spec(state), f)
        os.replace(self._spec_path() + '.tmp', self._spec_path())
      self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics,
                        force=True)

  def _check_free_space(self, step, state):
    """A UserError when the disk cannot hold one more checkpoint of `state`."""
    needed = sum(getattr(leaf, 'nbytes', 0) for leaf in jax.tree.leaves(state))
    needed += _SAVE_MARGIN_BYTES
    free = shutil.disk_usage(os.fspath(self.manager.directory)).free
    if free < needed:
      self.wait()
      raise self._disk_full_error(step, f'{free / 2**20:.1f} MB free, a checkpoint needs '
                                        f'about {needed / 2**20:.1f} MB')

  def _disk_full_error(self, step, detail):
    """step: the checkpoint that cannot be written (None: the one in flight)."""
    self.manager.reload()
    kept = [s for s in self.manager.all_steps() if s != step]
    resume = (f'training resumes from step {kept[-1]}' if kept
              else 'training starts again from step 0')
    which = 'a checkpoint' if step is None else f'the checkpoint of step {step}'
    return UserError(
        f'Disk full: {which} cannot be written to {self.manager.directory} ({detail}). '
        'Free some space (or lower config.train.keep_checkpoints) and run the same '
        f'command: {resume}; the kept checkpoints are whole.')

  def _remove_partial_saves(self):
    """Deletes Orbax's temporary folders of saves that did not finish."""
    pattern = os.path.join(os.fspath(self.manager.directory), '*.orbax-checkpoint-tmp*')
    for path in glob.glob(pattern):
      shutil.rmtree(path, ignore_errors=True)

  @contextlib.contextmanager
  def _disk_full_as_user_error(self, step=None):
    try:
      yield
    except Exception as error:  # pylint: disable=broad-except
      if not is_disk_full(error):
        raise
      try:
        self.manager.wait_until_finished()
      except Exception:  # pylint: disable=broad-except
        pass  # the same failure, reported below
      self._remove_partial_saves()
      raise self._disk_full_error(step, 'no space left on device') from None

  def restore(self, step: int, target_state, data_iterator=None):
    """Restores checkpoint `step` into the shapes/shardings of target_state."""
    items = {'state': ocp.args.StandardRestore(target_state)}
    if data_iterator is not None:
      items['data_iter'] = grain.checkpoint.CheckpointRestore(data_iterator)
    return self.manager.restore(step, args=ocp.args.Composite(**items))['state']

  def restore_latest(self, target_state, data_iterator=None, step: Optional[int] = None):
    """The newest readable checkpoint (or `step`) as (state, step).

    A partial or corrupt checkpoint is skipped, with a warning, for the one
    before it; (None, None) when there is none. When checkpoints exist but
    none can be read (e.g. the config changed the model), this raises rather
    than letting a fresh run overwrite them.
    """
    steps = self.all_steps()
    saved = self._saved_spec() if steps else None
    if saved is not None:
      check_fits(os.fspath(self.manager.directory), target_state)
    if step is not None:
      if step not in steps:
        raise UserError(f'No checkpoint at step {step} in {self.manager.directory}; '
                        f'available steps: {steps}.')
      try:
        return self.restore(step, target_state, data_iterator), step
      except Exception as error:  # pylint: disable=broad-except
        others = [s for s in steps if s != step]
        instead = (f'choose another with --checkpoint_step (saved: {others})' if others else
                   'it is the only one: train again')
        raise UserError(f'Checkpoint step {step} in {self.manager.directory} cannot be read '
                        f'(damaged or partly deleted: {_first_line(error)}); '
                        f'{instead}.') from None
    errors, skipped = [], []
    for candidate in reversed(steps):
      try:
        restored = self.restore(candidate, target_state, data_iterator)
      except Exception as error:  # pylint: disable=broad-except
        errors.append(f'step {candidate} ({_first_line(error)})')
        skipped.append(candidate)
        continue
      for error in errors:  # only said when an older one could be read
        logging.warning('Checkpoint %s in %s cannot be read; fell back to step %d.',
                        error, self.manager.directory, candidate)
      if data_iterator is not None and skipped:   # training goes on and saves those steps
        if jax.process_index() == 0:
          self._move_aside(skipped)
        self.manager.reload()
      return restored, candidate
    if steps and saved is not None:   # the shapes match: the files are damaged
      raise UserError(
          f'None of the checkpoints {steps} in {self.manager.directory} can be read '
          f'(damaged or partly deleted: {"; ".join(errors)}); train again, into a new '
          '--workdir to keep these files.')
    if steps:
      logging.info('Unreadable checkpoints: %s', '; '.join(errors))
      raise UserError(
          f'None of the checkpoints {steps} in {self.manager.directory} fits this '
          "config's model and optimizer (the config changed since they were written); "
          'use a new --workdir, or the config they were trained with '
          '(config.json beside them). The checkpoints are left untouched.')
    return None, None

  def _move_aside(self, steps):
    """Moves damaged checkpoints out of the way of the steps training will
    save again, into <checkpoints>_damaged/ beside them (kept, not deleted)."""
    directory = os.fspath(self.manager.directory)
    aside = directory.rstrip(os.sep) + '_damaged'
    if os.path.exists(aside) and not os.path.isdir(aside):
      raise UserError(f'{aside} is a file, where training moves the damaged checkpoints '
                      f'{steps} out of its way; move that file, then run the same command.')
    os.makedirs(aside, exist_ok=True)
    for step in steps:
      target = os.path.join(aside, str(step))
      if os.path.exists(target):
        target = f'{target}.{int(time.time())}'
      shutil.move(os.path.join(directory, str(step)), target)
      logging.warning('Moved the damaged checkpoint of step %d to %s; training saves that '
                      'step again.', step, target)

  def wait(self):
    with self._disk_full_as_user_error():
      self.manager.wait_until_finished()

  def close(self):
    try:
      self.wait()
    finally:
      self.manager.close()


def _first_line(error: Exception) -> str:
  """An Orbax/TensorStore error in a few words: its type and first line."""
  text = str(error).strip().splitlines()[0] if str(error).strip() else ''
  text = text.split(' See full TensorStore details')[0]
  return f'{type(error).__name__}: {text[:160]}'.rstrip(': ')


def saved_steps(directory: str) -> list:
  """The steps saved in a checkpoints folder (its numbered entries), without
  opening it; [] when there is none."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(n) for n in os.listdir(directory) if n.isdigit())
