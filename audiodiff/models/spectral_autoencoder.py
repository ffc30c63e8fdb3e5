"""A VAE over the compressed complex STFT: waveform [B, L] <-> latent [B, L / hop, C].

The waveform becomes its STFT (n_fft, hop_length) with each coefficient
compressed, scale * |X|**exponent * exp(i angle X), real and imaginary parts
side by side (`enhancement.representation.StftFeatures`): [B, frames, 2 * bins].
A ConvNeXt over frames (`models/convnext1d.py`'s blocks, the diffusion step
replaced by a constant) maps each frame to the latent's mean and log-std; a
second one maps latents back to the compressed spectrum, and the inverse STFT
gives audio. Phase is an output like magnitude, so a complex loss can teach
it, which a waveform decoder trained on magnitudes alone does not learn
(benchmarks/README.md, "Music"). hop = hop_length is the compression in time.

    model = SpectralAutoencoder(n_fft=1024, hop_length=256, latent_channels=32)
    recon, mean, log_std = model.apply(v, audio, train=True, method='reconstruct',
                                       rngs={'dropout': key})
    z = model.apply(v, audio, method='encode')          # the mean [B, L / hop, C]
    audio = model.apply(v, z, method='decode')          # [B, L]
"""

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from audiodiff.enhancement import representation
from audiodiff.models.autoencoder import MultiScaleSTFTDiscriminator, discriminate, posterior_sample
from audiodiff.models.convnext1d import ConvNeXtBlock


class FrameConvNeXt(nn.Module):
  """[B, T, C_in] -> [B, T, out_channels]: Dense, LayerNorm, ConvNeXt blocks,
  LayerNorm, Dense."""
  out_channels: int
  channels: int
  intermediate: int
  num_blocks: int
  kernel_size: int = 7
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    step = jnp.zeros((x.shape[0], 1), self.dtype)  # no diffusion step: a learned constant
    h = nn.LayerNorm(dtype=self.dtype)(nn.Dense(self.channels, dtype=self.dtype)(
        x.astype(self.dtype)))
    for _ in range(self.num_blocks):
      h = ConvNeXtBlock(self.intermediate, self.kernel_size, dtype=self.dtype)(h, step)
    h = nn.LayerNorm(dtype=self.dtype)(h)
    return nn.Dense(self.out_channels, dtype=self.dtype)(h).astype(jnp.float32)


class SpectralAutoencoder(nn.Module):
  """VAE over the compressed complex STFT (module docstring). Called like a
  denoiser, (x, t, cond, train) -> reconstruction, as `AudioAutoencoder`."""
  n_fft: int = 1024
  hop_length: int = 256
  decoder_n_fft: int = 0      # the decoder's STFT (0: n_fft); longer: finer partials
  exponent: float = 0.5
  scale: float = 0.33
  channels: int = 192
  intermediate: int = 512
  encoder_blocks: int = 3
  decoder_blocks: int = 6
  kernel_size: int = 7
  latent_channels: int = 32
  adversarial: bool = False   # a multi-scale STFT discriminator (tasks/autoencoder.py)
  discriminator_resolutions: Sequence[Sequence[int]] = ((256, 64), (512, 128), (1024, 256))
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = FrameConvNeXt(2 * self.latent_channels, self.channels, self.intermediate,
                                 self.encoder_blocks, self.kernel_size, dtype=self.dtype)
    self.decoder = FrameConvNeXt(self.decoder_features.channels, self.channels, self.intermediate,
                                 self.decoder_blocks, self.kernel_size, dtype=self.dtype)
    if self.adversarial:
      self.discriminator = MultiScaleSTFTDiscriminator(
          tuple(map(tuple, self.discriminator_resolutions)), dtype=self.dtype)

  @property
  def features(self) -> representation.StftFeatures:
    return representation.StftFeatures(self.n_fft, self.hop_length, self.exponent, self.scale)

  @property
  def decoder_features(self) -> representation.StftFeatures:
    """The STFT the decoder outputs: n_fft or decoder_n_fft, the same hop."""
    return representation.StftFeatures(self.decoder_n_fft or self.n_fft, self.hop_length,
                                       self.exponent, self.scale)

  @property
  def hop(self) -> int:
    return self.hop_length

  def encode_distribution(self, audio):
    """audio [B, L] -> (mean, log_std) [B, L / hop, latent_channels]."""
    mean, log_std = jnp.split(self.encoder(self.features.to_features(audio)), 2, axis=-1)
    return mean, jnp.clip(log_std, -10.0, 3.0)

  def encode(self, audio, train=False):
    """audio [B, L] -> the latent mean [B, L / hop, latent_channels]."""
    del train
    return self.encode_distribution(audio)[0]

  def decode_features(self, z):
    """latent [B, frames, C] -> compressed complex STFT [B, frames, 2 * bins]
    (decoder_features' bins)."""
    return self.decoder(z)

  def decode(self, z, train=False):
    """latent [B, frames, latent_channels] -> audio [B, frames * hop]."""
    del train
    return self.decoder_features.to_audio(self.decoder(z))

  def reconstruct(self, audio, train=False):
    """audio [B, L] -> (reconstruction [B, L], mean, log_std). With train the
    latent is a posterior sample (rng stream 'dropout'), else the mean."""
    mean, log_std = self.encode_distribution(audio)
    return self.decode(posterior_sample(self, mean, log_std, train)), mean, log_std

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
