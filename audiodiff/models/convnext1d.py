"""A ConvNeXt over frames (Vocos' backbone) for frame-rate spectrogram models.

x [B, frames, C_in] -> [B, frames, C_in]. Every frame's features (a
compressed complex STFT: 2 * bins values) and the conditioning signal are
projected to `channels`, then `num_blocks` ConvNeXt blocks each mix time with
a depthwise conv of `kernel_size` frames and channels with a wide two-layer
MLP. The diffusion step enters every block as the scale and shift of its
LayerNorm (adaptive norm). At 62.5 frames a second the network computes
at 1/256 of the waveform's positions with dense matrix products, which is
what makes it trainable on a CPU (benchmarks/README.md, "Vocoder").
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from audiodiff.models import embeddings


class ConvNeXtBlock(nn.Module):
  """[B, T, C] -> [B, T, C]: depthwise conv, adaptive LayerNorm, Dense-GELU-Dense,
  added to the input (the last Dense starts at zero: the block starts as
  the identity)."""
  intermediate: int
  kernel_size: int = 7
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, step):
    channels = x.shape[-1]
    h = nn.Conv(channels, (self.kernel_size,), feature_group_count=channels,
                dtype=self.dtype, name='depthwise')(x)
    scale, shift = jnp.split(nn.Dense(2 * channels, dtype=self.dtype,
                                      kernel_init=nn.initializers.zeros,
                                      name='step')(step)[:, None, :], 2, axis=-1)
    h = nn.LayerNorm(use_scale=False, use_bias=False, dtype=self.dtype)(h) * (1 + scale) + shift
    h = nn.gelu(nn.Dense(self.intermediate, dtype=self.dtype, name='expand')(h))
    return x + nn.Dense(channels, dtype=self.dtype, kernel_init=nn.initializers.zeros,
                        name='project')(h)


def frame_trunk(features, t, *, channels, intermediate, num_blocks, kernel_size,
                embedding_dim, dtype):
  """features [B, T, F], t [B] -> [B, T, channels]: the step embedding, the
  input projection, LayerNorm, `num_blocks` ConvNeXt blocks, LayerNorm. Call
  it inside a module's compact method: its layers are that module's (the
  parameter names of ConvNeXt1D and FramePrior)."""
  step = embeddings.StepEmbedding(embedding_dim, embedding_dim, dtype=dtype,
                                  name='step_embedding')(t)
  h = nn.Dense(channels, dtype=dtype, name='input')(features.astype(dtype))
  h = nn.LayerNorm(dtype=dtype)(h)
  for _ in range(num_blocks):
    h = ConvNeXtBlock(intermediate, kernel_size, dtype=dtype)(h, step)
  return nn.LayerNorm(dtype=dtype)(h)


class ConvNeXt1D(nn.Module):
  """ConvNeXt denoiser over frames: x [B, T, C_in], t [B], cond -> x's shape (float32).

  cond_channels > 0 reads cond['signal'] [B, T, cond_channels] (e.g. a
  log mel), concatenated to x's channels. The output layer starts at zero,
  so an x0-predicting diffusion with a prior starts at the prior's mean.
  """
  channels: int = 256
  intermediate: int = 512
  num_blocks: int = 6
  kernel_size: int = 7
  embedding_dim: int = 64
  cond_channels: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, t, cond=None, train=False):
    del train  # no dropout
    if x.ndim != 3:
      raise ValueError(f'ConvNeXt1D takes x [B, frames, C], got shape {x.shape}.')
    h = x
    if self.cond_channels:
      signal = None if cond is None else cond.get('signal')
      expected = (*x.shape[:2], self.cond_channels)
      if signal is None or tuple(signal.shape) != expected:
        raise ValueError(f"A ConvNeXt1D with cond_channels={self.cond_channels} needs "
                         f"cond={{'signal': {list(expected)}}}, got "
                         f'{None if signal is None else tuple(signal.shape)}.')
      h = jnp.concatenate([h, signal.astype(h.dtype)], axis=-1)
    h = frame_trunk(h, t, channels=self.channels, intermediate=self.intermediate,
                    num_blocks=self.num_blocks, kernel_size=self.kernel_size,
                    embedding_dim=self.embedding_dim, dtype=self.dtype)
    h = nn.Dense(x.shape[-1], dtype=self.dtype, kernel_init=nn.initializers.zeros,
                 name='output')(h)
    return h.astype(jnp.float32)
