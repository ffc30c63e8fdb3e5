"""A 1D U-Net for long waveforms and latent sequences.

x [B, L] or [B, L, C_in] -> same shape. Levels have widths `channels`; each
level runs `blocks_per_level` residual blocks, then a strided conv divides
the length by `downsample`; the way up mirrors it with transposed convs and
skip concatenation. The receptive field grows by `downsample` per level, so
long audio is cheaper than with a flat dilated stack.
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from audiodiff.models import embeddings


def _num_groups(channels: int, max_groups: int = 32) -> int:
  """The largest group count <= max_groups that divides channels."""
  for groups in range(min(max_groups, channels), 0, -1):
    if channels % groups == 0:
      return groups
  return 1


def _per_step_input(cond, key: str, option: str, expected: tuple):
  """cond[key], checked to be `expected` ([B, L, channels]) in shape."""
  value = None if cond is None else cond.get(key)
  if value is None or tuple(value.shape) != expected:
    raise ValueError(f'A UNet1D with {option}={expected[-1]} needs '
                     f"cond={{'{key}': {list(expected)}}}, got "
                     f'{None if value is None else tuple(value.shape)}.')
  return value


class ResBlock(nn.Module):
  """[B, L, C] -> [B, L, features]: (GroupNorm, silu, conv3) x 2, step as
  scale/shift, dropout before the second conv (training only)."""
  features: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, step_embedding, train=False):
    h = nn.GroupNorm(_num_groups(x.shape[-1]), dtype=self.dtype)(x)
    h = nn.Conv(self.features, (3,), dtype=self.dtype)(nn.silu(h))
    # The step enters as a scale and shift after the norm (Dhariwal & Nichol's
    # scale-shift norm): a plain add before GroupNorm is erased whenever a
    # group holds a single channel, as in narrow levels.
    scale, shift = jnp.split(
        nn.Dense(2 * self.features, dtype=self.dtype)(step_embedding)[:, None, :], 2, axis=-1)
    h = nn.GroupNorm(_num_groups(self.features), dtype=self.dtype)(h) * (1 + scale) + shift
    h = nn.Dropout(self.dropout, deterministic=not train)(nn.silu(h))
    # Zero init makes each block start as the identity (or its 1x1 shortcut).
    h = nn.Conv(self.features, (3,), dtype=self.dtype, kernel_init=nn.initializers.zeros)(h)
    if x.shape[-1] != self.features:
      x = nn.Dense(self.features, dtype=self.dtype, name='shortcut')(x)
    return x + h


class SelfAttention(nn.Module):
  """[B, L, C] -> [B, L, C]: x + multi-head attention over the L positions of
  GroupNorm(x); the output projection starts at zero (the block at first is
  the identity, so a model warm-started without it begins as it was)."""
  heads: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = nn.GroupNorm(_num_groups(x.shape[-1]), dtype=self.dtype)(x)
    h = nn.MultiHeadDotProductAttention(num_heads=self.heads, dtype=self.dtype,
                                        out_kernel_init=nn.initializers.zeros,
                                        deterministic=True)(h, h)
    return x + h


class UNet1D(nn.Module):
  """U-Net denoiser: x [B, L] or [B, L, C_in], t [B], cond -> x's shape (float32).

  Conditioning inputs are switched on by their sizes: num_classes > 0 reads
  cond['label'] (int [B]); attribute_sizes (e.g. (12, 17), a music key and a
  tempo step) reads cond['attributes'] (int [B, len(attribute_sizes)], id
  size_i meaning "not given"), each embedded and added as the label is;
  n_mels > 0 reads cond['mel'] ([B, frames, n_mels] with frames * hop_length
  == L, repeated hop_length times and concatenated to the input channels);
  cond_channels > 0 reads cond['signal'] ([B, L,
  cond_channels], e.g. a noisy recording's spectrogram, concatenated to the
  input channels as is); position_channels > 0 reads cond['position'] ([B,
  L, position_channels], e.g. where each frame falls in the bar), projected
  and added after the input conv (zero-initialised, so a model warm-started
  without it begins as it was). attention_heads > 0 adds self-attention
  over the coarsest level's positions after its blocks (L / downsample**
  (levels - 1) of them; zero-initialised like the position input), so one
  bar's content can depend on another's beyond the convolutions' reach;
  attention_levels > 1 adds it at as many of the coarsest levels.
  L must be divisible by downsample**(len(channels) - 1).
  """
  channels: Sequence[int] = (32, 64, 128)
  blocks_per_level: int = 2
  downsample: int = 4
  num_classes: int = 0
  attribute_sizes: Sequence[int] = ()
  n_mels: int = 0
  cond_channels: int = 0
  position_channels: int = 0
  attention_heads: int = 0
  attention_levels: int = 1
  hop_length: int = 256
  embedding_dim: int = 128
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, t, cond=None, train=False):
    if x.ndim not in (2, 3):
      raise ValueError(f'UNet1D takes x [B, L] or [B, L, C], got shape {x.shape}.')
    squeeze = x.ndim == 2
    h = x[..., None] if squeeze else x
    batch, length, in_channels = h.shape
    levels = len(self.channels)
    multiple = self.downsample**(levels - 1)
    if length % multiple:
      raise ValueError(
          f'UNet1D needs L divisible by downsample**(levels-1) = {self.downsample}**{levels - 1}'
          f' = {multiple}; got L={length}. Crop or pad the segment.')

    step = embeddings.StepEmbedding(self.embedding_dim, 4 * self.channels[0],
                                    dtype=self.dtype, name='step_embedding')(t)
    if self.num_classes:
      label = embeddings.get_label(cond, self.num_classes)
      step = step + embeddings.LabelEmbedding(self.num_classes, step.shape[-1], dtype=self.dtype,
                                              name='label_embedding')(label)
    if self.attribute_sizes:
      attributes = embeddings.get_attributes(cond, self.attribute_sizes)
      for i, size in enumerate(self.attribute_sizes):
        step = step + embeddings.LabelEmbedding(size, step.shape[-1], dtype=self.dtype,
                                                name=f'attribute_embedding_{i}')(attributes[:, i])
    if self.n_mels:
      if cond is None or 'mel' not in cond:
        raise ValueError("A mel-conditioned UNet1D (n_mels > 0) needs cond={'mel': "
                         '[B, frames, n_mels]}.')
      mel = jnp.asarray(cond['mel'])
      if mel.ndim != 3 or mel.shape[-1] != self.n_mels or mel.shape[0] != batch:
        raise ValueError(f'mel must be [{batch}, frames, {self.n_mels}], got {mel.shape}.')
      if mel.shape[1] * self.hop_length != length:
        raise ValueError(f'mel has {mel.shape[1]} frames * hop_length {self.hop_length} '
                         f'!= L={length}.')
      h = jnp.concatenate([h, jnp.repeat(mel.astype(h.dtype), self.hop_length, axis=1)], -1)
    if self.cond_channels:
      signal = _per_step_input(cond, 'signal', 'cond_channels', (batch, length,
                                                                  self.cond_channels))
      h = jnp.concatenate([h, signal.astype(h.dtype)], -1)

    h = nn.Conv(self.channels[0], (3,), dtype=self.dtype, name='input_conv')(
        h.astype(self.dtype))
    if self.position_channels:
      position = _per_step_input(cond, 'position', 'position_channels',
                                 (batch, length, self.position_channels))
      h = h + nn.Dense(self.channels[0], dtype=self.dtype, kernel_init=nn.initializers.zeros,
                       name='position')(position.astype(self.dtype))
    skips = []
    for level, features in enumerate(self.channels):
      for _ in range(self.blocks_per_level):
        h = ResBlock(features, self.dropout, dtype=self.dtype)(h, step, train)
      if self.attention_heads and level >= levels - self.attention_levels:
        h = SelfAttention(self.attention_heads, dtype=self.dtype,
                          name='attention' if level == levels - 1 else f'attention_{level}')(h)
      if level < levels - 1:
        skips.append(h)
        h = nn.Conv(self.channels[level + 1], (2 * self.downsample,), strides=(self.downsample,),
                    dtype=self.dtype, name=f'downsample_{level}')(h)
    for level in reversed(range(levels - 1)):
      skip = skips.pop()
      h = nn.ConvTranspose(self.channels[level], (2 * self.downsample,),
                           strides=(self.downsample,), padding='SAME', dtype=self.dtype,
                           name=f'upsample_{level}')(h)[:, :skip.shape[1]]
      h = jnp.concatenate([h, skip], axis=-1)
      for _ in range(self.blocks_per_level):
        h = ResBlock(self.channels[level], self.dropout, dtype=self.dtype)(h, step, train)

    h = nn.silu(nn.GroupNorm(_num_groups(h.shape[-1]), dtype=self.dtype)(h))
    h = nn.Conv(in_channels, (3,), dtype=self.dtype, kernel_init=nn.initializers.zeros,
                name='output_conv')(h)
    h = h.astype(jnp.float32)
    return h[..., 0] if squeeze else h
