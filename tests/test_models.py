"""Shapes, equivalences and errors of the denoising networks (tiny sizes)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff import models
from audiodiff.models import diffwave
from audiodiff.models import embeddings
from experiments.configs import base

N_MELS = 5


@jax.jit
def _perturb(variables, seed=0, scale=0.1):
  """Adds noise to every parameter so zero-initialised layers stop hiding bugs."""
  leaves, treedef = jax.tree_util.tree_flatten(variables)
  keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
  leaves = [p + scale * jax.random.normal(k, p.shape, p.dtype) for p, k in zip(leaves, keys)]
  return jax.tree_util.tree_unflatten(treedef, leaves)


def _inputs(batch, length, frames=None, seed=0):
  kx, kt, km = jax.random.split(jax.random.PRNGKey(seed), 3)
  x = jax.random.normal(kx, (batch, length))
  t = jax.random.uniform(kt, (batch,), maxval=49.0)  # fractional steps
  cond = None
  if frames is not None:
    cond = {'mel': jax.random.normal(km, (batch, frames, N_MELS))}
  return x, t, cond


def _tiny_diffwave(**kwargs):
  settings = dict(residual_layers=4, residual_channels=8, dilation_cycle=2, n_mels=N_MELS,
                  embedding_dim=16, step_features=32)
  settings.update(kwargs)
  return diffwave.DiffWave(**settings)


@pytest.mark.parametrize('hop', [1, 7, 64, 100, 101, 256, 300])
def test_upsample_factors_multiply_to_hop(hop):
  factors = diffwave.upsample_factors(hop)
  assert math.prod(factors) == hop
  assert all(f <= 16 for f in factors) or len(factors) == 1 or hop == 101


def test_sinusoidal_embedding_is_smooth_in_t():
  emb = embeddings.sinusoidal_embedding(jnp.array([3.0, 3.001, 40.0]), 16)
  assert emb.shape == (3, 16)
  assert float(jnp.max(jnp.abs(emb[0] - emb[1]))) < 1e-2
  assert float(jnp.max(jnp.abs(emb[0] - emb[2]))) > 0.1


@pytest.mark.parametrize('hop,frames,batch', [(64, 3, 1), (100, 2, 2), (256, 2, 3), (300, 3, 2)])
def test_diffwave_mel_output_shape(hop, frames, batch):
  model = _tiny_diffwave(conditioning='mel', hop_length=hop)
  x, t, cond = _inputs(batch, frames * hop, frames)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, t, cond)
  out = jax.jit(model.apply)(variables, x, t, cond)
  assert out.shape == x.shape and out.dtype == jnp.float32


@pytest.mark.parametrize('length,batch', [(1, 1), (37, 2), (1000, 3)])
def test_diffwave_unconditional_any_length(length, batch):
  model = _tiny_diffwave()
  x, t, _ = _inputs(batch, length)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, t)
  assert jax.jit(model.apply)(variables, x, t).shape == x.shape


@pytest.mark.parametrize('length', [24, 200])
def test_diffwave_matmul_conv_equals_nn_conv(length):
  # Dilations up to 32 exceed L=24, exercising the all-padding shifts.
  fast = _tiny_diffwave(residual_layers=6, dilation_cycle=6, conditioning='mel', hop_length=4)
  plain = fast.clone(use_matmul_conv=False)
  x, t, cond = _inputs(2, length, length // 4)
  variables = _perturb(jax.jit(fast.init)(jax.random.PRNGKey(0), x, t, cond))
  plain_variables = jax.jit(plain.init)(jax.random.PRNGKey(0), x, t, cond)
  assert (jax.tree_util.tree_structure(variables) ==
          jax.tree_util.tree_structure(plain_variables))
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, plain_variables)
  out_fast = jax.jit(fast.apply)(variables, x, t, cond)
  out_plain = jax.jit(plain.apply)(variables, x, t, cond)
  assert float(jnp.std(out_fast)) > 1e-3  # not the trivial zero-init output
  np.testing.assert_allclose(out_fast, out_plain, atol=1e-5, rtol=1e-5)


def test_diffwave_precomputed_condition_matches_raw_mel():
  model = _tiny_diffwave(conditioning='mel', hop_length=12)
  x, t, cond = _inputs(2, 36, 3)
  variables = _perturb(jax.jit(model.init)(jax.random.PRNGKey(0), x, t, cond))
  precomputed = jax.jit(lambda v, c: model.apply(v, c, method=model.condition))(variables, cond)
  assert 'mel' not in precomputed and len(precomputed['mel_projection']) == 4
  assert precomputed['mel_projection'][0].shape == (2, 36, 16)
  apply = jax.jit(model.apply)
  out_raw = apply(variables, x, t, cond)
  out_pre = apply(variables, x, t, precomputed)
  np.testing.assert_allclose(out_raw, out_pre, atol=1e-5, rtol=1e-5)


def test_diffwave_mel_length_mismatch_is_a_clear_error():
  model = _tiny_diffwave(conditioning='mel', hop_length=8)
  x, t, cond = _inputs(1, 30, 4)  # 4 * 8 = 32 != 30
  with pytest.raises(ValueError, match='frames \\* hop_length'):
    jax.jit(model.init)(jax.random.PRNGKey(0), x, t, cond)
  with pytest.raises(ValueError, match="needs cond"):
    jax.jit(model.init)(jax.random.PRNGKey(0), x, t, None)


def test_diffwave_bfloat16_keeps_float32_params_and_output():
  model = _tiny_diffwave(conditioning='mel', hop_length=4, dtype=jnp.bfloat16)
  x, t, cond = _inputs(2, 16, 4)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, t, cond)
  assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(variables))
  assert jax.jit(model.apply)(_perturb(variables), x, t, cond).dtype == jnp.float32


@pytest.mark.parametrize('shape', [(2, 64), (1, 128, 3)])
@pytest.mark.parametrize('conditioning', ['none', 'mel', 'label'])
def test_unet_output_shape(shape, conditioning):
  model = models.UNet1D(channels=(8, 16), blocks_per_level=1, downsample=4,
                        conditioning=conditioning, num_classes=3, hop_length=16,
                        n_mels=N_MELS, embedding_dim=16)
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  t = jnp.array([0.5, 10.0][:shape[0]])
  cond = {'mel': jnp.ones((shape[0], shape[1] // 16, N_MELS)),
          'label': jnp.zeros((shape[0],), jnp.int32)}
  variables = jax.jit(model.init)(jax.random.PRNGKey(1), x, t, cond)
  out = jax.jit(model.apply)(_perturb(variables), x, t, cond)
  assert out.shape == x.shape and out.dtype == jnp.float32


def test_unet_needs_length_divisible_by_downsampling():
  model = models.UNet1D(channels=(8, 8, 8), blocks_per_level=1, downsample=4, embedding_dim=16)
  x, t, _ = _inputs(1, 40)  # not divisible by 16
  with pytest.raises(ValueError, match='divisible'):
    jax.jit(model.init)(jax.random.PRNGKey(0), x, t)


def test_mlp_output_shape():
  model = models.MLPDenoiser(hidden=32, embedding_dim=16)
  for length in (1024, 100):
    x, t, _ = _inputs(3, length)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, t)
    assert jax.jit(model.apply)(variables, x, t).shape == (3, length)


@pytest.mark.parametrize('make_model', [
    lambda: _tiny_diffwave(conditioning='label', num_classes=3),
    lambda: models.UNet1D(channels=(8, 8), blocks_per_level=1, downsample=2,
                          conditioning='label', num_classes=3, embedding_dim=16),
    lambda: models.MLPDenoiser(hidden=32, conditioning='label', num_classes=3,
                               embedding_dim=16),
], ids=['diffwave', 'unet1d', 'mlp'])
def test_label_conditioning_changes_output(make_model):
  model = make_model()
  x, t, _ = _inputs(2, 32)
  label = {'label': jnp.array([0, 1])}
  variables = _perturb(jax.jit(model.init)(jax.random.PRNGKey(0), x, t, label))
  apply = jax.jit(model.apply)
  out_a = apply(variables, x, t, {'label': jnp.array([0, 1])})
  out_b = apply(variables, x, t, {'label': jnp.array([2, 3])})  # 3 = "no label"
  assert out_a.shape == x.shape
  assert float(jnp.max(jnp.abs(out_a - out_b))) > 1e-4
  with pytest.raises(ValueError, match='label'):
    apply(variables, x, t, None)


def _config(**model_overrides):
  config = base.get_config()
  config.model.update(dict(residual_layers=2, residual_channels=4, unet_channels=(4, 8),
                           unet_blocks_per_level=1, mlp_hidden=16, embedding_dim=8,
                           num_classes=2))
  config.model.update(model_overrides)
  config.audio.n_mels = N_MELS
  config.audio.hop_length = 8
  return config


@pytest.mark.parametrize('name,conditioning', [
    ('diffwave', 'mel'), ('diffwave', 'label'), ('unet1d', 'mel'), ('mlp', 'label')])
def test_get_model_builds_each_model(name, conditioning):
  config = _config(name=name, conditioning=conditioning)
  model = models.get_model(config)
  x, t, _ = _inputs(2, 64)
  cond = {'mel': jnp.zeros((2, 8, N_MELS)), 'label': jnp.array([0, 2])}
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), x, t, cond)
  assert jax.jit(model.apply)(variables, x, t, cond).shape == x.shape


def test_get_model_bfloat16():
  config = _config(name='mlp')
  config.train.compute_dtype = 'bfloat16'
  assert models.get_model(config).dtype == jnp.bfloat16


@pytest.mark.parametrize('overrides,message', [
    (dict(name='difwave'), "'difwave'.*diffwave, mlp, unet1d"),
    (dict(conditioning='mels'), "'mels'.*none, mel, label"),
    (dict(name='mlp', conditioning='mel'), "'mlp'.*'mel'"),
    (dict(conditioning='label', num_classes=0), 'num_classes'),
])
def test_get_model_rejects_bad_values(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.get_model(_config(**overrides))


def test_get_model_rejects_bad_dtype():
  config = _config()
  config.train.compute_dtype = 'fp16'
  with pytest.raises(ValueError, match="'fp16'.*float32, bfloat16"):
    models.get_model(config)
