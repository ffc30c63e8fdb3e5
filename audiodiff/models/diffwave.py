"""DiffWave (Kong et al. 2021): a non-causal WaveNet that predicts the noise.

x [B, L] -> 1x1 conv (C channels), relu -> num_layers residual layers with
dilation 2**(i % dilation_cycle) -> sum of skips / sqrt(num_layers) -> 1x1
conv, relu -> zero-initialised 1x1 conv -> [B, L].

The dilated conv (kernel 3) is written as one matrix product: the shifted
copies x[t-d], x[t], x[t+d] are stacked along channels and multiplied by the
[3C, 2C] kernel, and the layers run as one `lax.scan` over stacked
parameters (benchmarks/README.md, "DiffWave speed on CPU", has what each
choice gains).
`use_matmul_conv=False` runs XLA's dilated convolution, unrolled, on the same
parameters (the reference, and the faster inference on GPU);
`unrolled_inference=True` uses it only when not training.
`matmul_dtype=jnp.bfloat16` gives the matrix products bfloat16 operands,
accumulated in `dtype` (float32): mixed precision that doubles the product
rate on CPUs with AVX512-BF16 or AMX.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

from audiodiff.models import embeddings

# PyTorch's kaiming_normal_ as in the DiffWave reference convs.
_kaiming = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')


def upsample_factors(hop_length: int, max_factor: int = 16):
  """Splits hop_length into stage strides, each <= max_factor where possible.

  Prime factors are merged greedily (largest first); a prime above max_factor
  stays one stage. E.g. 256 -> (16, 16), 300 -> (5, 15, 4), 101 -> (101,).
  """
  if hop_length < 1:
    raise ValueError(f'hop_length must be >= 1, got {hop_length}.')
  primes, n, p = [], hop_length, 2
  while p * p <= n:
    while n % p == 0:
      primes.append(p)
      n //= p
    p += 1
  if n > 1:
    primes.append(n)
  factors = []
  for prime in sorted(primes, reverse=True):
    if factors and factors[-1] * prime <= max_factor:
      factors[-1] *= prime
    else:
      factors.append(prime)
  return tuple(factors)


class UpsampleStage(nn.Module):
  """h [B, n, M] -> [B, n * factor, M]: a single-channel 2D transposed conv,
  time stride `factor`, kernel (2 * factor, 3), 'SAME' padding; parameters as
  nn.ConvTranspose(1, (2 * factor, 3), strides=(factor, 1)) (its output too).

  Each output sample t = factor * q + r reads input frames q - 1, q, q + 1
  (two of them carry weight) and mel bins p - 1, p, p + 1, so the stage is
  one [B*n*M, 9] x [9, factor] product: XLA's dilated-input convolution,
  mostly multiplications by inserted zeros, took 13x longer on CPU.
  """
  factor: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h):
    f = self.factor
    kernel = self.param('kernel', _kaiming, (2 * f, 3, 1, 1), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (1,), jnp.float32)
    batch, n, bins = h.shape
    # lax.conv_transpose's 'SAME' padding puts input frame m at output
    # position f * m + pad - j for kernel tap j.
    pad = -(-(3 * f - 2) // 2)
    shifts = np.arange(-1, 2)[:, None]                         # [3, 1]: frame q + shift
    taps = pad + f * shifts - np.arange(f)[None, :]            # [3, f]: kernel tap j
    valid = (taps >= 0) & (taps < 2 * f)
    time_weights = jnp.where(valid[..., None], kernel[np.clip(taps, 0, 2 * f - 1), :, 0, 0],
                             0.0)                                # [3, f, 3 mel taps]
    weights = time_weights.transpose(0, 2, 1).reshape(9, f).astype(self.dtype)
    padded = jnp.pad(h.astype(self.dtype), ((0, 0), (1, 1), (1, 1)))
    neighbours = jnp.stack([padded[:, 1 + dq:1 + dq + n, b:b + bins]
                            for dq in (-1, 0, 1) for b in range(3)], axis=-1)  # [B, n, M, 9]
    out = jnp.dot(neighbours, weights)                           # [B, n, M, f]
    out = out.transpose(0, 1, 3, 2).reshape(batch, n * f, bins)
    return out + bias.astype(self.dtype)


class MelUpsampler(nn.Module):
  """mel [B, frames, n_mels] -> [B, frames * hop_length, n_mels].

  As in DiffWave, each stage is a single-channel 2D transposed conv over
  (time, mel) with time stride f and kernel (2f, 3), then leaky_relu(0.4);
  the mel axis is only smoothed, not mixed into channels, which keeps the
  upsampler at a few hundred parameters.
  """
  hop_length: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, mel):
    if mel.ndim != 3:
      raise ValueError(f'mel must be [B, frames, n_mels], got shape {mel.shape}.')
    h = mel
    for i, factor in enumerate(upsample_factors(self.hop_length)):
      h = nn.leaky_relu(UpsampleStage(factor, self.dtype, name=f'stage_{i}')(h), 0.4)
    return h


def _flat_dot(x, kernel):
  """x [..., K] @ kernel [K, N] as one [prod(...), K] GEMM."""
  return jnp.dot(x.reshape(-1, x.shape[-1]), kernel).reshape(*x.shape[:-1], kernel.shape[-1])


@jax.custom_jvp
def pointwise_matmul(x, kernel):
  """x [..., K] @ kernel [K, N] -> [..., N], with a CPU-friendly weight gradient.

  Autodiff of jnp.dot over [B, L, K] contracts the kernel gradient over (B, L)
  and XLA:CPU then copies g to a transposed layout and falls back from its
  fast GEMM path. The jvp below writes the kernel's tangent term over x
  flattened to [B*L, K], so its transpose (the reverse-mode kernel gradient)
  contracts dim 0 of two 2-D arrays directly, which the fused layer's
  forward+backward measurably gains from (benchmarks/diffwave_speed.py).
  Being a jvp, it serves forward mode (jax.jvp) too.
  """
  return jnp.dot(x, kernel)


def _pointwise_matmul_jvp(primals, tangents):
  x, kernel = primals
  x_dot, kernel_dot = tangents
  terms = []
  if not isinstance(x_dot, jax.custom_derivatives.SymbolicZero):
    terms.append(jnp.dot(x_dot, kernel))
  if not isinstance(kernel_dot, jax.custom_derivatives.SymbolicZero):
    terms.append(_flat_dot(x, kernel_dot))
  y = jnp.dot(x, kernel)
  return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


pointwise_matmul.defjvp(_pointwise_matmul_jvp, symbolic_zeros=True)


def mixed_matmul(x, kernel, matmul_dtype=None, out_dtype=None):
  """x [..., K] @ kernel [K, N] -> [..., N] in out_dtype (default x's), the
  operands cast to matmul_dtype (default x's) and accumulated in out_dtype.

  With every dtype x's, this is `pointwise_matmul`. Otherwise (bfloat16
  operands, float32 accumulation: twice the product rate on CPUs with
  AVX512-BF16 or AMX) it is `_low_precision_matmul`, whose backward
  products take bfloat16 operands too; reverse mode only.
  """
  matmul_dtype, out_dtype = matmul_dtype or x.dtype, out_dtype or x.dtype
  if matmul_dtype == out_dtype == x.dtype:
    return pointwise_matmul(x, kernel.astype(matmul_dtype))
  return _low_precision_matmul(x, kernel, matmul_dtype, out_dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _low_precision_matmul(x, kernel, matmul_dtype, out_dtype):
  """`mixed_matmul` with matmul_dtype operands, accumulated in out_dtype.

  A custom vjp, because autodiff would write the backward products with
  matmul_dtype results (bf16 x bf16 -> bf16), which XLA:CPU runs as float32
  products after converting both operands. Here all three products take
  matmul_dtype operands and accumulate in out_dtype, and the gradients
  come back in x's and kernel's own dtypes.
  """
  return jnp.dot(x.astype(matmul_dtype), kernel.astype(matmul_dtype),
                 preferred_element_type=out_dtype)


def _low_precision_matmul_fwd(x, kernel, matmul_dtype, out_dtype):
  y = _low_precision_matmul(x, kernel, matmul_dtype, out_dtype)
  # Empty arrays carry x's and kernel's dtypes (residuals must be arrays).
  dtypes = jnp.zeros((0,), x.dtype), jnp.zeros((0,), kernel.dtype)
  return y, (x.astype(matmul_dtype), kernel.astype(matmul_dtype), dtypes)


def _low_precision_matmul_bwd(matmul_dtype, out_dtype, residuals, g):
  x, kernel, (x_like, kernel_like) = residuals
  g = g.astype(matmul_dtype)
  x_grad = jnp.dot(g, kernel.T, preferred_element_type=out_dtype)
  return (x_grad.astype(x_like.dtype),
          kernel_gradient(x, g, out_dtype).astype(kernel_like.dtype))


_low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd)


def kernel_gradient(x, g, out_dtype):
  """x [..., K], g [..., N] -> x^T g [K, N], summed over every row, in out_dtype.

  Contracting dim 0 of the flattened [rows, K] and [rows, N] directly takes
  a slow path on XLA:CPU in bfloat16; split in two halves, the contraction
  over (half, row) makes XLA copy x to a [K, rows] layout first and run one
  plain GEMM. Per 240 products of 31,744 rows x 192 x 128 on a 2-core
  AVX512-BF16 CPU: direct 4.2 s, split 1.4 s (float32: 3.1 s, either form).
  """
  rows = math.prod(x.shape[:-1])
  halves = 2 if rows % 2 == 0 else 1
  return jnp.einsum('hrk,hrn->kn', x.reshape(halves, rows // halves, x.shape[-1]),
                    g.reshape(halves, rows // halves, g.shape[-1]),
                    preferred_element_type=out_dtype)


class PointwiseDense(nn.Module):
  """A 1x1 conv over time: x [B, L, K] -> [B, L, features]; params as nn.Dense."""
  features: int
  dtype: Any = jnp.float32
  kernel_init: Any = _kaiming

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init, (x.shape[-1], self.features), jnp.float32)
    bias = self.param('bias', nn.initializers.zeros, (self.features,), jnp.float32)
    y = pointwise_matmul(x.astype(self.dtype), kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)


def _stacked(init, num: int):
  """An initializer for [num, *shape] that draws num independent [*shape] slices."""
  def init_fn(key, shape, dtype=jnp.float32):
    return jax.vmap(lambda k: init(k, shape[1:], dtype))(jax.random.split(key, num))
  return init_fn


def shift_matmul_conv(y, kernel, dilation, max_dilation: int, matmul_dtype=None):
  """Kernel-3 dilated conv as one GEMM: [y[t-d], y[t], y[t+d]] @ kernel.

  y [B, L, C], kernel [3, C, F], dilation a traced int <= max_dilation (so one
  compiled layer serves every dilation) -> [B, L, F] in y's dtype, zero
  padded ends. The shifted copies are slices of y padded by max_dilation,
  which also covers d >= L (all-zero shifts); they are written in
  matmul_dtype (default y's), the product accumulates in y's dtype.
  """
  batch, length, channels = y.shape
  matmul_dtype = matmul_dtype or y.dtype
  padded = jnp.pad(y.astype(matmul_dtype), ((0, 0), (max_dilation, max_dilation), (0, 0)))
  before = jax.lax.dynamic_slice_in_dim(padded, max_dilation - dilation, length, axis=1)
  after = jax.lax.dynamic_slice_in_dim(padded, max_dilation + dilation, length, axis=1)
  # stack + reshape fuses into one pass on CPU; concatenate becomes three.
  center = padded[:, max_dilation:max_dilation + length]
  stacked = jnp.stack([before, center, after], axis=-2).reshape(batch, length, 3 * channels)
  return mixed_matmul(stacked, kernel.reshape(3 * channels, -1), matmul_dtype, y.dtype)


def reference_conv(y, kernel, dilation: int, matmul_dtype=None):
  """The same conv through XLA's dilated convolution (static dilation)."""
  d, matmul_dtype = dilation, matmul_dtype or y.dtype
  return jax.lax.conv_general_dilated(
      y.astype(matmul_dtype), kernel.astype(matmul_dtype), window_strides=(1,),
      padding=((d, d),), rhs_dilation=(d,), dimension_numbers=('NWC', 'WIO', 'NWC'),
      preferred_element_type=y.dtype)


def residual_layer(p, x, step_projection, conditioner, conv, dropout=None,
                   matmul_dtype=None):
  """One DiffWave layer -> (residual out [B, L, C], skip [B, L, C]).

  p: this layer's conv and output parameters (see ResidualStack);
  x [B, L, C]; step_projection [B, C]; conditioner: the (gate, signal) terms
  added to the dilated conv's output halves, [C] or [B, L, C] each: its bias,
  plus the mel projection when mel-conditioned; conv(y, kernel [3, C, 2C])
  -> [B, L, 2C], the bias-free dilated conv; dropout: optional y -> y applied
  to the gated activations (training only); matmul_dtype: the 1x1 output
  conv's operand dtype (default x's).
  """
  dtype = x.dtype
  y = conv(x + step_projection[:, None, :], p['conv_kernel'].astype(dtype))
  gate, signal = jnp.split(y, 2, axis=-1)
  gate = checkpoint_name(gate + conditioner[0].astype(dtype), 'gate_input')
  signal = checkpoint_name(signal + conditioner[1].astype(dtype), 'gate_input')
  y = nn.sigmoid(gate) * jnp.tanh(signal)
  if dropout is not None:
    y = dropout(y)
  y = mixed_matmul(y, p['output_kernel'].astype(dtype), matmul_dtype)
  residual, skip = jnp.split(y + p['output_bias'].astype(dtype), 2, axis=-1)
  # 1/sqrt(2) keeps the residual stream's variance from growing with depth.
  return (x + residual) * (1.0 / math.sqrt(2.0)), skip


class ResidualStack(nn.Module):
  """num_layers DiffWave layers, dilation 2**(i % dilation_cycle).

  Parameters are stacked on a leading [num_layers] axis and the layers run as
  one `lax.scan`. Besides compiling one layer instead of num_layers, the scan
  keeps XLA from fusing the residual stream across layers: unrolled, every
  layer re-derived x from all earlier layers' outputs (quadratic memory
  traffic) and the model ran slower on CPU.
  """
  num_layers: int
  channels: int
  dilation_cycle: int
  step_features: int
  n_mels: int = 0  # 0: no mel conditioning
  dropout: float = 0.0
  use_matmul_conv: bool = True
  unrolled_inference: bool = False
  matmul_dtype: Any = None
  dtype: Any = jnp.float32

  def setup(self):
    n, c = self.num_layers, self.channels
    param = lambda name, init, shape: self.param(name, _stacked(init, n), (n, *shape))
    # Each layer's Dense of the step embedding, its dilated conv, its 1x1
    # output conv (to residual and skip) and, with mels, its 1x1 mel conv.
    self.step_kernel = param('step_kernel', nn.initializers.lecun_normal(),
                             (self.step_features, c))
    self.step_bias = param('step_bias', nn.initializers.zeros, (c,))
    self.conv_kernel = param('conv_kernel', _kaiming, (3, c, 2 * c))
    self.conv_bias = param('conv_bias', nn.initializers.zeros, (2 * c,))
    self.output_kernel = param('output_kernel', _kaiming, (c, 2 * c))
    self.output_bias = param('output_bias', nn.initializers.zeros, (2 * c,))
    if self.n_mels:
      self.mel_kernel = param('mel_kernel', _kaiming, (self.n_mels, 2 * c))
      self.mel_bias = param('mel_bias', nn.initializers.zeros, (2 * c,))

  def project_mel(self, mel_upsampled):
    """[B, L, n_mels] -> every layer's conditioner (gate, signal) terms, each
    [num_layers, B, L, C]: mel projection plus its bias and the conv bias.

    Kept as two arrays: on CPU, slicing one [.., 2C] array inside the scan
    compiles to a much slower loop.
    """
    # One [B*L, n_mels] x [n_mels, 2C] product per layer, written in place:
    # a single einsum to [num_layers, B, L, 2C] ran slower on CPU.
    return jax.lax.map(lambda layer: self._mel_terms(mel_upsampled, *layer),
                       (self.mel_kernel, self.mel_bias + self.conv_bias))

  def _mel_terms(self, mel_upsampled, kernel, bias):
    """One layer's (gate, signal) terms, each [B, L, C]: mel_upsampled
    [B, L, n_mels] @ kernel [n_mels, 2C] + bias [2C] (its mel and conv biases)."""
    terms = mixed_matmul(mel_upsampled.astype(self.dtype), kernel.astype(self.dtype),
                         self.matmul_dtype) + bias.astype(self.dtype)
    return tuple(jnp.split(terms, 2, axis=-1))

  def __call__(self, x, step, mel_upsampled=None, mel_projection=None, train=False):
    """x [B, L, C], step [B, F] -> sum of skips [B, L, C].

    Mel conditioning (n_mels > 0) takes either mel_upsampled [B, L, n_mels],
    projected inside each layer, or mel_projection from `project_mel`.
    With train and dropout > 0, each layer drops gated activations (rng
    stream 'dropout', folded with the layer index).
    """
    dropout_key = (self.make_rng('dropout') if train and self.dropout > 0 else None)

    def dropout_of(i):
      if dropout_key is None:
        return None
      keep = 1.0 - self.dropout
      key = jax.random.fold_in(dropout_key, i)
      return lambda y: jnp.where(jax.random.bernoulli(key, keep, y.shape), y / keep, 0)

    p = {'conv_kernel': self.conv_kernel, 'conv_bias': self.conv_bias,
         'output_kernel': self.output_kernel, 'output_bias': self.output_bias}
    if self.n_mels:
      p.update(mel_kernel=self.mel_kernel, mel_bias=self.mel_bias)
    # Every layer's projection of the step embedding: [num_layers, B, C].
    steps = (jnp.einsum('bf,nfc->nbc', step.astype(self.dtype), self.step_kernel.astype(self.dtype))
             + self.step_bias.astype(self.dtype)[:, None, :])
    x = x.astype(self.dtype)
    dilations = [2**(i % self.dilation_cycle) for i in range(self.num_layers)]

    def conditioner(layer_p, i):
      """Layer i's (gate, signal) terms: [C] biases, or [B, L, C] with mels."""
      if mel_projection is not None:  # from project_mel, biases included
        return mel_projection[0][i], mel_projection[1][i]
      if mel_upsampled is not None:
        return self._mel_terms(mel_upsampled, layer_p['mel_kernel'],
                               layer_p['mel_bias'] + layer_p['conv_bias'])
      return tuple(jnp.split(layer_p['conv_bias'].astype(self.dtype), 2, axis=-1))

    if not self.use_matmul_conv or (self.unrolled_inference and not train):
      # Unrolled, XLA's dilated conv.
      skips = jnp.zeros_like(x)
      for i, d in enumerate(dilations):
        layer_p = jax.tree.map(lambda a, i=i: a[i], p)
        conv = lambda y, kernel, d=d: reference_conv(y, kernel, d, self.matmul_dtype)
        x, skip = residual_layer(layer_p, x, steps[i], conditioner(layer_p, i), conv,
                                 dropout_of(i), self.matmul_dtype)
        skips = skips + skip
      return skips

    max_dilation = max(dilations)

    def body(carry, layer):
      x, skips = carry
      layer_p, step_projection, i = layer
      dilation = jnp.left_shift(1, i % self.dilation_cycle)
      conv = lambda y, kernel: shift_matmul_conv(y, kernel, dilation, max_dilation,
                                                 self.matmul_dtype)
      x, skip = residual_layer(layer_p, x, step_projection, conditioner(layer_p, i), conv,
                               dropout_of(i), self.matmul_dtype)
      return (x, skips + skip), None

    # Under autodiff, keep only each layer's gate input [B, L, 2C] (and the
    # carry) for the backward pass and recompute the rest: writing and reading
    # back every intermediate cost more than the recomputation (BASE train
    # step 26 s -> 21 s on CPU).
    body = jax.checkpoint(body, prevent_cse=False,
                          policy=jax.checkpoint_policies.save_only_these_names('gate_input'))
    # The precomputed mel terms are indexed by layer inside the body, not
    # scanned over: the scan's own slicing compiled to a slower loop on CPU.
    layers = (p, steps, jnp.arange(self.num_layers))
    (_, skips), _ = jax.lax.scan(body, (x, jnp.zeros_like(x)), layers)
    return skips


class DiffWave(nn.Module):
  """DiffWave denoiser: x [B, L], t [B], cond -> prediction [B, L] (float32).

  Conditioning inputs are switched on by their sizes: num_classes > 0 reads
  cond['label'] (int [B], id num_classes = "no label"); n_mels > 0 reads
  cond['mel'] ([B, frames, n_mels], frames * hop_length == L), or the output
  of `condition`, which skips the upsampler and projections.
  """
  residual_layers: int = 30
  residual_channels: int = 64
  dilation_cycle: int = 10
  num_classes: int = 0
  n_mels: int = 0
  hop_length: int = 256
  embedding_dim: int = 128
  step_features: int = 512
  dropout: float = 0.0
  use_matmul_conv: bool = True
  unrolled_inference: bool = False
  matmul_dtype: Any = None
  dtype: Any = jnp.float32

  def setup(self):
    self.input_projection = PointwiseDense(self.residual_channels, dtype=self.dtype)
    self.step_embedding = embeddings.StepEmbedding(self.embedding_dim, self.step_features,
                                                   dtype=self.dtype)
    if self.num_classes:
      self.label_embedding = embeddings.LabelEmbedding(self.num_classes, self.step_features,
                                                       dtype=self.dtype)
    if self.n_mels:
      self.mel_upsampler = MelUpsampler(self.hop_length, dtype=self.dtype)
    self.layers = ResidualStack(
        self.residual_layers, self.residual_channels, self.dilation_cycle, self.step_features,
        n_mels=self.n_mels, dropout=self.dropout, use_matmul_conv=self.use_matmul_conv,
        unrolled_inference=self.unrolled_inference,
        matmul_dtype=self.matmul_dtype, dtype=self.dtype)
    self.skip_projection = PointwiseDense(self.residual_channels, dtype=self.dtype)
    # Zero init: the untrained network predicts 0, a safe start for eps/v/x0.
    self.output_projection = PointwiseDense(1, dtype=self.dtype,
                                            kernel_init=nn.initializers.zeros)

  def _upsampled_mel(self, cond):
    if cond is None or 'mel' not in cond:
      raise ValueError("A mel-conditioned DiffWave (n_mels > 0) needs cond={'mel': "
                       '[B, frames, n_mels]}.')
    mel = jnp.asarray(cond['mel'])
    if mel.ndim != 3 or mel.shape[-1] != self.n_mels:
      raise ValueError(f'mel must be [B, frames, {self.n_mels}], got shape {mel.shape}.')
    return self.mel_upsampler(mel)

  def condition(self, cond):
    """Per-utterance work, done once before sampling.

    Returns cond with 'mel' replaced by 'mel_projection': every layer's
    (gate, signal) terms, each [num_layers, B, frames * hop_length, C]
    (memory: num_layers * 2C floats per sample).
    'label' and other keys pass through unchanged.
    """
    cond = {} if cond is None else dict(cond)
    if self.n_mels and 'mel_projection' not in cond:
      cond['mel_projection'] = self.layers.project_mel(self._upsampled_mel(cond))
      del cond['mel']
    return cond

  def _mel_terms(self, cond, batch, length):
    """(mel_upsampled, mel_projection), one of them None, checked against x."""
    if 'mel_projection' in (cond or {}):
      mel_projection = tuple(cond['mel_projection'])
      expected = (self.residual_layers, batch)
      shapes = [term.shape for term in mel_projection]
      if len(shapes) != 2 or any(len(s) != 4 or s[:2] != expected for s in shapes):
        raise ValueError(f"cond['mel_projection'] has shapes {shapes}; expected (gate, "
                         f'signal) from `condition`, each [num_layers, B, L, C] with '
                         f'[num_layers, B] = {expected}.')
      mel_upsampled, frames_length = None, shapes[0][2]
    else:
      mel_upsampled, mel_projection = self._upsampled_mel(cond), None
      frames_length = mel_upsampled.shape[1]
    if frames_length != length:
      raise ValueError(
          f'mel upsampled to {frames_length} samples (frames * hop_length={self.hop_length}) '
          f'but x has length {length}; segments must be frames * hop_length samples.')
    return mel_upsampled, mel_projection

  def __call__(self, x, t, cond=None, train=False):
    if x.ndim != 2:
      raise ValueError(f'DiffWave takes a waveform x [B, L], got shape {x.shape}.')
    batch, length = x.shape
    step = self.step_embedding(t)
    if step.shape[0] != batch:
      raise ValueError(f't has batch {step.shape[0]} but x has batch {batch}.')
    if self.num_classes:
      step = step + self.label_embedding(embeddings.get_label(cond, self.num_classes))
    mel_upsampled = mel_projection = None
    if self.n_mels:
      mel_upsampled, mel_projection = self._mel_terms(cond, batch, length)
    h = nn.relu(self.input_projection(x[..., None].astype(self.dtype)))
    skips = self.layers(h, step, mel_upsampled, mel_projection, train=train)
    h = skips * (1.0 / math.sqrt(self.residual_layers))
    h = nn.relu(self.skip_projection(h))
    return self.output_projection(h)[..., 0].astype(jnp.float32)
