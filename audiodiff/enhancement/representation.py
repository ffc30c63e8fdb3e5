"""The complex STFT the enhancement networks read and write (SGMSE+).

A waveform [B, L] becomes [B, frames, 2 * bins]: the STFT (spectral.stft,
L // hop_length frames) with each coefficient's magnitude compressed,
c(X) = scale * |X|**exponent * exp(i angle X), then real and imaginary parts
side by side on the last axis. Compression (exponent 0.5, scale 0.15 as in
SGMSE+) lifts quiet high-frequency bins towards the loud low ones, so a
squared error in this space weighs them more evenly.

`to_audio(to_features(x))` returns x exactly (to float32 rounding) for
L a multiple of hop_length; `pad_length` gives that multiple.
"""

import dataclasses

import jax.numpy as jnp

from audiodiff import spectral

# Magnitudes below this are treated as 0 when (de)compressing: |X|**0.5 has
# an infinite slope at 0, and the phase of a zero coefficient is undefined.
_TINY = 1e-10


@dataclasses.dataclass(frozen=True)
class StftFeatures:
  """Compressed complex STFT settings: n_fft, hop_length, exponent, scale."""
  n_fft: int = 512
  hop_length: int = 128
  exponent: float = 0.5
  scale: float = 0.15

  @property
  def bins(self) -> int:
    return self.n_fft // 2 + 1

  @property
  def channels(self) -> int:
    """Features per frame: real and imaginary parts of every bin."""
    return 2 * self.bins

  def pad_length(self, num_samples: int) -> int:
    """The smallest multiple of hop_length >= num_samples."""
    return -(-int(num_samples) // self.hop_length) * self.hop_length

  def compress(self, spec):
    """complex [...] -> complex [...], magnitude m -> scale * m**exponent."""
    magnitude = jnp.abs(spec)
    gain = self.scale * jnp.where(magnitude > _TINY, magnitude, 1.0)**(self.exponent - 1.0)
    return jnp.where(magnitude > _TINY, spec * gain, 0.0)

  def decompress(self, spec):
    """The inverse of `compress`."""
    magnitude = jnp.abs(spec)
    safe = jnp.where(magnitude > _TINY, magnitude, 1.0)
    original = (safe / self.scale)**(1.0 / self.exponent)
    return jnp.where(magnitude > _TINY, spec * (original / safe), 0.0)

  def to_features(self, audio):
    """audio float [B, L] -> float32 [B, L // hop_length, 2 * bins]."""
    spec = self.compress(spectral.stft(audio, self.n_fft, self.hop_length))
    return jnp.concatenate([spec.real, spec.imag], axis=-1).astype(jnp.float32)

  def to_audio(self, features, length=None):
    """float [B, frames, 2 * bins] -> float32 [B, length (frames * hop_length)]."""
    spec = features[..., :self.bins] + 1j * features[..., self.bins:]
    return spectral.istft(self.decompress(spec), self.n_fft, self.hop_length,
                          length=length).astype(jnp.float32)


def from_config(settings) -> StftFeatures:
  """config.enhance -> StftFeatures."""
  return StftFeatures(n_fft=int(settings.n_fft), hop_length=int(settings.hop_length),
                      exponent=float(settings.compression_exponent),
                      scale=float(settings.compression_scale))
