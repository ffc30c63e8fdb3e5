"""Shapes, equivalences and errors of the denoising networks (tiny sizes)."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from audiodiff import models
from audiodiff.errors import UserError
from audiodiff.models import diffwave
from audiodiff.models import embeddings
from audiodiff import defaults

N_MELS = 5


def _key(seed=0):
  # rbg keys: threefry init code takes seconds to compile on CPU, the bulk of
  # these tests' run time, and which random bits init uses does not matter here.
  return jax.random.key(seed, impl='rbg')


def _perturb(variables, seed=0, scale=0.1):
  """Adds noise to every parameter so zero-initialised layers stop hiding bugs."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda p: p + scale * rng.standard_normal(p.shape).astype(p.dtype), variables)


def _inputs(batch, length, frames=None, seed=0):
  """x [B, L], fractional t [B] and, given frames, cond {'mel': [B, frames, N_MELS]}."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.standard_normal((batch, length)), jnp.float32)
  t = jnp.asarray(rng.uniform(0.0, 49.0, (batch,)), jnp.float32)
  cond = None
  if frames is not None:
    cond = {'mel': jnp.asarray(rng.standard_normal((batch, frames, N_MELS)), jnp.float32)}
  return x, t, cond


def _tiny_diffwave(**kwargs):
  settings = dict(residual_layers=4, residual_channels=8, dilation_cycle=2,
                  embedding_dim=16, step_features=32)
  settings.update(kwargs)
  return diffwave.DiffWave(**settings)


@pytest.mark.parametrize('hop', [1, 7, 64, 100, 101, 256, 300])
def test_upsample_factors_multiply_to_hop(hop):
  factors = diffwave.upsample_factors(hop)
  assert math.prod(factors) == hop
  # Stages stay small unless a prime factor of the hop is itself large.
  assert all(f <= 16 or f == max(factors) == 101 for f in factors)


def test_sinusoidal_embedding_is_smooth_in_t():
  emb = embeddings.sinusoidal_embedding(jnp.array([3.0, 3.001, 40.0]), 16)
  assert emb.shape == (3, 16)
  assert float(jnp.max(jnp.abs(emb[0] - emb[1]))) < 1e-2
  assert float(jnp.max(jnp.abs(emb[0] - emb[2]))) > 0.1


def _output_shape(model, x, t, cond=None):
  """Traces init and apply without compiling: the shape logic is all static."""
  variables = jax.eval_shape(model.init, _key(0), x, t, cond)
  out = jax.eval_shape(model.apply, variables, x, t, cond)
  return out.shape, out.dtype


@pytest.mark.parametrize('hop,frames,batch', [(64, 3, 1), (100, 2, 2), (101, 2, 1), (256, 2, 3),
                                              (300, 3, 2)])
def test_diffwave_mel_output_shape(hop, frames, batch):
  model = _tiny_diffwave(n_mels=N_MELS, hop_length=hop)
  x, t, cond = _inputs(batch, frames * hop, frames)
  assert _output_shape(model, x, t, cond) == (x.shape, jnp.float32)


@pytest.mark.parametrize('length,batch', [(1, 1), (37, 2), (1000, 3)])
def test_diffwave_unconditional_any_length(length, batch):
  x, t, _ = _inputs(batch, length)
  assert _output_shape(_tiny_diffwave(), x, t) == (x.shape, jnp.float32)


def test_diffwave_matmul_conv_equals_nn_conv():
  # Dilations 1..64 against L=40: both shifts inside, one outside, and
  # all-padding shifts (d >= L) are exercised.
  fast = _tiny_diffwave(n_mels=N_MELS, residual_layers=7, dilation_cycle=7, hop_length=4)
  plain = fast.clone(use_matmul_conv=False)
  x, t, cond = _inputs(2, 40, 10)
  variables = _perturb(jax.jit(fast.init)(_key(0), x, t, cond))
  plain_variables = jax.jit(plain.init)(_key(0), x, t, cond)
  assert (jax.tree_util.tree_structure(variables) ==
          jax.tree_util.tree_structure(plain_variables))
  assert jax.tree.map(jnp.shape, variables) == jax.tree.map(jnp.shape, plain_variables)
  out_fast = jax.jit(fast.apply)(variables, x, t, cond)
  out_plain = jax.jit(plain.apply)(variables, x, t, cond)
  assert float(jnp.std(out_fast)) > 1e-3  # not the trivial zero-init output
  np.testing.assert_allclose(out_fast, out_plain, atol=1e-5, rtol=1e-5)
  # Gradients too: the matmul path has a hand-written backward pass.
  grads = [jax.jit(jax.grad(lambda v, m=m: jnp.sum(jnp.sin(m.apply(v, x, t, cond)))))(variables)
           for m in (fast, plain)]
  for g_fast, g_plain in zip(*map(jax.tree_util.tree_leaves, grads)):
    np.testing.assert_allclose(g_fast, g_plain, atol=1e-4, rtol=1e-4)


def test_pointwise_matmul_gradient_matches_autodiff():
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((2, 7, 5)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((5, 3)), jnp.float32)

  def gradients(matmul):
    return jax.grad(lambda a, b: jnp.sum(jnp.sin(matmul(a, b))), argnums=(0, 1))(x, kernel)

  ours, reference = gradients(diffwave.pointwise_matmul), gradients(jnp.dot)
  for a, b in zip(ours, reference):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_diffwave_precomputed_condition_matches_raw_mel():
  model = _tiny_diffwave(n_mels=N_MELS, hop_length=100)  # 3 upsampling stages
  x, t, cond = _inputs(2, 300, 3)
  variables = _perturb(jax.jit(model.init)(_key(0), x, t, cond))
  precomputed = jax.jit(lambda v, c: model.apply(v, c, method=model.condition))(variables, cond)
  assert 'mel' not in precomputed
  gate, signal = precomputed['mel_projection']
  assert gate.shape == signal.shape == (4, 2, 300, 8)  # [layers, B, L, C]
  apply = jax.jit(model.apply)
  out_raw = apply(variables, x, t, cond)
  out_pre = apply(variables, x, t, precomputed)
  assert bool(jnp.all(jnp.isfinite(out_raw))) and float(jnp.std(out_raw)) > 1e-3
  np.testing.assert_allclose(out_raw, out_pre, atol=1e-5, rtol=1e-5)


def test_diffwave_mel_length_mismatch_is_a_clear_error():
  model = _tiny_diffwave(n_mels=N_MELS, hop_length=8)
  x, t, cond = _inputs(1, 30, 4)  # 4 * 8 = 32 != 30
  with pytest.raises(ValueError, match='frames \\* hop_length'):
    jax.jit(model.init)(_key(0), x, t, cond)
  with pytest.raises(ValueError, match="needs cond"):
    jax.jit(model.init)(_key(0), x, t, None)


def test_diffwave_bfloat16_keeps_float32_params_and_output():
  model = _tiny_diffwave(n_mels=N_MELS, hop_length=4, dtype=jnp.bfloat16)
  x, t, cond = _inputs(2, 16, 4)
  variables = jax.jit(model.init)(_key(0), x, t, cond)
  assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(variables))
  assert jax.jit(model.apply)(_perturb(variables), x, t, cond).dtype == jnp.float32


@pytest.mark.parametrize('shape,n_mels', [((2, 64), 0), ((1, 128, 3), N_MELS)])
def test_unet_output_shape(shape, n_mels):
  model = models.UNet1D(channels=(8, 16), blocks_per_level=1, downsample=4,
                        hop_length=16, n_mels=n_mels, embedding_dim=16)
  x = jnp.asarray(np.random.default_rng(0).standard_normal(shape), jnp.float32)
  t = jnp.array([0.5, 10.0][:shape[0]])
  cond = {'mel': jnp.ones((shape[0], shape[1] // 16, N_MELS))}
  variables = jax.jit(model.init)(_key(1), x, t, cond)
  out = jax.jit(model.apply)(_perturb(variables), x, t, cond)
  assert out.shape == x.shape and out.dtype == jnp.float32


def test_unet_needs_length_divisible_by_downsampling():
  model = models.UNet1D(channels=(8, 8, 8), blocks_per_level=1, downsample=4, embedding_dim=16)
  x, t, _ = _inputs(1, 40)  # not divisible by 16
  with pytest.raises(ValueError, match='divisible'):
    jax.jit(model.init)(_key(0), x, t)


def test_mlp_output_shape():
  model = models.MLPDenoiser(hidden=32, embedding_dim=16)
  for length in (1024, 100):
    x, t, _ = _inputs(3, length)
    variables = jax.jit(model.init)(_key(0), x, t)
    assert jax.jit(model.apply)(variables, x, t).shape == (3, length)


@pytest.mark.parametrize('make_model', [
    lambda: _tiny_diffwave(num_classes=3),
    lambda: models.UNet1D(channels=(8, 8), blocks_per_level=1, downsample=2,
                          num_classes=3, embedding_dim=16),
    lambda: models.MLPDenoiser(hidden=32, num_classes=3, embedding_dim=16),
], ids=['diffwave', 'unet1d', 'mlp'])
def test_label_conditioning_changes_output(make_model):
  model = make_model()
  x, t, _ = _inputs(2, 32)
  label = {'label': jnp.array([0, 1])}
  variables = _perturb(jax.jit(model.init)(_key(0), x, t, label))
  apply = jax.jit(model.apply)
  out_a = apply(variables, x, t, {'label': jnp.array([0, 1])})
  out_b = apply(variables, x, t, {'label': jnp.array([2, 3])})  # 3 = "no label"
  assert out_a.shape == x.shape
  assert float(jnp.max(jnp.abs(out_a - out_b))) > 1e-4
  with pytest.raises(ValueError, match='label'):
    apply(variables, x, t, None)


def _config(name='diffwave', **section_overrides):
  config = defaults.get_config()
  config.model.name = name
  config.model.diffwave.update(dict(residual_layers=2, residual_channels=4, embedding_dim=8))
  config.model.unet1d.update(dict(channels=(4, 8), blocks_per_level=1, embedding_dim=8))
  config.model.mlp.update(dict(hidden=16, embedding_dim=8))
  if section_overrides:
    config.model[name].update(section_overrides)
  config.audio.n_mels = N_MELS
  config.audio.hop_length = 8
  return config


@pytest.mark.parametrize('name,inputs', [
    ('diffwave', dict(n_mels=N_MELS)), ('diffwave', dict(num_classes=2)),
    ('diffwave', dict(n_mels=N_MELS, num_classes=2)), ('unet1d', dict(n_mels=N_MELS)),
    ('mlp', dict(num_classes=2))])
def test_get_model_builds_each_model(name, inputs):
  model = models.get_model(_config(name=name), **inputs)
  x, t, _ = _inputs(2, 64)
  cond = {'mel': jnp.zeros((2, 8, N_MELS)), 'label': jnp.array([0, 2])}
  variables = jax.jit(model.init)(_key(0), x, t, cond)
  assert jax.jit(model.apply)(variables, x, t, cond).shape == x.shape


def test_get_model_bfloat16():
  config = _config(name='mlp')
  config.train.compute_dtype = 'bfloat16'
  assert models.get_model(config).dtype == jnp.bfloat16


@pytest.mark.parametrize('overrides,message', [
    (dict(name='difwave'), "'difwave'.*diffwave, frame_prior, mlp, spectral_autoencoder, unet1d"),
    (dict(dropout=1.0), 'dropout'),
])
def test_get_model_rejects_bad_values(overrides, message):
  with pytest.raises(ValueError, match=message):
    models.get_model(_config(**overrides))


def test_get_model_rejects_an_input_the_model_lacks():
  with pytest.raises(ValueError, match="'mlp' takes no mel"):
    models.get_model(_config(name='mlp'), n_mels=N_MELS)


def test_get_model_rejects_bad_dtype():
  config = _config()
  config.train.compute_dtype = 'fp16'
  with pytest.raises(ValueError, match="'fp16'.*float32, bfloat16"):
    models.get_model(config)


@pytest.mark.parametrize('make_model', [
    lambda: _tiny_diffwave(dropout=0.5),
    lambda: models.UNet1D(channels=(8, 8), blocks_per_level=1, downsample=2, embedding_dim=16,
                          dropout=0.5),
    lambda: models.MLPDenoiser(hidden=32, embedding_dim=16, dropout=0.5),
], ids=['diffwave', 'unet1d', 'mlp'])
def test_dropout_is_active_only_in_training(make_model):
  model = make_model()
  x, t, _ = _inputs(2, 32)
  variables = _perturb(jax.jit(model.init)(_key(0), x, t))
  apply = jax.jit(model.apply, static_argnames='train')
  evaluation = apply(variables, x, t)
  np.testing.assert_array_equal(evaluation, apply(variables, x, t, train=False))
  # Without dropout the same parameters give the evaluation output exactly.
  plain = model.clone(dropout=0.0)
  np.testing.assert_allclose(jax.jit(plain.apply)(variables, x, t), evaluation, atol=1e-6)
  draws = [apply(variables, x, t, train=True, rngs={'dropout': jax.random.PRNGKey(i)})
           for i in range(2)]
  assert float(jnp.max(jnp.abs(draws[0] - evaluation))) > 1e-3
  assert float(jnp.max(jnp.abs(draws[0] - draws[1]))) > 1e-3


def test_pointwise_matmul_jvp_equals_plain_dot():
  rng = np.random.default_rng(2)
  x, kernel, dx, dk = (jnp.asarray(rng.standard_normal(shape), jnp.float32)
                       for shape in ((2, 5, 3), (3, 4), (2, 5, 3), (3, 4)))
  ours = jax.jvp(diffwave.pointwise_matmul, (x, kernel), (dx, dk))
  plain = jax.jvp(jnp.dot, (x, kernel), (dx, dk))
  for a, b in zip(ours, plain):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_diffwave_forward_mode_agrees_with_reverse_mode():
  """jax.jvp through the whole model, in x and in the parameters: for any
  cotangent c, <c, J d> (forward) equals <J^T c, d> (reverse)."""
  model = _tiny_diffwave(n_mels=N_MELS, hop_length=4)
  x, t, cond = _inputs(2, 16, 4)
  variables = _perturb(jax.jit(model.init)(_key(0), x, t, cond))
  rng = np.random.default_rng(3)
  dx = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
  dparams = jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape), p.dtype),
                         variables)
  f = lambda v, x: model.apply(v, x, t, cond)
  _, tangent = jax.jit(lambda: jax.jvp(f, (variables, x), (dparams, dx)))()
  assert float(jnp.max(jnp.abs(tangent))) > 1e-3
  cotangent = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
  grads = jax.jit(jax.grad(lambda v, x: jnp.sum(f(v, x) * cotangent), argnums=(0, 1)))(
      variables, x)
  inner = sum(jnp.sum(g * d) for g, d in zip(jax.tree.leaves(grads),
                                              jax.tree.leaves((dparams, dx))))
  np.testing.assert_allclose(float(inner), float(jnp.sum(tangent * cotangent)), rtol=1e-4)


def test_diffwave_layers_choice_per_backend():
  assert models.diffwave_layers('auto', 'cpu') == ('scan', 'scan')
  assert models.diffwave_layers('auto', 'gpu') == ('scan', 'unrolled')
  assert models.diffwave_layers('unrolled', 'cpu') == ('unrolled', 'unrolled')
  with pytest.raises(UserError, match='diffwave.formulation'):
    models.diffwave_layers('scanned')


def test_diffwave_unrolled_inference_switches_only_when_sampling():
  fast = _tiny_diffwave(n_mels=N_MELS, residual_layers=3, dilation_cycle=3, hop_length=4)
  mixed = fast.clone(unrolled_inference=True)
  x, t, cond = _inputs(2, 40, 10)
  variables = _perturb(jax.jit(fast.init)(_key(0), x, t, cond))
  np.testing.assert_allclose(mixed.apply(variables, x, t, cond),
                             fast.apply(variables, x, t, cond), atol=1e-5, rtol=1e-5)
  lowered = lambda m, train: jax.jit(lambda v: m.apply(v, x, t, cond, train=train)).lower(
      variables).as_text()
  # The scan over layers lowers to a while loop; the unrolled layers do not.
  assert 'stablehlo.while' not in lowered(mixed, False)
  assert 'stablehlo.while' in lowered(mixed, True)


def test_mixed_matmul_rounds_operands_to_bfloat16_and_accumulates_in_float32():
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.standard_normal((2, 9, 64)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((64, 8)), jnp.float32)
  y = jax.jit(diffwave.mixed_matmul, static_argnums=2)(x, kernel, jnp.bfloat16)
  assert y.dtype == jnp.float32
  rounded = lambda a: np.asarray(a.astype(jnp.bfloat16).astype(jnp.float32), np.float64)
  # The closed form: exact products of the rounded operands, summed in float32.
  np.testing.assert_allclose(y, rounded(x) @ rounded(kernel), rtol=1e-5, atol=1e-4)
  # ... which differs from the float32 product by the operands' rounding.
  assert float(jnp.max(jnp.abs(y - x @ kernel))) > 1e-3


# 14 rows: the kernel gradient through x split in two halves; 7: directly.
@pytest.mark.parametrize('batch', [2, 1])
def test_mixed_matmul_gradients_are_bfloat16_products(batch):
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.standard_normal((batch, 7, 16)), jnp.float32)
  kernel = jnp.asarray(rng.standard_normal((16, 3)), jnp.float32)
  loss = lambda matmul: lambda a, b: jnp.sum(jnp.sin(matmul(a, b)))
  mixed = jax.grad(loss(lambda a, b: diffwave.mixed_matmul(a, b, jnp.bfloat16)),
                   argnums=(0, 1))(x, kernel)
  exact = jax.grad(loss(jnp.dot), argnums=(0, 1))(x, kernel)
  for a, b in zip(mixed, exact):
    assert a.dtype == jnp.float32 and a.shape == b.shape
    # bfloat16 keeps 8 significant bits: relative error well under 2%.
    assert float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b)) < 2e-2
  lowered = jax.jit(jax.grad(loss(lambda a, b: diffwave.mixed_matmul(a, b, jnp.bfloat16)),
                             argnums=(0, 1))).lower(x, kernel).as_text()
  # Forward and both backward products multiply bfloat16 operands and
  # accumulate in float32 (XLA:CPU runs bf16 x bf16 -> bf16 products in float32).
  dots = [line.split(':')[-1] for line in lowered.splitlines() if 'dot_general' in line]
  assert len(dots) == 3, dots
  assert all(re.fullmatch(r' \(tensor<[0-9x]+xbf16>, tensor<[0-9x]+xbf16>\) -> tensor<[0-9x]+xf32>',
                          dot) for dot in dots), dots


@pytest.mark.parametrize('use_matmul_conv', [True, False], ids=['scan', 'unrolled'])
def test_diffwave_bfloat16_matmuls_stay_close_to_float32(use_matmul_conv):
  exact = _tiny_diffwave(n_mels=N_MELS, hop_length=4)
  mixed = _tiny_diffwave(n_mels=N_MELS, hop_length=4, matmul_dtype=jnp.bfloat16,
                         use_matmul_conv=use_matmul_conv)
  x, t, cond = _inputs(2, 32, 8)
  variables = _perturb(jax.jit(exact.init)(_key(0), x, t, cond))
  outputs = [jax.jit(m.apply)(variables, x, t, cond) for m in (exact, mixed)]
  assert outputs[1].dtype == jnp.float32
  error = float(jnp.linalg.norm(outputs[1] - outputs[0]) / jnp.linalg.norm(outputs[0]))
  assert 1e-5 < error < 2e-2
  # The precomputed conditioner takes the same path.
  condition = jax.jit(lambda v, c: mixed.apply(v, c, method=mixed.condition))
  np.testing.assert_allclose(jax.jit(mixed.apply)(variables, x, t, condition(variables, cond)),
                             outputs[1], rtol=1e-5, atol=1e-5)


def test_get_model_matmul_dtype():
  config = _config()
  config.train.matmul_dtype = 'bfloat16'
  assert models.get_model(config).matmul_dtype == jnp.bfloat16
  assert models.get_model(_config()).matmul_dtype is None
  config.train.matmul_dtype = 'bf16'
  with pytest.raises(UserError, match="'bf16'.*compute, bfloat16"):
    models.get_model(config)
  config = _config(name='unet1d')
  config.train.matmul_dtype = 'bfloat16'
  with pytest.raises(UserError, match="diffwave' only"):
    models.get_model(config)


@pytest.mark.parametrize('factor', [1, 2, 5, 16])
def test_upsample_stage_is_flax_conv_transpose(factor):
  """The closed form of the stage against nn.ConvTranspose on the same
  parameters (the same names, shapes and initial values)."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  stage = diffwave.UpsampleStage(factor)
  conv = nn.ConvTranspose(1, kernel_size=(2 * factor, 3), strides=(factor, 1), padding='SAME',
                          kernel_init=diffwave._kaiming)  # pylint: disable=protected-access
  h = jnp.asarray(np.random.default_rng(factor).standard_normal((2, 7, 6)), jnp.float32)
  variables = stage.init(_key(factor), h)
  reference_init = conv.init(_key(factor), h[..., None])
  for ours, theirs in zip(*map(jax.tree_util.tree_leaves, (variables, reference_init))):
    np.testing.assert_array_equal(ours, theirs)
  variables = _perturb(variables)
  np.testing.assert_allclose(jax.jit(stage.apply)(variables, h),
                             conv.apply(variables, h[..., None])[..., 0], atol=1e-5, rtol=1e-5)


def test_unet_attention_starts_as_a_no_op_and_then_moves_the_output():
  """attention_heads: self-attention over the coarsest level's positions,
  the identity at initialisation (a warm start begins unchanged), a change
  of the output once its projection moves."""
  x = jax.random.normal(jax.random.PRNGKey(0), (1, 256, 2))
  t = jnp.array([40.0])
  plain = models.UNet1D(channels=(8, 16), blocks_per_level=1, downsample=2)
  attending = models.UNet1D(channels=(8, 16), blocks_per_level=1, downsample=2,
                            attention_heads=2)
  params = attending.init(jax.random.PRNGKey(1), x, t)['params']
  assert set(params) - set(plain.init(jax.random.PRNGKey(1), x, t)['params']) == {'attention'}
  params['output_conv'] = {'kernel': jnp.ones_like(params['output_conv']['kernel']),
                           'bias': params['output_conv']['bias']}
  without = {k: v for k, v in params.items() if k != 'attention'}
  np.testing.assert_allclose(attending.apply({'params': params}, x, t),
                             plain.apply({'params': without}, x, t), atol=1e-6)
  out = params['attention']['MultiHeadDotProductAttention_0']['out']
  out['kernel'] = jnp.ones_like(out['kernel'])
  assert not np.allclose(attending.apply({'params': params}, x, t),
                         plain.apply({'params': without}, x, t), atol=1e-4)
  two_levels = models.UNet1D(channels=(8, 16), blocks_per_level=1, downsample=2,
                             attention_heads=2, attention_levels=2)
  assert set(two_levels.init(jax.random.PRNGKey(1), x, t)['params']) - set(params) == {
      'attention_0'}
