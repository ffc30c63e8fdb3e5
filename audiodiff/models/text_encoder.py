"""Grad-TTS's text side: a transformer text encoder with relative positions
and a duration predictor.

tokens int32 [B, N] (0: padding) -> hidden [B, N, C], the mean of each
token's mel frames mu [B, N, n_mels], and log durations [B, N] (frames per
token, predicted from the encoder output under stop-gradient so the
duration loss does not shape the encoder). Padding positions are zeroed.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class RelativeSelfAttention(nn.Module):
  """x [B, N, C], mask [B, N] -> [B, N, C]: multi-head self-attention with
  learned relative-position embeddings for offsets in [-window, window]
  (Shaw et al. 2018, as in Glow-TTS), on keys and on values."""
  channels: int
  heads: int
  window: int = 4
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask, train=False):
    batch, length, _ = x.shape
    head_dim = self.channels // self.heads
    split = lambda h: h.reshape(batch, length, self.heads, head_dim)
    q = split(nn.Dense(self.channels, dtype=self.dtype, name='query')(x))
    k = split(nn.Dense(self.channels, dtype=self.dtype, name='key')(x))
    v = split(nn.Dense(self.channels, dtype=self.dtype, name='value')(x))
    init = nn.initializers.normal(head_dim ** -0.5)
    relative_k = self.param('relative_key', init, (2 * self.window + 1, head_dim))
    relative_v = self.param('relative_value', init, (2 * self.window + 1, head_dim))
    positions = jnp.arange(length)
    offsets = jnp.clip(positions[None, :] - positions[:, None], -self.window, self.window)
    rel_k = relative_k[offsets + self.window].astype(self.dtype)    # [N, N, D]
    rel_v = relative_v[offsets + self.window].astype(self.dtype)
    logits = (jnp.einsum('bihd,bjhd->bhij', q, k)
              + jnp.einsum('bihd,ijd->bhij', q, rel_k)) * head_dim ** -0.5
    logits = jnp.where(mask[:, None, None, :], logits.astype(jnp.float32), -1e4)
    weights = nn.Dropout(self.dropout, deterministic=not train)(jax.nn.softmax(logits))
    weights = weights.astype(self.dtype)
    out = (jnp.einsum('bhij,bjhd->bihd', weights, v)
           + jnp.einsum('bhij,ijd->bihd', weights, rel_v))
    return nn.Dense(self.channels, dtype=self.dtype, name='out')(
        out.reshape(batch, length, self.channels))


class ConvFeedForward(nn.Module):
  """[B, N, C] -> [B, N, C]: conv(kernel) -> relu -> dropout -> conv(kernel),
  padding positions zeroed before each conv."""
  channels: int
  hidden: int
  kernel: int = 3
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask, train=False):
    keep = mask[..., None].astype(x.dtype)
    h = nn.relu(nn.Conv(self.hidden, (self.kernel,), dtype=self.dtype)(x * keep))
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Conv(self.channels, (self.kernel,), dtype=self.dtype)(h * keep) * keep


class TextEncoder(nn.Module):
  """tokens int32 [B, N], mask bool [B, N] -> (hidden [B, N, C], mu [B, N, n_mels]).

  Embedding, one conv pre-net, then `layers` post-norm transformer blocks
  (relative self-attention, convolutional feed-forward), each with dropout.
  """
  num_symbols: int
  n_mels: int
  channels: int = 128
  layers: int = 4
  heads: int = 2
  hidden: int = 256
  kernel: int = 3
  window: int = 4
  dropout: float = 0.1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, mask, train=False):
    keep = mask[..., None].astype(jnp.float32)
    x = nn.Embed(self.num_symbols, self.channels,
                 embedding_init=nn.initializers.normal(self.channels ** -0.5))(tokens)
    x = x * self.channels ** 0.5 * keep
    x = x + nn.Conv(self.channels, (5,), dtype=self.dtype, name='prenet')(x) * keep
    for i in range(self.layers):
      attention = RelativeSelfAttention(self.channels, self.heads, self.window, self.dropout,
                                        self.dtype, name=f'attention_{i}')(x, mask, train)
      x = nn.LayerNorm(name=f'norm_attention_{i}')(
          x + nn.Dropout(self.dropout, deterministic=not train)(attention))
      forward = ConvFeedForward(self.channels, self.hidden, self.kernel, self.dropout,
                                self.dtype, name=f'feed_forward_{i}')(x, mask, train)
      x = nn.LayerNorm(name=f'norm_feed_forward_{i}')(
          x + nn.Dropout(self.dropout, deterministic=not train)(forward))
    x = x.astype(jnp.float32) * keep
    mu = nn.Dense(self.n_mels, name='mu')(x) * keep
    return x, mu


class DurationPredictor(nn.Module):
  """hidden [B, N, C], mask [B, N] -> log frames per token [B, N] (0 on padding):
  two (conv, relu, LayerNorm, dropout) layers and a linear read-out."""
  channels: int = 128
  kernel: int = 3
  dropout: float = 0.1

  @nn.compact
  def __call__(self, hidden, mask, train=False):
    keep = mask[..., None].astype(jnp.float32)
    h = hidden
    for i in range(2):
      h = nn.relu(nn.Conv(self.channels, (self.kernel,), name=f'conv_{i}')(h * keep))
      h = nn.Dropout(self.dropout, deterministic=not train)(nn.LayerNorm(name=f'norm_{i}')(h))
    return nn.Dense(1, name='out')(h * keep)[..., 0] * keep[..., 0]


class GradTTS(nn.Module):
  """Text encoder + duration predictor + the diffusion decoder (any denoiser
  reading cond['signal'] = the aligned encoder output mu_y [B, T, n_mels]).

  Calling it runs the decoder, as every model: x [B, T, n_mels], t [B],
  cond -> prediction. `encode(tokens, num_tokens)` runs the text side.
  """
  decoder: nn.Module
  num_symbols: int
  n_mels: int
  channels: int = 128
  layers: int = 4
  heads: int = 2
  hidden: int = 256
  kernel: int = 3
  window: int = 4
  duration_channels: int = 128
  dropout: float = 0.1
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = TextEncoder(self.num_symbols, self.n_mels, self.channels, self.layers,
                               self.heads, self.hidden, self.kernel, self.window,
                               self.dropout, self.dtype)
    self.duration_predictor = DurationPredictor(self.duration_channels, self.kernel,
                                                self.dropout)

  def __call__(self, x, t, cond=None, train=False):
    return self.decoder(x, t, cond, train=train)

  def encode(self, tokens, num_tokens, train=False):
    """tokens int32 [B, N], num_tokens int32 [B] -> (mu [B, N, n_mels], log
    durations [B, N]); both 0 past num_tokens."""
    mask = jnp.arange(tokens.shape[1])[None, :] < num_tokens[:, None]
    hidden, mu = self.encoder(tokens, mask, train)
    log_durations = self.duration_predictor(jax.lax.stop_gradient(hidden), mask, train)
    return mu, log_durations

  def initialize(self, tokens, num_tokens, x, t, cond):
    """Touches every part once (for `init`): encode, then the decoder."""
    self.encode(tokens, num_tokens)
    return self(x, t, cond)
