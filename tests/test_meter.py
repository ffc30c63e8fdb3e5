"""The music latent model's sense of meter: frame positions in the bar
against closed forms, and the U-Net's position input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff.models.unet1d import UNet1D
from audiodiff.tasks import meter


def test_positions_follow_the_beat_and_vanish_without_a_tempo():
  features = np.asarray(meter.position_features(jnp.array([120.0, jnp.nan]), frames=250,
                                                frame_rate=62.5))
  assert features.shape == (2, 250, meter.CHANNELS) == (2, 250, 11)
  np.testing.assert_array_equal(features[1], 0.0)
  cycles = np.array(meter.CYCLES_IN_BEATS)
  for frame in (0, 31, 125, 249):   # 120 BPM: 2 beats a second
    beats = frame / 62.5 * 2
    angles = 2 * np.pi * beats / cycles
    np.testing.assert_allclose(features[0, frame],
                               np.concatenate([np.sin(angles), np.cos(angles), [1.0]]),
                               atol=1e-5)
  # Frame 125 (2 s) is the second bar's downbeat: every cycle but the
  # progression's and the two-bar one is back at its start.
  np.testing.assert_allclose(features[0, 125, 7:10], 1.0, atol=1e-5)
  np.testing.assert_allclose(features[0, 125, [0, 5]], [1.0, 0.0], atol=1e-5)
  # A later window continues the same grid.
  later = meter.position_features(jnp.array([97.0]), frames=50, frame_rate=62.5, offset=200)
  whole = meter.position_features(jnp.array([97.0]), frames=250, frame_rate=62.5)
  np.testing.assert_allclose(later[0], whole[0, 200:], atol=1e-4)


def test_unet_position_input_starts_as_a_no_op_and_is_required():
  model = UNet1D(channels=(8, 16), blocks_per_level=1, downsample=2, position_channels=3)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 4))
  t = jnp.array([3.0, 500.0])
  position = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 3))
  params = model.init(jax.random.PRNGKey(2), x, t, {'position': position})['params']
  assert params['position']['kernel'].shape == (3, 8)
  zeros = model.apply({'params': params}, x, t, {'position': jnp.zeros_like(position)})
  np.testing.assert_array_equal(model.apply({'params': params}, x, t, {'position': position}),
                                zeros)  # zero-initialised: a warm start begins unchanged
  params['position']['kernel'] = jnp.ones_like(params['position']['kernel'])
  params['output_conv']['kernel'] = jnp.ones_like(params['output_conv']['kernel'])
  moved = model.apply({'params': params}, x, t, {'position': position})
  assert not np.allclose(moved, model.apply({'params': params}, x, t,
                                            {'position': jnp.zeros_like(position)}))
  with pytest.raises(ValueError, match=r"needs cond=\{'position': \[2, 16, 3\]\}, got None"):
    model.apply({'params': params}, x, t, {})
