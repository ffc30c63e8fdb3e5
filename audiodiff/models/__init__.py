"""Denoising networks and `get_model`, the registry a config names one from.

Every model is called as `model.apply(variables, x, t, cond=None)` with x
float [B, L] (U-Net also [B, L, C]), t float32 [B] step indices and cond None
or {'mel': [B, frames, n_mels], 'label': int32 [B]}; it returns x's shape.
"""

import flax.linen as nn
import jax.numpy as jnp

from audiodiff.models.diffwave import DiffWave
from audiodiff.models.embeddings import CONDITIONINGS
from audiodiff.models.mlp import MLPDenoiser
from audiodiff.models.unet1d import UNet1D

# Which conditionings each architecture implements.
SUPPORTED_CONDITIONING = {
    'diffwave': ('none', 'mel', 'label'),
    'unet1d': ('none', 'mel', 'label'),
    'mlp': ('none', 'label'),
}
COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def _shared_settings(model_config, audio_config, dtype, uses_mel=True):
  """The settings every denoiser takes; mel shape only for mel-capable ones."""
  settings = dict(conditioning=model_config.conditioning, num_classes=model_config.num_classes,
                  embedding_dim=model_config.embedding_dim, dtype=dtype)
  if uses_mel:
    settings.update(hop_length=audio_config.hop_length, n_mels=audio_config.n_mels)
  return settings


def _build_diffwave(model_config, audio_config, dtype):
  return DiffWave(residual_layers=model_config.residual_layers,
                  residual_channels=model_config.residual_channels,
                  dilation_cycle=model_config.dilation_cycle,
                  **_shared_settings(model_config, audio_config, dtype))


def _build_unet1d(model_config, audio_config, dtype):
  return UNet1D(channels=tuple(model_config.unet_channels),
                blocks_per_level=model_config.unet_blocks_per_level,
                downsample=model_config.unet_downsample,
                **_shared_settings(model_config, audio_config, dtype))


def _build_mlp(model_config, audio_config, dtype):
  return MLPDenoiser(hidden=model_config.mlp_hidden,
                     **_shared_settings(model_config, audio_config, dtype, uses_mel=False))


_BUILDERS = {'diffwave': _build_diffwave, 'unet1d': _build_unet1d, 'mlp': _build_mlp}


def get_model(config) -> nn.Module:
  """The denoiser named by config.model.name, built from config.model/audio/train."""
  name = config.model.name
  if name not in _BUILDERS:
    raise ValueError(f'Unknown config.model.name {name!r}; valid choices: '
                     f'{", ".join(sorted(_BUILDERS))}.')
  conditioning = config.model.conditioning
  if conditioning not in CONDITIONINGS:
    raise ValueError(f'Unknown config.model.conditioning {conditioning!r}; valid choices: '
                     f'{", ".join(CONDITIONINGS)}.')
  if conditioning not in SUPPORTED_CONDITIONING[name]:
    raise ValueError(f'Model {name!r} does not support conditioning {conditioning!r}; '
                     f'valid choices for it: {", ".join(SUPPORTED_CONDITIONING[name])}.')
  if conditioning == 'label' and config.model.num_classes < 1:
    raise ValueError("conditioning='label' needs config.model.num_classes >= 1, got "
                     f'{config.model.num_classes}.')
  compute_dtype = config.train.compute_dtype
  if compute_dtype not in COMPUTE_DTYPES:
    raise ValueError(f'Unknown config.train.compute_dtype {compute_dtype!r}; valid choices: '
                     f'{", ".join(COMPUTE_DTYPES)}.')
  return _BUILDERS[name](config.model, config.audio, COMPUTE_DTYPES[compute_dtype])


__all__ = ['get_model', 'DiffWave', 'UNet1D', 'MLPDenoiser', 'SUPPORTED_CONDITIONING']
