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

from audiodiff.audio import spectral

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

  def wiener_features(self, audio, smooth_frames: int = 9, bias: float = 4.0,
                      floor: float = 0.05):
    """audio float [B, L] -> float32 [B, L // hop_length, 2 * bins]: the
    features of a Wiener filter that sees only this clip.

    Each bin's noise power is bias times the minimum over the clip's frames
    of its power averaged over smooth_frames frames (minimum statistics, over
    frames that hold any signal, so zero padding does not count; the minimum
    of an average sits below the mean, and bias 4 over-subtracts a little,
    which on 1 s clips of recorded speech came closest to the full-file
    `classical.wiener_filter`, benchmarks/README.md); the gain is
    max(1 - noise / power, floor). It hands a network a global statistic,
    the per-bin noise floor of the whole window, that convolutions over a
    few dozen frames cannot compute.
    """
    spec = spectral.stft(audio, self.n_fft, self.hop_length)
    power = jnp.square(jnp.abs(spec))
    smoothed = _moving(power, smooth_frames, jnp.mean)
    # Frames that see zero padding (a block of hop samples mostly exact zeros,
    # within reach of the window and the smoothing) would pull the minimum down.
    frames = power.shape[1]
    blocks = audio[:, :frames * self.hop_length].reshape(audio.shape[0], frames, -1)
    padding = jnp.mean(blocks == 0, axis=-1) > 0.5
    reach = smooth_frames + 2 * (-(-self.n_fft // (2 * self.hop_length))) + 1
    live = ~_moving(padding[..., None], reach, jnp.max)
    noise = jnp.min(jnp.where(live, smoothed, jnp.inf), axis=1, keepdims=True)
    noise = bias * jnp.where(jnp.isfinite(noise), noise, 0.0)
    gain = jnp.maximum(1.0 - noise / jnp.maximum(power, _TINY), floor)
    filtered = self.compress(spec * gain)
    return jnp.concatenate([filtered.real, filtered.imag], axis=-1).astype(jnp.float32)

  def to_audio(self, features, length=None):
    """float [B, frames, 2 * bins] -> float32 [B, length (frames * hop_length)]."""
    spec = features[..., :self.bins] + 1j * features[..., self.bins:]
    return spectral.istft(self.decompress(spec), self.n_fft, self.hop_length,
                          length=length).astype(jnp.float32)


def _moving(x, size, reduce):
  """x [B, T, C] -> [B, T, C]: reduce (mean, max) over `size` frames centred on
  each frame, the edge frames repeated."""
  before = size // 2
  padded = jnp.pad(x, ((0, 0), (before, size - 1 - before), (0, 0)), mode='edge')
  shifted = jnp.stack([padded[:, k:k + x.shape[1]] for k in range(size)])
  return reduce(shifted, axis=0)


def from_config(settings) -> StftFeatures:
  """config.enhance -> StftFeatures."""
  return StftFeatures(n_fft=int(settings.n_fft), hop_length=int(settings.hop_length),
                      exponent=float(settings.compression_exponent),
                      scale=float(settings.compression_scale))
