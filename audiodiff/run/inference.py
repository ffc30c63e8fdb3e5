"""The modes that read a trained model: sample, eval, vocode, restore, enhance,
synthesize, export.

Each loads the model with `api.load` (a work directory's checkpoint or an
exported model) and calls its methods, the same ones notebooks call.
"""

import json
import os
from typing import Optional, Sequence

import jax
import numpy as np

from audiodiff.run import api, console, evaluation, outputs
from audiodiff.audio import audio_io, plotting
from audiodiff.errors import UserError
from audiodiff.restoration import restore as restoration
from audiodiff.run.summary import SummaryWriter


def sample(config, workdir: str, *, num_samples: Optional[int] = None,
           checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Writes samples of the EMA model to workdir/samples/<name>/.

  Sampler, steps and guidance come from config.sampler (override them with
  --config.sampler.*). Returns the list of wav paths.
  """
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  config = trained.config
  num_samples = num_samples or config.sampler.num_samples
  reference = None
  if trained.task.needs_reference():
    reference = evaluation.reference_batches(trained.exp, 1)[0]
  audio, request = trained.sample(num_samples, seed=config.seed, reference_batch=reference)
  if name is None:
    name = (f'step_{trained.step}_{trained.exp.sampler.name}{trained.exp.sampler.num_evals}'
            f'_w{config.sampler.guidance_scale:g}')
  directory = os.path.join(workdir, 'samples', name)
  paths = outputs.write_audio_files(directory, audio, request.names, config.audio)
  console.say(f'Wrote {len(paths)} samples to {directory}')
  return paths


def evaluate(config, workdir: str, *, checkpoint_step: Optional[int] = None):
  """Eval loss of the EMA model and the task's sample metrics (vocoders:
  resynthesised test clips against Griffin-Lim of the same mels).

  Writes workdir/eval/step_<N>.json and TensorBoard scalars; returns the dict.
  """
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  exp = trained.exp
  losses = evaluation.evaluate_loss(exp, evaluation.make_eval_step(exp), trained.params,
                                    trained.frozen)
  results = {'step': trained.step, 'eval_loss': losses['loss'], 'eval_terms': losses}
  if exp.task.needs_reference():
    batches = evaluation.reference_batches(exp, exp.config.train.eval_batches)
    results.update(evaluation.evaluate_samples(trained, batches))
    results['sampler'] = f'{exp.sampler.name}, {exp.sampler.num_evals} network calls'
  results.update(exp.task.held_out_metrics(trained))
  if jax.process_index() == 0:
    os.makedirs(os.path.join(workdir, 'eval'), exist_ok=True)
    path = os.path.join(workdir, 'eval', f'step_{trained.step}.json')
    with open(path, 'w') as f:
      json.dump(results, f, indent=2)
    writer = SummaryWriter(workdir)
    flat = {'eval/loss': results['eval_loss']}
    for key, value in results.items():
      if isinstance(value, dict) and key != 'eval_terms':
        flat.update(_flatten(value, f'eval/{key}'))
    writer.scalars(flat, trained.step or 0)
    writer.close()
    print(json.dumps(results, indent=2), flush=True)
  return results


def _flatten(tree, prefix):
  """Nested {name: number or dict} -> {'prefix/a/b': number}."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f'{prefix}/{key}'))
    else:
      flat[f'{prefix}/{key}'] = value
  return flat


def _read_vocoder_input(path, config):
  """A wav (its mel is taken) or a mel .npy -> (mel or None, audio or None)."""
  if path.endswith('.npy'):
    if not os.path.exists(path):
      raise FileNotFoundError(f'{path} does not exist.')
    return np.load(path).astype(np.float32), None
  return None, audio_io.load_audio(path, config.audio.sample_rate)


def vocode(config, workdir: str, inputs: Sequence[str], *,
           checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Resynthesises wav files (through their mels) or mel .npy files
  ([frames, n_mels], DiffWave log scaling) into workdir/samples/<name>/."""
  if not inputs:
    raise UserError('--mode=vocode needs --input=FILE (wav or mel .npy), repeatable.')
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  if 'vocode' not in trained.task.api_methods:
    raise UserError(f'--mode=vocode needs a vocoder (config.task="vocoder"); this model '
                     f'is task {trained.task.name!r}.')
  directory = os.path.join(workdir, 'samples', name or f'vocoded_step_{trained.step}')
  paths = []
  for i, path in enumerate(inputs):
    mel, audio = _read_vocoder_input(path, trained.config)
    try:
      output = trained.vocode(mel=mel, audio=audio, seed=i)
    except ValueError as error:
      raise UserError(f'{path}: {error}') from None
    stem = os.path.splitext(os.path.basename(path))[0]
    paths += outputs.write_audio_files(directory, output[None], [stem], trained.config.audio)
  console.say(f'Wrote {len(paths)} files to {directory}')
  return paths


def _model_input(path, rate, verb):
  """A recording -> (mono float32 [L'] at the model's `rate`, the file's
  length in samples, its rate); several channels are averaged, with a
  message saying the file was `verb` as their mean."""
  audio, file_rate = audio_io.read_audio(path)
  if audio.shape[1] > 1:
    console.say(f'{path}: {audio.shape[1]} channels, {verb} as their mean (mono).')
  return audio_io.resample(audio.mean(axis=1), file_rate, rate), audio.shape[0], file_rate


def _write_like_input(wav, output, rate, num_samples, file_rate):
  """Writes output [L'] at the model's `rate` as `wav` at the input's rate
  and length (num_samples)."""
  out = audio_io.resample(output, rate, file_rate)[:num_samples]
  audio_io.save_audio(wav, np.pad(out, (0, num_samples - len(out))), file_rate)


def restore(config, workdir: str, inputs: Sequence[str], *, references: Sequence[str] = (),
            checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Restores each input with the model as the prior (config.restore) into
  workdir/samples/<name>/<input name>.wav (+ .png of degraded / restored, +
  .json of metrics when `references` gives the clean files, one per input).
  Outputs keep each input's sample rate and length."""
  if not inputs:
    raise UserError('--mode=restore needs --input=FILE.wav (repeatable).')
  if references and len(references) != len(inputs):
    raise UserError(f'--reference: give one clean file per --input ({len(inputs)}), '
                    f'got {len(references)}.')
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  settings = trained.config.restore
  restorer = restoration.Restorer(trained, settings)
  rate = trained.sample_rate
  directory = os.path.join(workdir, 'samples',
                           name or f'restored_{settings.task}_step_{trained.step}')
  paths = []
  for i, path in enumerate(inputs):
    degraded, num_samples, file_rate = _model_input(path, rate, 'restored')
    try:
      measurement = restoration.measure(settings.task, degraded, settings, rate)
    except UserError as error:
      raise UserError(f'{path}: {error}') from None
    restored = restorer(measurement, seed=config.seed if config else i)
    stem = os.path.splitext(os.path.basename(path))[0]
    wav = os.path.join(directory, f'{stem}.wav')
    _write_like_input(wav, restored, rate, num_samples, file_rate)
    plotting.save_comparison_png(
        os.path.join(directory, f'{stem}.png'),
        [(f'{stem}: degraded ({settings.task})', measurement.degraded),
         (f'restored ({settings.method})', restored)], rate)
    if references:
      reference = audio_io.load_audio(references[i], rate)
      results = restoration.quality(measurement, reference, restored)
      with open(os.path.join(directory, f'{stem}.json'), 'w') as f:
        json.dump(results, f, indent=2)
      console.say(f'{stem}: ' + ', '.join(f'{k} {v:.2f}' for k, v in results.items()))
    paths.append(wav)
  console.say(f'Wrote {len(paths)} restored files to {directory} ({settings.method}, '
              f'{restorer.num_evals} network passes a window)')
  return paths


def _wav_files(inputs):
  """--input values (files, or directories of .wav files) -> file paths."""
  paths = []
  for path in inputs:
    if os.path.isdir(path):
      found = sorted(os.path.join(path, f) for f in os.listdir(path)
                     if f.lower().endswith('.wav'))
      if not found:
        raise UserError(f'--input={path} is a directory without .wav files.')
      paths += found
    else:
      paths.append(path)
  return paths


def enhance(config, workdir: str, inputs: Sequence[str], *,
            checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Enhances each noisy input (files or directories of wavs) into
  workdir/samples/<name>/<input name>.wav at the input's rate and length,
  with a .png of the noisy and enhanced spectrograms."""
  if not inputs:
    raise UserError('--mode=enhance needs --input=FILE.wav or --input=DIRECTORY '
                    '(repeatable).')
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  if trained.task.name != 'enhance':
    raise UserError(f'--mode=enhance needs an enhancer (config.task="enhance"); this model '
                    f'is a {trained.task.name!r} model.')
  rate = trained.sample_rate
  # Read and check every file before the first (slow) enhancement.
  recordings = []
  for path in _wav_files(inputs):
    noisy, num_samples, file_rate = _model_input(path, rate, 'enhanced')
    if file_rate != rate:
      console.say(f'{path}: {file_rate} Hz, resampled to the model\'s {rate} Hz and back.')
    try:
      trained.task.check_input(noisy)
    except UserError as error:
      raise UserError(f'{path}: {error}') from None
    recordings.append((path, noisy, num_samples, file_rate))
  directory = os.path.join(workdir, 'samples', name or f'enhanced_step_{trained.step}')
  written = []
  for i, (path, noisy, num_samples, file_rate) in enumerate(recordings):
    enhanced = trained.enhance(noisy, seed=i)
    stem = os.path.splitext(os.path.basename(path))[0]
    wav = os.path.join(directory, f'{stem}.wav')
    _write_like_input(wav, enhanced, rate, num_samples, file_rate)
    plotting.save_comparison_png(os.path.join(directory, f'{stem}.png'),
                                 [(f'{stem}: noisy', noisy),
                                  (f'enhanced ({trained.config.enhance.method})', enhanced)],
                                 rate)
    written.append(wav)
  console.say(f'Wrote {len(written)} enhanced files to {directory}')
  return written


def read_texts(texts: Sequence[str], text_file: Optional[str]):
  """--text values plus the lines of --text_file (blank lines skipped)."""
  texts = [t for t in texts]
  if text_file:
    if not os.path.exists(text_file):
      raise UserError(f'--text_file={text_file} does not exist.')
    with open(text_file, encoding='utf-8') as f:
      texts.extend(line.strip() for line in f if line.strip())
  if not texts:
    raise UserError('--mode=synthesize needs --text="A sentence." (repeatable) or '
                    '--text_file=FILE (one utterance a line).')
  return texts


def synthesize(config, workdir: str, texts: Sequence[str], *, text_file: Optional[str] = None,
               checkpoint_step: Optional[int] = None, name: Optional[str] = None):
  """Speaks each text into workdir/samples/<name>/<index>_<first words>.wav
  with a .png of its mel and alignment; returns the wav paths."""
  texts = read_texts(texts, text_file)
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  if trained.task.name != 'tts':
    raise UserError(f'--mode=synthesize needs a text-to-speech model (config.task="tts"); '
                    f'this model is a {trained.task.name!r} model.')
  from audiodiff.tasks import tts  # pylint: disable=g-import-not-at-top
  console.say(f'Speaking {len(texts)} text(s); waveform from {trained.task.vocoder_name}.')
  results = trained.synthesize(texts, seed=config.seed if config else 0)
  directory = os.path.join(workdir, 'samples', name or f'tts_step_{trained.step}')
  written = []
  for i, (sentence, result) in enumerate(zip(texts, results)):
    stem = tts.file_stem(i, sentence)
    wav = os.path.join(directory, f'{stem}.wav')
    audio_io.save_audio(wav, result['audio'], trained.sample_rate)
    plotting.save_tts_png(os.path.join(directory, f'{stem}.png'), result['mel'],
                          result['alignment'], title=sentence[:100])
    written.append(wav)
  console.say(f'Wrote {len(written)} utterances to {directory}')
  return written


def export(config, workdir: str, output_dir: Optional[str] = None, *,
           checkpoint_step: Optional[int] = None):
  """Writes an inference-only copy of the run (config and EMA parameters, no
  optimizer state) to output_dir (default workdir/export), a directory every
  inference mode and audiodiff.load accept."""
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  output_dir = output_dir or os.path.join(workdir, 'export')
  path = api.export(trained, output_dir)
  size = os.path.getsize(path) / 2**20
  console.say(f'Exported step {trained.step} ({size:.1f} MiB of parameters) to {output_dir}')
  return output_dir
