"""Checkpointer: the N latest plus the best by evaluation loss are kept."""

import jax.numpy as jnp
import numpy as np

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
