"""The modes that read a trained checkpoint: sample, eval and vocode."""

import json
import os
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from audiodiff import audio_io, data, experiment, generate, metrics, spectral, tasks
from audiodiff import train as train_lib
from audiodiff.summary import SummaryWriter


def _restore(exp, checkpoint_step):
  state = exp.init_state()
  restored, step = exp.checkpointer.restore_latest(state, step=checkpoint_step)
  if restored is None:
    raise FileNotFoundError(
        f'No checkpoint in {exp.workdir}/checkpoints. Train first '
        '(--mode=train with the same --workdir), or point --workdir at a '
        'trained run.')
  logging.info('Restored checkpoint at step %d.', step)
  return restored, step


def sample(config, workdir: str, *, num_samples: Optional[int] = None,
           checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Writes samples of the EMA model to workdir/samples/<name>/.

  Sampler, steps and guidance come from config.sampler (override them with
  --config.sampler.*). Returns the list of wav paths.
  """
  exp = experiment.build(config, workdir)
  state, step = _restore(exp, checkpoint_step)
  num_samples = num_samples or config.sampler.num_samples
  with config.unlocked():
    config.sampler.num_samples = num_samples
  reference = None
  if config.model.conditioning == 'mel':
    with config.unlocked():
      config.train.batch_size = max(num_samples, jax.device_count())
    reference = next(iter(data.get_dataset(config, 'test', mesh=exp.mesh, shuffle=False)))
  cond, names = generate.sample_conditions(config, num_samples, reference)
  generate_fn = generate.make_generate_fn(config, exp.model, exp.schedule)
  audio = np.asarray(generate_fn(state.ema_params, jax.random.PRNGKey(config.seed), cond))
  if name is None:
    name = (f'step_{step}_{config.sampler.name}{config.sampler.num_steps}'
            f'_w{config.sampler.guidance_scale:g}')
  directory = os.path.join(workdir, 'samples', name)
  paths = generate.write_audio_files(directory, audio, names, config,
                                     data.class_names(config))
  logging.info('Wrote %d samples to %s', len(paths), directory)
  print(f'Wrote {len(paths)} samples to {directory}', flush=True)
  return paths


def griffin_lim_baseline(config, audio):
  """[B, L] -> Griffin-Lim resynthesis [B, L] of the clips' own log-mels."""
  return spectral.griffin_lim(tasks.mel(config, jnp.asarray(audio)), config.audio)


def evaluate(config, workdir: str, *, checkpoint_step: Optional[int] = None):
  """Eval loss of the EMA model; for vocoders also objective metrics of
  resynthesised test clips, with Griffin-Lim of the same mels as a baseline.

  Writes workdir/eval/step_<N>.json and TensorBoard scalars; returns the dict.
  """
  exp = experiment.build(config, workdir)
  state, step = _restore(exp, checkpoint_step)
  results = {'step': step,
             'eval_loss': train_lib.evaluate_loss(exp, train_lib.make_eval_step(exp),
                                                  state.ema_params)}
  if config.model.conditioning == 'mel':
    iterator = iter(data.get_dataset(config, 'test', mesh=exp.mesh, shuffle=False))
    references = np.concatenate([next(iterator)['audio']
                                 for _ in range(config.train.eval_batches)])
    generate_fn = generate.make_generate_fn(config, exp.model, exp.schedule)
    rows = {'diffusion': [], 'griffin_lim': []}
    for start in range(0, len(references), config.train.batch_size):
      chunk = references[start:start + config.train.batch_size]
      cond = {'mel': tasks.mel(config, jnp.asarray(chunk))}
      estimates = {
          'diffusion': generate_fn(state.ema_params, jax.random.PRNGKey(start), cond),
          'griffin_lim': griffin_lim_baseline(config, chunk)}
      for key, estimate in estimates.items():
        for ref, est in zip(chunk, np.asarray(estimate)):
          rows[key].append(metrics.evaluate_pair(ref, est, config.audio.sample_rate,
                                                 config.audio))
    results['num_clips'] = len(references)
    num_steps = {'fast': len(config.sampler.fast_betas),
                 'ddpm': config.diffusion.num_steps}.get(config.sampler.name,
                                                        config.sampler.num_steps)
    results['sampler'] = f'{config.sampler.name}, {num_steps} steps'
    for key, values in rows.items():
      results[key] = metrics.average(values)
  if jax.process_index() == 0:
    os.makedirs(os.path.join(workdir, 'eval'), exist_ok=True)
    path = os.path.join(workdir, 'eval', f'step_{step}.json')
    with open(path, 'w') as f:
      json.dump(results, f, indent=2)
    writer = SummaryWriter(workdir)
    flat = {'eval/loss': results['eval_loss']}
    for key in ('diffusion', 'griffin_lim'):
      flat.update({f'eval/{key}/{k}': v for k, v in results.get(key, {}).items()})
    writer.scalars(flat, step)
    writer.close()
    print(json.dumps(results, indent=2), flush=True)
  return results


def _chunks(num_frames: int, chunk_frames: int, overlap_frames: int):
  """Start frames of overlapping chunks covering [0, num_frames)."""
  if num_frames <= chunk_frames:
    return [0]
  hop = chunk_frames - overlap_frames
  starts = list(range(0, num_frames - chunk_frames, hop)) + [num_frames - chunk_frames]
  return starts


def vocode_mel(config, exp, params, mel, rng, *, chunk_frames: int = 128,
               overlap_frames: int = 8, batch_chunks: int = 2):
  """Log-mel [frames, n_mels] of any length -> audio [frames * hop].

  Long inputs are cut into chunks of `chunk_frames` overlapping by
  `overlap_frames`, vocoded `batch_chunks` at a time, and joined with linear
  cross-fades. Memory is bounded by the chunk batch, not the input length:
  DiffWave's precomputed conditioner holds num_layers * 2C floats per sample
  (BASE: 2 x 128 frames x 256 hop x 3840 floats = 1 GB).
  """
  hop = config.audio.hop_length
  num_frames = mel.shape[0]
  chunk_frames = min(chunk_frames, num_frames)
  starts = _chunks(num_frames, chunk_frames, overlap_frames)
  generate_fn = generate.make_generate_fn(config, exp.model, exp.schedule)
  pieces = []
  for first in range(0, len(starts), batch_chunks):
    group = starts[first:first + batch_chunks]
    mels = np.stack([mel[s:s + chunk_frames] for s in group])
    audio = generate_fn(params, jax.random.fold_in(rng, first), {'mel': jnp.asarray(mels)})
    pieces.extend(np.asarray(audio))
  output = np.zeros(num_frames * hop, np.float32)
  weight = np.zeros(num_frames * hop, np.float32)
  fade = overlap_frames * hop
  for start, piece in zip(starts, pieces):
    window = np.ones(len(piece), np.float32)
    if fade and len(starts) > 1:
      ramp = np.linspace(0.0, 1.0, fade + 2, dtype=np.float32)[1:-1]
      if start > 0:
        window[:fade] = ramp
      if start + chunk_frames < num_frames:
        window[-fade:] = ramp[::-1]
    output[start * hop:start * hop + len(piece)] += window * piece
    weight[start * hop:start * hop + len(piece)] += window
  return output / np.maximum(weight, 1e-8)


def vocode(config, workdir: str, inputs: Sequence[str], *,
           checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Resynthesises wav files (through their mels) or mel .npy files
  ([frames, n_mels], DiffWave log scaling) into workdir/samples/<name>/."""
  if config.model.conditioning != 'mel':
    raise ValueError('--mode=vocode needs a vocoder config '
                     '(config.model.conditioning="mel").')
  if not inputs:
    raise ValueError('--mode=vocode needs --input=FILE (wav or mel .npy), '
                     'repeatable.')
  exp = experiment.build(config, workdir)
  state, step = _restore(exp, checkpoint_step)
  directory = os.path.join(workdir, 'samples', name or f'vocoded_step_{step}')
  paths = []
  for i, path in enumerate(inputs):
    stem = os.path.splitext(os.path.basename(path))[0]
    if path.endswith('.npy'):
      mel = np.load(path).astype(np.float32)
      if mel.ndim != 2 or mel.shape[1] != config.audio.n_mels:
        raise ValueError(f'{path}: a mel .npy must be [frames, n_mels={config.audio.n_mels}]; '
                         f'got shape {mel.shape}.')
    else:
      audio = audio_io.load_audio(path, config.audio.sample_rate)
      audio = audio[:len(audio) // config.audio.hop_length * config.audio.hop_length]
      mel = np.asarray(tasks.mel(config, jnp.asarray(audio[None])))[0]
    audio = vocode_mel(config, exp, state.ema_params, mel, jax.random.PRNGKey(i))
    paths += generate.write_audio_files(directory, audio[None], [stem], config)
  print(f'Wrote {len(paths)} files to {directory}', flush=True)
  return paths
