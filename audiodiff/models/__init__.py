"""Denoising networks and `get_model`, the registry a config names one from.

    model = get_model(config, **task.model_inputs())

builds `MODELS.get(config.model.name)(**config.model[name], **inputs)`: each
model reads its own config section (the fields are its builder's arguments)
plus what the task and the run supply (num_classes, n_mels, cond_channels,
hop_length, dtype, matmul_dtype); a builder refuses an input its model lacks.

Every model is called as `model.apply(variables, x, t, cond=None, train=False)`
with x float [B, L] (U-Net also [B, L, C]), t float32 [B] step indices and
cond a dict of the inputs the model was built to read ({'label': int32 [B]}
when num_classes > 0, {'mel': [B, frames, n_mels]} when n_mels > 0,
{'signal': [B, L, cond_channels]} when cond_channels > 0, U-Net's
{'position': [B, L, position_channels]} when position_channels > 0); it
returns x's shape. `train=True` turns dropout on (rng stream 'dropout').
Models know nothing of tasks: a task says which inputs to build
(`Task.model_inputs`), the config says which architecture.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from audiodiff.errors import UserError
from audiodiff.registry import Registry
from audiodiff.models.autoencoder import AudioAutoencoder
from audiodiff.models.convnext1d import ConvNeXt1D
from audiodiff.models.diffwave import DiffWave
from audiodiff.models.frame_prior import FramePrior
from audiodiff.models.mlp import MLPDenoiser
from audiodiff.models.spectral_autoencoder import SpectralAutoencoder
from audiodiff.models.text_encoder import GradTTS
from audiodiff.models.unet1d import UNet1D

COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
# config.train.matmul_dtype: the matrix products' operand dtype. 'compute'
# keeps config.train.compute_dtype; 'bfloat16' (DiffWave) casts the operands
# and accumulates in the compute dtype, which speeds the products up on CPUs
# with AVX512-BF16 or AMX (benchmarks/README.md); its products have a custom
# vjp, so such a model is differentiated in reverse mode only.
MATMUL_DTYPES = {'compute': None, 'bfloat16': jnp.bfloat16}

# name -> builder(**config.model[name], **inputs) -> nn.Module.
MODELS = Registry('config.model.name')


# config.model.diffwave.formulation: how DiffWave's residual layers run. 'scan' is
# the shift-and-matmul conv in one rematerialised `lax.scan`; 'unrolled' is
# the plain layers with XLA's dilated convolution. 'auto' takes what
# benchmarks/gpu_check.sh and diffwave_speed.py measured fastest (figures in
# benchmarks/README.md): 'scan' everywhere on CPU; on other backends 'scan' to
# train and 'unrolled' to sample.
DIFFWAVE_LAYERS = ('auto', 'scan', 'unrolled')


def diffwave_layers(choice: str, backend: str | None = None) -> tuple[str, str]:
  """(training, inference) formulations for config.model.diffwave.formulation."""
  if choice not in DIFFWAVE_LAYERS:
    raise UserError(f'Unknown config.model.diffwave.formulation={choice!r}; valid choices: '
                    f'{", ".join(DIFFWAVE_LAYERS)}.')
  if choice != 'auto':
    return choice, choice
  return ('scan', 'scan') if (backend or jax.default_backend()) == 'cpu' else ('scan', 'unrolled')


# What each input is, for the error when a model cannot read it.
_INPUTS = {
    'num_classes': 'class label',
    'n_mels': 'mel input',
    'cond_channels': "conditioning signal (this task's cond['signal'])",
}


def _cannot_read(name: str, fix: str, **inputs) -> None:
  """A UserError for the first input given (non-zero) that model `name` lacks."""
  for key, value in inputs.items():
    if key == 'matmul_dtype' and value is not None:
      raise UserError(f"config.train.matmul_dtype={jnp.dtype(value).name!r} is implemented "
                      f"for config.model.name='diffwave' only; for {name!r} use 'compute' "
                      '(and config.train.compute_dtype).')
    if key != 'matmul_dtype' and value:
      raise UserError(f'config.model.name={name!r} takes no {_INPUTS[key]}; {fix}')


@MODELS.register('diffwave')
def _diffwave(*, formulation: str = 'auto', cond_channels: int = 0, **arguments) -> DiffWave:
  """DiffWave; `formulation` says how its residual layers run (diffwave_layers)."""
  _cannot_read('diffwave', "use 'unet1d'.", cond_channels=cond_channels)
  training, inference = diffwave_layers(formulation)
  return DiffWave(use_matmul_conv=training == 'scan',
                  unrolled_inference=inference == 'unrolled', **arguments)


@MODELS.register('unet1d')
def _unet1d(*, channels, matmul_dtype=None, attribute_sizes=(), **arguments) -> UNet1D:
  _cannot_read('unet1d', '', matmul_dtype=matmul_dtype)
  return UNet1D(channels=tuple(channels), attribute_sizes=tuple(attribute_sizes), **arguments)


@MODELS.register('convnext1d')
def _convnext1d(*, num_classes: int = 0, n_mels: int = 0, hop_length: int = 0, matmul_dtype=None,
                **arguments) -> ConvNeXt1D:
  del hop_length  # it runs at frame rate; a mel comes in as cond['signal']
  _cannot_read('convnext1d', 'it reads a signal per frame (cond_channels) only.',
               num_classes=num_classes, n_mels=n_mels, matmul_dtype=matmul_dtype)
  return ConvNeXt1D(**arguments)


@MODELS.register('frame_prior')
def _frame_prior(*, num_classes: int = 0, n_mels: int = 0, cond_channels: int = 0,
                 hop_length: int = 0, matmul_dtype=None, **arguments) -> FramePrior:
  del hop_length  # its own: n_fft / 2
  _cannot_read('frame_prior', "it is an unconditional waveform prior; use 'unet1d' for "
               'conditional generation.', num_classes=num_classes, n_mels=n_mels,
               cond_channels=cond_channels, matmul_dtype=matmul_dtype)
  return FramePrior(**arguments)


@MODELS.register('mlp')
def _mlp(*, n_mels: int = 0, cond_channels: int = 0, hop_length: int = 0, matmul_dtype=None,
         **arguments) -> MLPDenoiser:
  del hop_length  # it reads no mel
  _cannot_read('mlp', "use 'unet1d' (or 'diffwave' for a mel) for this task.",
               cond_channels=cond_channels, n_mels=n_mels, matmul_dtype=matmul_dtype)
  return MLPDenoiser(**arguments)


@MODELS.register('autoencoder')
def _autoencoder(*, strides, num_classes: int = 0, n_mels: int = 0, cond_channels: int = 0,
                 hop_length: int = 0, matmul_dtype=None, **arguments) -> AudioAutoencoder:
  del hop_length  # its own: patch * prod(strides)
  _cannot_read('autoencoder', "it reads audio only; use it with config.task='autoencoder'.",
               num_classes=num_classes, n_mels=n_mels, cond_channels=cond_channels,
               matmul_dtype=matmul_dtype)
  return AudioAutoencoder(strides=tuple(strides), **arguments)


@MODELS.register('spectral_autoencoder')
def _spectral_autoencoder(*, stft_hop: int, num_classes: int = 0, n_mels: int = 0,
                          cond_channels: int = 0, hop_length: int = 0, matmul_dtype=None,
                          **arguments) -> SpectralAutoencoder:
  del hop_length  # its own: stft_hop
  _cannot_read('spectral_autoencoder', "it reads audio only; use it with "
               "config.task='autoencoder'.", num_classes=num_classes, n_mels=n_mels,
               cond_channels=cond_channels, matmul_dtype=matmul_dtype)
  return SpectralAutoencoder(hop_length=stft_hop, **arguments)


def _dtype(config, field: str, choices: dict):
  value = config.train[field]
  if value not in choices:
    raise UserError(f'Unknown config.train.{field} {value!r}; valid choices: '
                    f'{", ".join(choices)}.')
  return choices[value]


def sections_read(config) -> set:
  """The config.model sections a config's model reads: config.model.name's,
  and grad_tts (the text encoder) for config.task='tts'."""
  return {config.model.name} | ({'grad_tts'} if config.task == 'tts' else set())


def get_model(config, *, num_classes: int = 0, n_mels: int = 0,
              cond_channels: int = 0, text_symbols: int = 0,
              attribute_sizes: tuple = (), position_channels: int = 0) -> nn.Module:
  """The denoiser named by config.model.name, reading a label (num_classes > 0,
  plus the "no label" id), a mel (n_mels > 0, at config.audio.hop_length)
  and/or a signal of cond_channels per step (cond_channels > 0). With
  text_symbols > 0 the denoiser is the decoder of a GradTTS model whose
  text encoder (config.model.grad_tts) has that many symbols and writes
  cond_channels values per token. attribute_sizes (U-Net only) adds one
  embedded attribute id each (tasks/attributes.py); position_channels (U-Net
  only) a per-frame position (tasks/meter.py)."""
  name = config.model.name
  build = MODELS.get(name)
  if name not in config.model:
    raise UserError(f'config.model.{name} is missing: the settings of the model '
                    f'config.model.name={name!r} names.')
  settings = config.model[name].to_dict()
  if 'dropout' in settings and not 0.0 <= settings['dropout'] < 1.0:
    raise UserError(f'config.model.{name}.dropout={settings["dropout"]} must lie in [0, 1).')
  dtype = _dtype(config, 'compute_dtype', COMPUTE_DTYPES)
  extra = {'attribute_sizes': tuple(attribute_sizes)} if attribute_sizes else {}
  if position_channels:
    extra['position_channels'] = position_channels
  denoiser = build(**settings, num_classes=num_classes, n_mels=n_mels,
                   cond_channels=cond_channels, hop_length=config.audio.hop_length,
                   dtype=dtype, matmul_dtype=_dtype(config, 'matmul_dtype', MATMUL_DTYPES),
                   **extra)
  if not text_symbols:
    return denoiser
  return GradTTS(decoder=denoiser, num_symbols=text_symbols, n_mels=cond_channels,
                 dtype=dtype, **config.model.grad_tts.to_dict())


__all__ = ['get_model', 'sections_read', 'MODELS', 'AudioAutoencoder', 'ConvNeXt1D', 'DiffWave', 'FramePrior', 'GradTTS', 'UNet1D',
           'MLPDenoiser']
