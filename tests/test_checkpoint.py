"""Checkpointer: the N latest plus the best by evaluation loss are kept; a
damaged one is skipped, or named when asked for."""

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.errors import UserError
from audiodiff.run import checkpoint


def test_keeps_latest_and_best(tmp_path):
  checkpointer = checkpoint.Checkpointer(str(tmp_path / 'ckpt'), keep=2)
  losses = {1: 0.9, 2: 0.3, 3: 0.5, 4: None, 5: 0.8, 6: None}
  for step, loss in losses.items():
    checkpointer.save(step, {'w': jnp.full((3,), float(step))}, eval_loss=loss)
  checkpointer.wait()
  assert checkpointer.all_steps() == [2, 5, 6]
  state, step = checkpointer.restore_latest({'w': jnp.zeros((3,))})
  assert step == 6 and np.all(np.asarray(state['w']) == 6.0)
  state, step = checkpointer.restore_latest({'w': jnp.zeros((3,))}, step=2)
  assert float(state['w'][0]) == 2.0
  checkpointer.close()


def test_a_damaged_checkpoint_asked_for_by_step_is_named(tmp_path):
  checkpointer = checkpoint.Checkpointer(str(tmp_path / 'ckpt'), keep=3)
  for step in (1, 2):
    checkpointer.save(step, {'w': jnp.full((3,), float(step))})
  checkpointer.wait()
  shutil.rmtree(tmp_path / 'ckpt' / '2' / 'state')
  with pytest.raises(UserError, match=r'Checkpoint step 2 .* cannot be read .*--checkpoint_step \(saved: \[1\]\)'):
    checkpointer.restore_latest({'w': jnp.zeros((3,))}, step=2)
  state, step = checkpointer.restore_latest({'w': jnp.zeros((3,))})   # falls back
  assert step == 1 and float(state['w'][0]) == 1.0
  checkpointer.close()


def test_damaged_files_are_not_blamed_on_the_config(tmp_path):
  checkpointer = checkpoint.Checkpointer(str(tmp_path / 'ckpt'), keep=3)
  checkpointer.save(1, {'w': jnp.full((3,), 1.0)})
  checkpointer.wait()
  spec = tmp_path / 'ckpt' / checkpoint.SPEC_FILE
  spec.write_text('{"trunc')   # a damaged record of the shapes: ignored, written again
  state, step = checkpointer.restore_latest({'w': jnp.zeros((3,))})
  assert step == 1 and float(state['w'][0]) == 1.0
  checkpointer.save(2, {'w': jnp.full((3,), 2.0)})
  checkpointer.wait()
  assert json.loads(spec.read_text())
  for step in (1, 2):
    shutil.rmtree(tmp_path / 'ckpt' / str(step) / 'state')
  with pytest.raises(UserError, match=r'None of the checkpoints \[1, 2\] .* can be read '
                                       r'\(damaged or partly deleted'):
    checkpointer.restore_latest({'w': jnp.zeros((3,))})
  with pytest.raises(UserError, match='different model'):   # the shapes do differ
    checkpointer.restore_latest({'w': jnp.zeros((4,))})
  checkpointer.close()
