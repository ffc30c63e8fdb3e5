"""Step and class-label embeddings shared by every denoiser.

The step t is a float [B] index into the trained schedule (0..T-1, fractional
values allowed, so continuous-time samplers such as DPM-Solver can query the
network between trained steps).
"""

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

def sinusoidal_embedding(t, dim: int, max_period: float = 10000.0):
  """t [B] -> [B, dim] = [sin(t w_j), cos(t w_j)], w_j from 1 down to 1/max_period.

  DiffWave's table uses frequencies that grow to 1e4, which turns integer steps
  into pseudo-random phases and makes fractional t meaningless; geometrically
  decreasing frequencies (Vaswani et al.) vary smoothly in t instead.
  """
  if dim % 2 or dim < 4:
    raise ValueError(f'embedding_dim must be even and >= 4, got {dim}.')
  half = dim // 2
  frequencies = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / (half - 1))
  phases = jnp.asarray(t, jnp.float32)[:, None] * frequencies[None, :]
  return jnp.concatenate([jnp.sin(phases), jnp.cos(phases)], axis=-1)


class StepEmbedding(nn.Module):
  """t [B] -> [B, features]: sinusoid, then Dense-silu-Dense-silu (DiffWave)."""
  embedding_dim: int = 128
  features: int = 512
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, t):
    t = jnp.asarray(t)
    if t.ndim != 1:
      raise ValueError(f't must be a [B] vector of step indices, got shape {t.shape}.')
    h = sinusoidal_embedding(t, self.embedding_dim)
    h = nn.silu(nn.Dense(self.features, dtype=self.dtype, name='dense_0')(h))
    return nn.silu(nn.Dense(self.features, dtype=self.dtype, name='dense_1')(h))


class LabelEmbedding(nn.Module):
  """label int [B] -> [B, features].

  The table has num_classes + 1 rows: id num_classes means "no label", so
  classifier-free guidance drops labels by swapping in that id and the same
  network predicts both the conditional and the unconditional score.
  """
  num_classes: int
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, label):
    label = jnp.asarray(label)
    if label.ndim != 1:
      raise ValueError(f'label must be an int [B] vector, got shape {label.shape}.')
    embed = nn.Embed(self.num_classes + 1, self.features, dtype=self.dtype,
                     embedding_init=nn.initializers.normal(stddev=1.0), name='embed')
    return embed(label.astype(jnp.int32))


def get_label(cond, num_classes: int):
  """cond['label'] as int32 [B], with a clear error when it is missing."""
  if cond is None or 'label' not in cond:
    raise ValueError(
        "A class-conditional model (num_classes > 0) needs cond={'label': int32 [B]} "
        f'(use id {num_classes} for "no label").')
  return jnp.asarray(cond['label'], jnp.int32)


def get_attributes(cond, sizes):
  """cond['attributes'] as int32 [B, len(sizes)], with a clear error when it
  is missing or of another width."""
  attributes = None if cond is None else cond.get('attributes')
  if attributes is None or jnp.ndim(attributes) != 2 or jnp.shape(attributes)[1] != len(sizes):
    raise ValueError(
        f"A model with attribute_sizes={tuple(sizes)} needs cond={{'attributes': int32 "
        f'[B, {len(sizes)}]}} (id size_i for "not given"); got '
        f'{None if attributes is None else jnp.shape(attributes)}.')
  return jnp.asarray(attributes, jnp.int32)
