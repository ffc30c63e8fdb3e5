"""The seed example: an MLP encoder/decoder denoiser on short signals.

The original example mapped a 1,024-sample signal through Dense(1024 -> 512)
and back with no step input at all, so one network had to denoise every noise
level blindly. Here the step embedding is added to the hidden code, which is
what makes it a diffusion model; it remains a baseline for tiny tests.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from audiodiff.models import embeddings


class MLPDenoiser(nn.Module):
  """x [B, L] (the seed used L = 1024), t [B], cond -> prediction [B, L] float32.

  Dense(L -> hidden) encoder + step embedding, hidden_layers silu Dense
  layers (dropout after each in training), zero-initialised Dense(hidden -> L)
  decoder. L is read at call time. num_classes > 0 reads cond['label'] (int [B]).
  """
  hidden: int = 512
  hidden_layers: int = 2
  num_classes: int = 0
  embedding_dim: int = 128
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, t, cond=None, train=False):
    if x.ndim != 2:
      raise ValueError(f'MLPDenoiser takes x [B, L], got shape {x.shape}.')
    step = embeddings.StepEmbedding(self.embedding_dim, self.hidden, dtype=self.dtype,
                                    name='step_embedding')(t)
    if self.num_classes:
      label = embeddings.get_label(cond, self.num_classes)
      step = step + embeddings.LabelEmbedding(self.num_classes, self.hidden, dtype=self.dtype,
                                              name='label_embedding')(label)
    h = nn.Dense(self.hidden, dtype=self.dtype, name='encoder')(x.astype(self.dtype))
    h = h + step
    for i in range(self.hidden_layers):
      h = nn.Dense(self.hidden, dtype=self.dtype, name=f'hidden_{i}')(nn.silu(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = nn.Dense(x.shape[-1], dtype=self.dtype, kernel_init=nn.initializers.zeros,
                 name='decoder')(nn.silu(h))
    return h.astype(jnp.float32)
