"""Drawing samples from a trained model and writing them as wav + PNG."""

import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import audio_io, plotting, samplers, tasks


def make_generate_fn(config, model, schedule):
  """Returns jitted generate(params, rng, cond) -> audio [N, L].

  N and L come from `cond` (labels [N] or mel [N, frames, n_mels]) or, when
  unconditional, from config.sampler.num_samples and config.data.segment_length.
  """
  sampler = samplers.sampler_from_config(config.sampler, schedule,
                                         config.diffusion.prediction)

  def generate(params, rng, cond):
    if cond is None:
      shape = (config.sampler.num_samples, config.data.segment_length)
    elif 'mel' in cond:
      shape = (cond['mel'].shape[0], cond['mel'].shape[1] * config.audio.hop_length)
    else:
      shape = (cond['label'].shape[0], config.data.segment_length)
    if config.model.conditioning == 'mel' and hasattr(model, 'condition'):
      # The mel conditioner is the same at every step: compute it once.
      cond = model.apply({'params': params}, cond, method=model.condition)
    fn = lambda x, t, c: model.apply({'params': params}, x, t, c)
    return sampler(fn, rng, shape, cond, tasks.unconditional(config, cond))

  return jax.jit(generate)


def sample_conditions(config, num_samples: int, reference_batch=None):
  """Conditioning for a set of samples, and a name for each.

  label: classes in turn; mel: the mels of `reference_batch['audio']`.
  """
  conditioning = config.model.conditioning
  if conditioning == 'label':
    labels = np.arange(num_samples) % config.model.num_classes
    return {'label': jnp.asarray(labels, jnp.int32)}, [
        f'sample_{i:03d}_class{label}' for i, label in enumerate(labels)]
  if conditioning == 'mel':
    audio = jnp.asarray(reference_batch['audio'][:num_samples])
    return {'mel': tasks.mel(config, audio)}, [
        f'vocoded_{i:03d}' for i in range(audio.shape[0])]
  return None, [f'sample_{i:03d}' for i in range(num_samples)]


def write_audio_files(directory, audios, names: Sequence[str], config,
                      class_names: Optional[Sequence[str]] = None):
  """Writes `<name>.wav` and `<name>.png` (spectrogram) for each [L] clip."""
  os.makedirs(directory, exist_ok=True)
  paths = []
  for audio, name in zip(np.asarray(audios), names):
    if class_names and '_class' in name:
      label = int(name.rsplit('_class', 1)[1])
      name = f'{name}_{class_names[label]}' if label < len(class_names) else name
    wav = os.path.join(directory, f'{name}.wav')
    audio_io.save_audio(wav, audio, config.audio.sample_rate)
    plotting.save_spectrogram_png(os.path.join(directory, f'{name}.png'), audio,
                                  config.audio.sample_rate, config.audio, title=name)
    paths.append(wav)
  return paths
