"""Denoising networks and `get_model`, the registry a config names one from.

Every model is called as `model.apply(variables, x, t, cond=None, train=False)`
with x float [B, L] (U-Net also [B, L, C]), t float32 [B] step indices and
cond a dict of the inputs the model was built to read ({'label': int32 [B]}
when num_classes > 0, {'mel': [B, frames, n_mels]} when n_mels > 0,
{'signal': [B, L, cond_channels]} when cond_channels > 0); it
returns x's shape. `train=True` turns dropout on (rng stream 'dropout').
Models know nothing of tasks: a task says which inputs to build
(`Task.model_inputs`), the config says which architecture.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiodiff.errors import UserError
from audiodiff.models.autoencoder import AudioAutoencoder
from audiodiff.models.diffwave import DiffWave
from audiodiff.models.mlp import MLPDenoiser
from audiodiff.models.text_encoder import GradTTS
from audiodiff.models.unet1d import UNet1D

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
# config.train.matmul_dtype: the matrix products' operand dtype. 'compute'
# keeps config.train.compute_dtype; 'bfloat16' (DiffWave) casts the operands
# and accumulates in the compute dtype, which doubles the product rate on CPUs
# with AVX512-BF16 or AMX (README, "Measured figures"); its products have a
# custom vjp, so such a model is differentiated in reverse mode only.
MATMUL_DTYPES = {'compute': None, 'bfloat16': jnp.bfloat16}


# config.model.diffwave_layers: how DiffWave's residual layers run. 'scan' is
# the shift-and-matmul conv in one rematerialised `lax.scan`; 'unrolled' is
# the plain layers with XLA's dilated convolution. 'auto' takes what
# benchmarks/gpu_check.sh and diffwave_speed.py measured fastest (README,
# "Measured figures"): 'scan' everywhere on CPU; on other backends 'scan' to
# train (3.6x faster on an H200) and 'unrolled' to sample (1.1-1.5x).
DIFFWAVE_LAYERS = ('auto', 'scan', 'unrolled')


def diffwave_layers(choice: str, backend: str | None = None) -> tuple[str, str]:
  """(training, inference) formulations for config.model.diffwave_layers."""
  if choice not in DIFFWAVE_LAYERS:
    raise UserError(f'Unknown config.model.diffwave_layers {choice!r}; valid choices: '
                    f'{", ".join(DIFFWAVE_LAYERS)}.')
  if choice != 'auto':
    return choice, choice
  return ('scan', 'scan') if (backend or jax.default_backend()) == 'cpu' else ('scan', 'unrolled')


def _build_diffwave(model_config, shared, hop_length):
  _no_signal_input(shared, 'diffwave')
  training, inference = diffwave_layers(model_config.get('diffwave_layers', 'auto'))
  return DiffWave(residual_layers=model_config.residual_layers,
                  residual_channels=model_config.residual_channels,
                  dilation_cycle=model_config.dilation_cycle, hop_length=hop_length,
                  use_matmul_conv=training == 'scan',
                  unrolled_inference=inference == 'unrolled', **shared)


def _build_unet1d(model_config, shared, hop_length):
  return UNet1D(channels=tuple(model_config.unet_channels),
                blocks_per_level=model_config.unet_blocks_per_level,
                downsample=model_config.unet_downsample, hop_length=hop_length, **shared)


def _build_mlp(model_config, shared, hop_length):
  del hop_length
  _no_signal_input(shared, 'mlp')
  if shared.pop('n_mels'):
    raise UserError("config.model.name='mlp' takes no mel input; use 'diffwave' or "
                     "'unet1d' for this task.")
  return MLPDenoiser(hidden=model_config.mlp_hidden, **shared)


def _no_signal_input(shared, name):
  if shared.pop('cond_channels'):
    raise UserError(f"config.model.name={name!r} takes no conditioning signal (this task's "
                     "cond['signal']); use 'unet1d'.")


def _build_autoencoder(model_config, shared, hop_length):
  del hop_length
  if shared.pop('cond_channels') or shared.pop('n_mels') or shared.pop('num_classes'):
    raise UserError("config.model.name='autoencoder' reads audio only; use it with "
                    "config.task='autoencoder'.")
  return AudioAutoencoder(patch=model_config.ae_patch, channels=model_config.ae_channels,
                          strides=tuple(model_config.ae_strides),
                          latent_channels=model_config.ae_latent_channels,
                          max_channels=model_config.ae_max_channels,
                          adversarial=bool(model_config.ae_discriminator),
                          dtype=shared['dtype'])


_BUILDERS = {'diffwave': _build_diffwave, 'unet1d': _build_unet1d, 'mlp': _build_mlp,
             'autoencoder': _build_autoencoder}


def get_model(config, *, num_classes: int = 0, n_mels: int = 0,
              cond_channels: int = 0, text_symbols: int = 0) -> nn.Module:
  """The denoiser named by config.model.name, reading a label (num_classes > 0,
  plus the "no label" id), a mel (n_mels > 0, at config.audio.hop_length)
  and/or a signal of cond_channels per step (cond_channels > 0). With
  text_symbols > 0 the denoiser is the decoder of a GradTTS model whose
  text encoder (config.tts) has that many symbols and writes cond_channels
  values per token."""
  name = config.model.name
  if name not in _BUILDERS:
    raise UserError(f'Unknown config.model.name {name!r}; valid choices: '
                     f'{", ".join(sorted(_BUILDERS))}.')
  compute_dtype = config.train.compute_dtype
  if compute_dtype not in COMPUTE_DTYPES:
    raise UserError(f'Unknown config.train.compute_dtype {compute_dtype!r}; valid choices: '
                     f'{", ".join(COMPUTE_DTYPES)}.')
  matmul_dtype = config.train.get('matmul_dtype', 'compute')
  if matmul_dtype not in MATMUL_DTYPES:
    raise UserError(f'Unknown config.train.matmul_dtype {matmul_dtype!r}; valid choices: '
                     f'{", ".join(MATMUL_DTYPES)}.')
  if matmul_dtype != 'compute' and name != 'diffwave':
    raise UserError(f"config.train.matmul_dtype={matmul_dtype!r} is implemented for "
                     f"config.model.name='diffwave' only; for {name!r} use 'compute' "
                     '(and config.train.compute_dtype).')
  if not 0.0 <= config.model.dropout < 1.0:
    raise UserError(f'config.model.dropout={config.model.dropout} must lie in [0, 1).')
  shared = dict(num_classes=num_classes, n_mels=n_mels, cond_channels=cond_channels,
                embedding_dim=config.model.embedding_dim, dropout=config.model.dropout,
                dtype=COMPUTE_DTYPES[compute_dtype])
  if name == 'diffwave':
    shared['matmul_dtype'] = MATMUL_DTYPES[matmul_dtype]
  denoiser = _BUILDERS[name](config.model, shared, config.audio.hop_length)
  if not text_symbols:
    return denoiser
  tts = config.tts
  return GradTTS(decoder=denoiser, num_symbols=text_symbols, n_mels=cond_channels,
                 channels=tts.encoder_channels, layers=tts.encoder_layers,
                 heads=tts.encoder_heads, hidden=tts.encoder_hidden,
                 kernel=tts.encoder_kernel, window=tts.attention_window,
                 duration_channels=tts.duration_channels, dropout=tts.encoder_dropout,
                 dtype=shared['dtype'])


__all__ = ['get_model', 'AudioAutoencoder', 'DiffWave', 'GradTTS', 'UNet1D', 'MLPDenoiser']
