"""A convolutional audio VAE: waveform [B, L] <-> latent [B, L / hop, latent_channels].

The waveform is first cut into patches of `patch` samples (a reshape to
[B, L / patch, patch]: no layer runs at the full sample rate, which keeps it
cheap on a CPU). The encoder is a 7-tap conv, then one block per stride (residual units with
dilations 1 and 3, then a strided conv of kernel 2 * stride that widens the
channels), then a 3-tap conv to the latent mean and log-std. The decoder
mirrors it with transposed convs. Activations are Snake (x + sin^2(a x) / a,
a learned per channel; Ziyin et al. 2020), whose periodic bias suits audio.
hop = patch * prod(strides) is the compression in time; L must be a multiple
of it.

    model = AudioAutoencoder(patch=8, strides=(4, 4), latent_channels=16)
    recon, mean, log_std = model.apply(v, audio, train=True, rngs={'dropout': key})
    z = model.apply(v, audio, method='encode')          # the mean [B, L / hop, C]
    audio = model.apply(v, z, method='decode')          # [B, L]

The discriminator (`MultiScaleSTFTDiscriminator`) lives in the same module
when adversarial > 0, so one optimizer trains both (see tasks/autoencoder.py).
"""

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiodiff.audio import spectral


def posterior_sample(module, mean, log_std, train):
  """A VAE's latent: the mean, or with train a sample of N(mean, exp(log_std)^2)
  (the module's rng stream 'dropout')."""
  if not train:
    return mean
  return mean + jnp.exp(log_std) * jax.random.normal(module.make_rng('dropout'), mean.shape)


class Snake(nn.Module):
  """x + sin^2(alpha x) / alpha over the last axis, alpha > 0 per channel."""

  @nn.compact
  def __call__(self, x):
    log_alpha = self.param('log_alpha', nn.initializers.zeros, (x.shape[-1],))
    alpha = jnp.exp(log_alpha).astype(x.dtype)
    return x + jnp.sin(alpha * x) ** 2 / (alpha + 1e-9)


class ResidualUnit(nn.Module):
  """[B, L, C] -> [B, L, C]: snake, 7-tap dilated conv, snake, 1x1 conv, + x."""
  dilation: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    h = nn.Conv(c, (7,), kernel_dilation=(self.dilation,), dtype=self.dtype)(Snake()(x))
    h = nn.Conv(c, (1,), dtype=self.dtype)(Snake()(h))
    return x + h


class AudioEncoder(nn.Module):
  """audio [B, L] -> (mean, log_std), each [B, L / hop, latent_channels]."""
  patch: int
  channels: int
  strides: Sequence[int]
  latent_channels: int
  max_channels: int = 256
  dilations: Sequence[int] = (1, 3)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, audio):
    patches = audio.reshape(audio.shape[0], -1, self.patch).astype(self.dtype)
    x = nn.Conv(self.channels, (7,), dtype=self.dtype)(patches)
    for i, stride in enumerate(self.strides):
      for dilation in self.dilations:
        x = ResidualUnit(dilation, dtype=self.dtype)(x)
      width = min(self.channels * 2 ** (i + 1), self.max_channels)
      x = nn.Conv(width, (2 * stride,), strides=(stride,), dtype=self.dtype)(Snake()(x))
    x = nn.Conv(2 * self.latent_channels, (3,), dtype=self.dtype)(Snake()(x))
    mean, log_std = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    return mean, jnp.clip(log_std, -10.0, 3.0)


class AudioDecoder(nn.Module):
  """latent [B, frames, latent_channels] -> audio [B, frames * hop]."""
  patch: int
  channels: int
  strides: Sequence[int]
  max_channels: int = 256
  dilations: Sequence[int] = (1, 3)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    widths = [min(self.channels * 2 ** (i + 1), self.max_channels)
              for i in range(len(self.strides))]
    x = nn.Conv(widths[-1], (7,), dtype=self.dtype)(z.astype(self.dtype))
    for i in reversed(range(len(self.strides))):
      stride = self.strides[i]
      width = widths[i - 1] if i > 0 else self.channels
      x = nn.ConvTranspose(width, (2 * stride,), strides=(stride,), dtype=self.dtype)(
          Snake()(x))
      for dilation in self.dilations:
        x = ResidualUnit(dilation, dtype=self.dtype)(x)
    x = nn.Conv(self.patch, (7,), dtype=self.dtype)(Snake()(x))
    return x.reshape(x.shape[0], -1).astype(jnp.float32)


class MultiScaleSTFTDiscriminator(nn.Module):
  """audio [B, L] -> per resolution, the logits map [B, frames', bins', 1] and
  the hidden feature maps: 2D convs over the log-magnitude STFT at each of
  `resolutions` (n_fft, hop) pairs."""
  resolutions: Sequence[Sequence[int]] = ((256, 64), (512, 128), (1024, 256))
  channels: int = 16
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, audio):
    outputs = []
    for n_fft, hop in self.resolutions:
      magnitude = jnp.abs(spectral.stft(audio, n_fft, hop))
      x = jnp.log(magnitude + 1e-5)[..., None].astype(self.dtype)
      features = []
      for stride in (1, 2, 2):
        x = nn.leaky_relu(nn.Conv(self.channels, (3, 9), strides=(1, stride),
                                  dtype=self.dtype)(x), 0.2)
        features.append(x)
      logits = nn.Conv(1, (3, 3), dtype=self.dtype)(x).astype(jnp.float32)
      outputs.append((logits, features))
    return outputs


def discriminate(autoencoder, audio, hold_parameters=False):
  """autoencoder.discriminator's (logits, features) per resolution for audio
  [B, L]. hold_parameters: its parameters enter through a stop-gradient (the
  generator's loss must not train the discriminator)."""
  if not hold_parameters:
    return autoencoder.discriminator(audio)
  held = jax.lax.stop_gradient(autoencoder.discriminator.variables['params'])
  return MultiScaleSTFTDiscriminator(tuple(map(tuple, autoencoder.discriminator_resolutions)),
                                     dtype=autoencoder.dtype, parent=None).apply(
      {'params': held}, audio)


class AudioAutoencoder(nn.Module):
  """VAE over waveforms (module docstring). Called like a denoiser,
  (x, t, cond, train) -> reconstruction, so the training system runs it
  unchanged; t and cond are ignored."""
  patch: int = 8
  channels: int = 32
  strides: Sequence[int] = (4, 4)
  latent_channels: int = 16
  max_channels: int = 256
  dilations: Sequence[int] = (1, 3)
  adversarial: bool = False
  discriminator_resolutions: Sequence[Sequence[int]] = ((256, 64), (512, 128), (1024, 256))
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = AudioEncoder(self.patch, self.channels, tuple(self.strides), self.latent_channels,
                                self.max_channels, tuple(self.dilations), dtype=self.dtype)
    self.decoder = AudioDecoder(self.patch, self.channels, tuple(self.strides), self.max_channels,
                                tuple(self.dilations), dtype=self.dtype)
    if self.adversarial:
      self.discriminator = MultiScaleSTFTDiscriminator(
          tuple(map(tuple, self.discriminator_resolutions)), dtype=self.dtype)

  @property
  def hop(self) -> int:
    hop = self.patch
    for stride in self.strides:
      hop *= stride
    return hop

  def encode_distribution(self, audio):
    """audio [B, L] -> (mean, log_std) [B, L / hop, latent_channels]."""
    return self.encoder(audio)

  def encode(self, audio, train=False):
    """audio [B, L] -> the latent mean [B, L / hop, latent_channels]."""
    del train
    return self.encoder(audio)[0]

  def decode(self, z, train=False):
    """latent [B, frames, latent_channels] -> audio [B, frames * hop]."""
    del train
    return self.decoder(z)

  def reconstruct(self, audio, train=False):
    """audio [B, L] -> (reconstruction [B, L], mean, log_std). With train the
    latent is a posterior sample (rng stream 'dropout'), else the mean."""
    mean, log_std = self.encoder(audio)
    return self.decoder(posterior_sample(self, mean, log_std, train)), mean, log_std

  def discriminate(self, audio, hold_parameters=False, train=False):
    """The discriminator's (logits, features) per resolution for audio [B, L]."""
    del train
    return discriminate(self, audio, hold_parameters)

  def __call__(self, x, t=None, cond=None, train=False):
    del t, cond
    outputs = self.reconstruct(x, train=train)[0]
    if self.adversarial and self.is_initializing():
      self.discriminator(x)  # create its parameters
    return outputs
