"""Latent scaling: the diffusion runs on (z - shift) / scale, unit variance.

Latent diffusion (Rombach et al. 2022) rescales the autoencoder's latents so
the diffusion's N(0, I) end matches their spread. Here shift and scale are
per latent channel, measured once on training latents.

    scaling = LatentScaling.fit(latents)      # latents [N, frames, C]
    x0 = scaling.normalize(z); z = scaling.denormalize(x0)
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class LatentScaling:
  """shift, scale: float32 [C] (scale > 0)."""
  shift: np.ndarray
  scale: np.ndarray

  @classmethod
  def fit(cls, latents, min_scale: float = 1e-3) -> 'LatentScaling':
    """Per-channel mean and std of latents [..., C]; std floored at min_scale."""
    flat = np.asarray(latents, np.float64).reshape(-1, np.shape(latents)[-1])
    if not np.all(np.isfinite(flat)):
      raise ValueError('Latents hold NaN or inf: the autoencoder diverged; retrain it.')
    return cls(flat.mean(0).astype(np.float32),
               np.maximum(flat.std(0), min_scale).astype(np.float32))

  def normalize(self, z):
    """z [..., C] -> (z - shift) / scale."""
    return (z - self.shift) / self.scale

  def denormalize(self, x):
    """x [..., C] -> x * scale + shift (inverse of normalize)."""
    return x * self.scale + self.shift

  def to_dict(self):
    return {'shift': np.asarray(self.shift).tolist(), 'scale': np.asarray(self.scale).tolist()}

  @classmethod
  def from_dict(cls, d) -> 'LatentScaling':
    """{'shift': [C], 'scale': [C]} -> LatentScaling; a ValueError naming
    what is wrong when the values are missing, of other lengths, not finite,
    or a scale is not positive."""
    try:
      shift = np.asarray(d['shift'], np.float32)
      scale = np.asarray(d['scale'], np.float32)
    except (KeyError, TypeError, ValueError) as error:
      raise ValueError(f'needs "shift" and "scale" lists of numbers ({error!r})') from None
    if shift.ndim != 1 or shift.shape != scale.shape:
      raise ValueError(f'"shift" and "scale" must be lists of the same length; got shapes '
                       f'{shift.shape} and {scale.shape}')
    if not (np.all(np.isfinite(shift)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
      raise ValueError('"shift" must be finite and "scale" finite and > 0')
    return cls(shift, scale)
