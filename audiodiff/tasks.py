"""How a data batch becomes the diffusion target x0 and its conditioning.

The conditioning named by config.model.conditioning:
  'none':  unconditional generation;
  'label': class-conditional generation; during training labels are replaced
           by the "no label" id (num_classes) with probability
           config.train.label_dropout, so one network learns both passes of
           classifier-free guidance;
  'mel':   vocoding; the log-mel spectrogram of the clip itself.
"""

import jax
import jax.numpy as jnp

from audiodiff import spectral


def check_config(config) -> None:
  """Fails early, with the fix, on data and sampler settings that do not fit
  the conditioning (models.get_model validates the conditioning itself)."""
  conditioning = config.model.conditioning
  if conditioning == 'mel' and config.data.segment_length % config.audio.hop_length:
    raise ValueError(
        f'config.data.segment_length={config.data.segment_length} must be a '
        f'multiple of config.audio.hop_length={config.audio.hop_length} for '
        'mel conditioning.')
  if conditioning != 'label' and config.sampler.guidance_scale != 1.0:
    raise ValueError(
        f'config.sampler.guidance_scale={config.sampler.guidance_scale} needs '
        'classifier-free guidance, i.e. config.model.conditioning="label"; '
        f'this model is conditioned on {conditioning!r}. Set '
        '--config.sampler.guidance_scale=1.')


def mel(config, audio):
  """[B, L] -> [B, L // hop_length, n_mels] log-mel as the model sees it."""
  return spectral.log_mel(audio, config.audio)


def model_inputs(config, batch, rng, *, train: bool):
  """{'audio': [B, L], 'label': [B]} -> {'x0': [B, L], 'cond': dict or None}."""
  audio = batch['audio']
  conditioning = config.model.conditioning
  if conditioning == 'none':
    return {'x0': audio, 'cond': None}
  if conditioning == 'mel':
    return {'x0': audio, 'cond': {'mel': mel(config, audio)}}
  labels = batch['label'].astype(jnp.int32)
  if train and config.train.label_dropout > 0:
    drop = jax.random.bernoulli(rng, config.train.label_dropout, labels.shape)
    labels = jnp.where(drop, config.model.num_classes, labels)
  return {'x0': audio, 'cond': {'label': labels}}


def unconditional(config, cond):
  """The conditioning of the unconditional pass of classifier-free guidance."""
  if config.model.conditioning != 'label':
    return None
  return {'label': jnp.full_like(cond['label'], config.model.num_classes)}
