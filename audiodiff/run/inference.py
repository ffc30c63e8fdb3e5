"""The modes that read a trained model: sample, eval, vocode, restore, enhance,
synthesize, export.

Each loads the model with `api.load` (a work directory's checkpoint or an
exported model) and calls its methods, the same ones notebooks call.
"""

import codecs
import contextlib
import hashlib
import itertools
import json
import math
import os
import shutil
from typing import Optional, Sequence

import jax
import numpy as np

from audiodiff.run import api, console, evaluation, listening_page, model_card, outputs
from audiodiff.audio import audio_io, plotting, streams
from audiodiff.errors import UserError
from audiodiff.restoration import restore as restoration
from audiodiff.restoration import operators, spans
from audiodiff.tasks import tts
from audiodiff.run.summary import SummaryWriter


# The modes that run one task's own method, and the models that have it.
_TASK_MODES = {'vocode': 'a vocoder (config.task="vocoder")',
               'enhance': 'an enhancer (config.task="enhance")',
               'synthesize': 'a text-to-speech model (config.task="tts")'}


def _load_for(mode: str, config, workdir: str, checkpoint_step):
  """The model, checked to have the task method of the same name as `mode`."""
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  if mode not in trained.task.api_methods:
    raise UserError(f'--mode={mode} needs {_TASK_MODES[mode]}; this model is a '
                    f'{trained.task.name!r} model.')
  return trained


def _output_dir(workdir: str, name: Optional[str], default: str,
                output: Optional[str] = None, inputs: Sequence[str] = (),
                made=None, made_by: str = '') -> str:
  """Where a mode writes: `output` if given, else workdir/samples/<name, else
  default>; a UserError now, before any work, if it cannot be written to, if
  `output` holds files audiodiff did not write, or if an output would
  overwrite one of the input files or an earlier run's output of another
  input. made: (stems, what makes each) for the modes without input files
  (`_made_by`); made_by: what makes the outputs of `inputs` (`_made_by`). A
  rerun of the same command resumes into the folder; another model, mode or
  setting does not replace its outputs."""
  if name is not None and (not name or name in ('.', '..') or '/' in name
                           or os.sep in name):
    raise UserError(f'--name={name} must be a plain folder name (no "/" or ".."): the '
                    'outputs go to DIR/samples/<name>/; use --output=DIR for any other place.')
  if output and name is not None:
    raise UserError(f'--name={name} and --output={output} both say where outputs go; give '
                    'one of them.')
  if output and output.lower().endswith(AUDIO_SUFFIXES + ('.npy', '.png', '.json')):
    raise UserError(f'--output={output} names a file; --output takes a folder, where each '
                    'output is named after its input. Give a folder, e.g. --output=out/.')
  if output and os.path.exists(output) and not os.path.isdir(output):
    raise UserError(f'--output={output} is a file; give a folder with --output=DIR.')
  if output:
    outputs.check_output_folder(output)
  directory = output or os.path.join(workdir, 'samples', name or default)
  if name and os.path.exists(directory) and not os.path.isdir(directory):
    raise UserError(f'--name={name}: {directory} is a file (the run\'s listening page is '
                    'samples/index.html); give another name.')
  stems = outputs.output_stems(inputs) if inputs else []
  sources = [os.path.realpath(path) + (f' ({made_by})' if made_by else '') for path in inputs]
  if made is not None:
    stems, sources = list(made[0]), list(made[1])
  outputs.check_targets(directory, stems, inputs)
  outputs.check_sources(directory, stems, sources)
  directory = outputs.writable_directory(directory, 'give a writable folder with --output=DIR.')
  outputs.claim_folder(directory)
  if stems:
    outputs.record_sources(directory, stems, sources)
  return directory


# Settings that change how much is computed at once, not the outputs.
_BATCH_ONLY = (('sampler', 'batch_size'), ('sampler', 'num_samples'),
               ('enhance', 'batch_windows'), ('restore', 'batch_windows'),
               ('vocoder', 'batch_chunks'))


def _made_by(verb: str, trained, workdir: str) -> str:
  """What makes a mode's outputs (beside their input files, if any): the
  model, its step and a digest of the settings that change them (not the
  batch sizes)."""
  settings = trained.config.to_dict()
  for section, field in _BATCH_ONLY:
    settings.get(section, {}).pop(field, None)
  digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
  return f'{verb} {os.path.realpath(workdir)} at step {trained.step} (settings {digest[:8]})'


@contextlib.contextmanager
def _naming_what_was_written(workdir: str, directory: str, written: list, total: int,
                             noun: str):
  """Around a mode's loop over its outputs (`written` grows as they are
  written): when one fails, the folder's page still lists those written, and
  the error says how many there are."""
  try:
    yield
  except UserError as error:
    if not written:
      raise
    _write_pages(workdir, directory)
    raise UserError(f'{error} ({len(written)} of {_count(total, noun)} had been written to '
                    f'{directory}; its index.html lists them.)') from None


def _write_pages(workdir: str, directory: str) -> None:
  """The folder's listening page, and the run's when it is under samples/."""
  listening_page.write_folder_page(directory)
  samples = os.path.join(os.path.abspath(workdir), 'samples')
  if os.path.abspath(directory).startswith(samples + os.sep):
    listening_page.write_run_page(workdir)


def sample(config, workdir: str, *, num_samples: Optional[int] = None,
           labels: Optional[Sequence[str]] = None, checkpoint_step: Optional[int] = None,
           name: Optional[str] = None, output: Optional[str] = None):
  """Writes samples of the EMA model to workdir/samples/<name>/ (or output).

  Sampler, steps and guidance come from config.sampler (override them with
  --config.sampler.*). labels: class names or ids as text (--labels), one
  per sample (num_samples default: as many), or one for every sample.
  Returns the list of wav paths.
  """
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  config = trained.config
  options = {}
  if labels and 'labels' not in trained.sample_options():
    raise UserError(f'--labels: {workdir} is a {trained.task.name!r} model, which samples no '
                    'classes; drop --labels.')
  if labels:  # one: every sample (the task's sample_request repeats it)
    values = [int(v) if v.strip().isdigit() else v.strip() for v in labels]
    options['labels'] = values if len(values) > 1 else values[0]
    if num_samples is None and len(values) > 1:
      num_samples = len(values)
  reference = None
  if trained.task.needs_reference():
    reference = evaluation.reference_batches(trained.exp, 1)[0]
  request = trained.sample_request(num_samples, reference_batch=reference, **options)
  asked = config.latent.seconds if config.task == 'latent' else 0
  length = asked and request.shape[1] * trained.task.hop / config.audio.sample_rate
  if asked and abs(length - asked) > 1e-6:
    console.say(f'Clips are {length:g} s long: config.latent.seconds={asked:g} rounded up to '
                f'whole latent frames ({trained.task.hop} samples each).')
  made = (request.names, [_made_by('sampling', trained, workdir)] * len(request.names))
  directory = _output_dir(
      workdir, name, f'step_{trained.step}_{trained.exp.sampler.name}'
      f'{trained.exp.sampler.num_evals}_w{config.sampler.guidance_scale:g}', output, made=made)
  clipped_by = (' by the sampler (config.sampler.clip_x0=True; --config.sampler.clip_x0=False '
                'keeps such peaks)' if config.sampler.clip_x0 else '')
  paths = []  # written a batch at a time (config.sampler.batch_size)
  progress = console.Progress(len(request.names), 'samples')
  with _naming_what_was_written(workdir, directory, paths, len(request.names), 'sample'):
    for names, audio in trained.run_in_batches(request, jax.random.PRNGKey(config.seed)):
      paths += outputs.write_audio_files(directory, audio, names, config.audio,
                                         clipped_by=clipped_by)
      progress.done(names[-1], count=len(names))
  _write_pages(workdir, directory)
  console.say(f'Wrote {_count(len(paths), "sample")} to {directory}')
  return paths


def evaluate(config, workdir: str, *, checkpoint_step: Optional[int] = None,
             output: Optional[str] = None):
  """Eval loss of the EMA model and the task's sample metrics (vocoders:
  resynthesised test clips against Griffin-Lim of the same mels).

  Writes <output, default workdir>/eval/step_<N>.json and TensorBoard
  scalars; returns the dict.
  """
  root = output or workdir
  if (output and os.path.exists(os.path.join(output, 'config.json'))
      and os.path.realpath(output) != os.path.realpath(workdir)):
    raise UserError(f'--output={output} is another model\'s folder: its model card would '
                    'list these results as its own. Give a folder of its own with '
                    '--output=DIR.')
  if jax.process_index() == 0:
    outputs.writable_directory(os.path.join(root, 'eval'),
                               'give a writable folder with --output=DIR.')
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  exp = trained.exp
  path = os.path.join(root, 'eval', f'step_{trained.step}.json')
  made_by = _made_by('evaluating', trained, workdir)
  _check_earlier_eval(path, made_by, ours=not output)
  losses = evaluation.evaluate_loss(exp, evaluation.make_eval_step(exp), trained.params,
                                    trained.frozen)
  results = {'step': trained.step, 'made_by': made_by, 'eval_loss': losses['loss'],
             'eval_terms': losses}
  if exp.task.needs_reference():
    batches = evaluation.reference_batches(exp, exp.config.train.eval_batches)
    results.update(evaluation.evaluate_samples(trained, batches))
    results['sampler'] = exp.sampler.describe()
  results.update(exp.task.held_out_metrics(trained))
  if jax.process_index() == 0:
    os.makedirs(os.path.join(root, 'eval'), exist_ok=True)
    with open(path, 'w') as f:   # a metric no clip could score is nan: null in JSON
      json.dump(_nan_to_none(results), f, indent=2, allow_nan=False)
    writer = SummaryWriter(root)
    flat = {'eval/loss': results['eval_loss']}
    for key, value in results.items():
      if isinstance(value, dict) and key != 'eval_terms':
        flat.update(_flatten(value, f'eval/{key}'))
    writer.scalars(flat, trained.step or 0)
    writer.close()
    print(json.dumps(results, indent=2), flush=True)
  return results


def _check_earlier_eval(path: str, made_by: str, ours: bool) -> None:
  """Refuses, before any work, to replace an eval/step_N.json that another
  model or setting made, or that audiodiff did not write. ours: the run's
  own eval folder, where results without a record (older audiodiff) are
  this run's."""
  if not os.path.exists(path):
    return
  try:
    with open(path, encoding='utf-8') as f:
      earlier = json.load(f)
  except (OSError, ValueError):
    earlier = None
  if not isinstance(earlier, dict) or 'eval_loss' not in earlier:
    made = 'audiodiff did not write it'
  elif earlier.get('made_by', made_by if ours else None) != made_by:
    made = f'it holds the results of {earlier.get("made_by") or "another run"}'
  else:
    return
  raise UserError(f'{path} exists and {made}; evaluating would replace it, so nothing was '
                  'done. Give another folder with --output=DIR, or delete that file.')


def _count(number: int, noun: str) -> str:
  """'1 sample', '3 samples'."""
  return f'{number} {noun}{"s" * (number != 1)}'


def _nan_to_none(tree):
  """Nested results with every non-finite float as None (JSON null)."""
  if isinstance(tree, dict):
    return {key: _nan_to_none(value) for key, value in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [_nan_to_none(value) for value in tree]
  if isinstance(tree, float) and not math.isfinite(tree):
    return None
  return tree


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
  if path.lower().endswith('.npy'):
    if not os.path.exists(path):
      raise UserError(f'--input={path} does not exist.')
    try:
      mel = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, TypeError):
      raise UserError(f'--input={path} is not a mel array saved with numpy.save; give '
                      '[frames, n_mels] float values (audiodiff.audio.spectral.log_mel).'
                      ) from None
    return mel, None
  audio, _, _ = _model_input(path, config.audio.sample_rate, 'vocoded', back=False)
  return None, audio


def vocode(config, workdir: str, inputs: Sequence[str], *,
           checkpoint_step: Optional[int] = None, name: Optional[str] = None,
           output: Optional[str] = None):
  """Resynthesises wav files (through their mels) or mel .npy files
  ([frames, n_mels], DiffWave log scaling) into workdir/samples/<name>/."""
  if not inputs:
    raise UserError('--mode=vocode needs --input=FILE (wav or mel .npy), repeatable.')
  trained = _load_for('vocode', config, workdir, checkpoint_step)
  files = _input_files(inputs, suffixes=AUDIO_SUFFIXES + ('.npy',))
  # Read and check every input before the first output is written.
  inputs_read = [_checked_vocoder_input(path, trained.task) for path in files]
  directory = _output_dir(workdir, name, f'vocoded_step_{trained.step}', output, files,
                          made_by=_made_by('vocoding with', trained, workdir))
  paths = []
  progress = console.Progress(len(files), 'files')
  stems = outputs.output_stems(files)
  with _naming_what_was_written(workdir, directory, paths, len(files), 'file'):
    for i, (path, stem, (mel, audio)) in enumerate(zip(files, stems, inputs_read)):
      if mel is not None and not np.any(mel > 0):
        console.say(f'{path}: every value of this log-mel is 0 (silence): it vocodes to '
                    'silence.')
      if audio is not None:
        _say_if_quiet(path, audio_io.rms(audio), 'vocoded')
      waveform = trained.task.vocode(trained, mel=mel, audio=audio,   # the input's length
                                     seed=trained.config.seed + i)
      # Written as soon as it is made: an interrupted run keeps the finished files.
      paths += outputs.write_audio_files(
          directory, waveform[None], [stem], trained.config.audio, what=[f'--input={path}'],
          fix=trained.task.output_fix)
      progress.done(path)
  _write_pages(workdir, directory)
  console.say(f'Wrote {_count(len(paths), "file")} to {directory}')
  return paths


def _checked_vocoder_input(path, task):
  """_read_vocoder_input, with what the vocoder takes checked now (its
  check_input), the file named in the message."""
  mel, audio = _read_vocoder_input(path, task.config)
  try:
    return task.check_input(mel, audio)
  except UserError as error:
    raise UserError(f'--input={path}: {error}') from None


def _model_input(path, rate, verb, back=True):
  """A recording -> (mono float32 [L'] at the model's `rate`, the same
  [L] at the file's rate, that rate), as _input_source reads it."""
  source = _input_source(path, rate, verb, back)
  mono = np.concatenate(list(source.file_blocks()))
  return audio_io.resample(mono, source.file_rate, rate), mono, source.file_rate


def _input_source(path, rate, verb, back=True, refuse=None):
  """A recording, checked in one pass that holds none of it ->
  streams.FileSource at the model's `rate`. refuse(source), if given, may
  raise a UserError first; several channels are averaged, with a message
  saying the file is `verb` as their mean; a float file peaking above full
  scale is scaled down to it (said); a resampling is said (`back`: the
  output returns to the file's rate); a silent file is a UserError."""
  try:
    source = streams.FileSource.scan(path, rate)
  except audio_io.AudioFileError as error:
    raise error.for_flag('--input') from None
  if refuse is not None:
    refuse(source)
  if source.channels > 1:
    console.say(f'{path}: {source.channels} channels, {verb} as their mean (mono).')
  if source.level < audio_io.SILENT_RMS and source.loudest_channel >= audio_io.SILENT_RMS:
    raise UserError(f'--input={path}: its {source.channels} channels cancel out when mixed to '
                    f'mono (RMS {source.level:.1e}): nothing would be {verb}. Give one '
                    'channel of it (e.g. `sox in.wav out.wav remix 1`).')
  if source.level < audio_io.SILENT_RMS:
    raise UserError(f'--input={path} is silent (RMS {source.level:.1e}, as mono): there is '
                    f'nothing to be {verb}; give a recording with sound in it.')
  if source.peak > 1.0:
    console.say(f'{path}: peaks at {source.peak:.3g} times full scale; scaled down to full '
                f'scale before it is {verb} (the output is written at that lower level).')
  if source.file_rate != rate:
    console.say(f'{path}: {source.file_rate} Hz, resampled to the model\'s {rate} Hz'
                + {True: ' and back.', False: '; the output is at that rate.', None: '.'}[back])
  return source


# DPS and Pi-GDM below this many sampler steps filled a near-silent 40 ms gap
# with a burst at 0.8 (probe, pretrained/speech_prior_cpu).
GUIDED_MIN_STEPS = 10


def restore(config, workdir: str, inputs: Sequence[str], *, references: Sequence[str] = (),
            checkpoint_step: Optional[int] = None, name: Optional[str] = None,
            output: Optional[str] = None):
  """Restores each input with the model as the prior (config.restore) into
  workdir/samples/<name>/<input name>.wav (+ .png of degraded / restored, the
  first PICTURE_SECONDS, + .json of metrics when `references` gives the clean
  files, one per input). Outputs keep each input's sample rate and length.
  Files longer than 1.5 x config.restore.span_seconds go a span at a time
  (restoration/spans.py), so memory does not grow with length; with
  --reference both files are read whole, for the metrics."""
  if not inputs:
    raise UserError('--mode=restore needs --input=FILE.wav (repeatable).')
  streams.return_freed_arrays_to_the_os()
  if references and len(references) != len(inputs):
    raise UserError(f'--reference: give one clean file per --input ({len(inputs)}), '
                    f'got {len(references)}.')
  if references and any(os.path.isdir(path) for path in inputs):
    raise UserError('--reference pairs with --input files one to one; give files, not '
                    'directories, with --reference.')
  if not references:
    inputs = _input_files(inputs)
  else:
    _check_pairs(inputs, references)
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  settings = trained.config.restore
  restoration.check_task_settings(settings)
  restorer = restoration.Restorer(trained, settings)
  steps = trained.config.sampler.num_steps
  if restorer.method in ('dps', 'pigdm') and steps < GUIDED_MIN_STEPS:
    console.say(f'config.restore.method={restorer.method!r} with config.sampler.num_steps='
                f'{steps}: gradient-guided methods need about {GUIDED_MIN_STEPS} steps or more; '
                'with fewer, fills can come out far louder than the audio around them.')
  rate = trained.sample_rate
  # Check every input (and reference) before the first slow restoration;
  # what is read is read again when its turn comes.
  jobs = []
  for i in _distinct(inputs):
    path = inputs[i]
    def refuse(source, path=path):
      if settings.task == 'declip' and source.channels_differ:
        raise UserError(f'--input={path} has {source.channels} different channels: each was '
                        'clipped on its own, and their mean is not a clipped signal. Declip '
                        'each channel as its own file (e.g. `sox in.wav left.wav remix 1`).')

    # Bandwidth extension writes a file below the model's rate at the model's.
    source = _input_source(path, rate, 'restored', refuse=refuse,
                           back=None if settings.task == 'bandwidth' else True)
    if source.file_length < MIN_RESTORE_SECONDS * source.file_rate:
      raise UserError(f'--input={path} is {source.file_length} sample'
                      f'{"s" * (source.file_length != 1)} long; restoration needs at least '
                      f'{1000 * MIN_RESTORE_SECONDS:g} ms of audio.')
    if settings.task == 'bandwidth':
      _check_cutoff(path, settings.cutoff_hz, source.file_rate, rate)
      _say_if_band_above(path, source, settings.cutoff_hz)
    _say_if_quiet(path, source.level, 'restored')
    reference = references[i] if references else None
    level = None   # None: restored whole
    try:
      if reference is None and spans.is_long(source, settings):
        level = spans.checked_level(source, settings)
      else:
        _whole_input(source, settings, reference)
      if settings.task == 'inpaint':
        restorer.check_gaps([max(1, round((end - start) * rate)) for start, end in
                             operators.parse_gaps(settings.gaps)], rate)
    except UserError as error:
      raise UserError(f'{path}: {error}') from None
    # Bandwidth extension adds the band above the input's: a file at a lower
    # rate than the model's is written at the model's rate, which can hold it.
    out_rate = max(source.file_rate, rate) if settings.task == 'bandwidth' else source.file_rate
    if settings.task == 'bandwidth' and source.file_rate > rate:
      console.say(f'{path}: written back at {source.file_rate} Hz; the band it adds ends at '
                  f'the model\'s {rate / 2:g} Hz.')
    if out_rate != source.file_rate:
      console.say(f'{path}: written at the model\'s {out_rate} Hz, not back at '
                  f'{source.file_rate} Hz: that rate holds the band it adds.')
    jobs.append((source, reference, level, out_rate))
  directory = _output_dir(workdir, name, f'restored_{settings.task}_step_{trained.step}',
                          output, [job[0].path for job in jobs],
                          made_by=_made_by('restoring with', trained, workdir))
  paths = []
  stems = outputs.output_stems([job[0].path for job in jobs])
  progress = console.Progress(len(jobs), 'files')
  shown = int(PICTURE_SECONDS * rate)
  with _naming_what_was_written(workdir, directory, paths, len(jobs), 'file'):
    for i, ((source, reference, level, out_rate), stem) in enumerate(zip(jobs, stems)):
      path, wav = source.path, os.path.join(directory, f'{stem}.wav')
      # Where the output keeps the file's rate, only what was missing changes in it.
      keep_file = out_rate == source.file_rate != rate
      length = source.file_length * out_rate // source.file_rate
      head, degraded = _Head(shown), _Head(shown)
      if level is None:
        measurement, original, reference = _whole_input(source, settings, reference)
        restored = restorer(measurement, seed=trained.config.seed + i,
                            on_windows=_window_progress(path))
        if keep_file:
          blocks = [restoration.keep_measured(measurement, restored, original, out_rate)]
        else:
          blocks = [audio_io.resample(restored, rate, out_rate)]
        peak = streams.write_blocks(wav, blocks, rate=out_rate, file_rate=out_rate,
                                    length=length)
        head.add(restored)
        degraded.add(measurement.degraded)
      else:
        blocks = spans.restored_blocks(restorer, source, settings, level=level,
                                       out_rate=out_rate, seed=trained.config.seed + i,
                                       on_span=_window_progress(path, 'spans'))
        peak = streams.write_blocks(wav, blocks, rate=out_rate, file_rate=out_rate,
                                    length=length, keep=head.add)
        degraded.read(source.blocks())
      _say_if_float(wav, peak)
      part = '' if source.length <= shown else f' (first {PICTURE_SECONDS:g} s)'
      restored_head = head.audio() if level is None or out_rate == rate else (
          audio_io.resample(head.audio(), out_rate, rate))
      plotting.save_comparison_png(
          os.path.join(directory, f'{stem}.png'),
          [(f'{stem}: degraded ({settings.task}){part}', degraded.audio()),
           (f'restored ({restorer.method})', restored_head)], rate)
      if reference is not None:
        # A metric with nothing to measure (no silent frame) is nan: null in JSON.
        results = _nan_to_none({k: float(v) for k, v in
                                restoration.quality(measurement, reference, restored).items()})
        with open(os.path.join(directory, f'{stem}.json'), 'w') as f:
          json.dump(results, f, indent=2, allow_nan=False)
        console.say(f'{stem}: ' + ', '.join(f'{k} {"n/a" if v is None else f"{v:.2f}"}'
                                            for k, v in results.items()))
      paths.append(wav)
      progress.done(path)
  _write_pages(workdir, directory)
  console.say(f'Wrote {_count(len(paths), "restored file")} to {directory} '
              f'({restorer.summary})')
  return paths


def _say_if_float(wav: str, peak: float) -> None:
  if peak > 1.0:
    console.say(f'{wav}: peaks at {peak:.2f}, above full scale (1.0); written as 32-bit '
                'float wav, which keeps those samples (16-bit would clip them). Lower its '
                'gain before converting it to 16-bit.')


def _whole_input(source, settings, reference_path):
  """A recording restored whole -> (its Measurement at the model's rate, its
  mono samples at the file's rate, the reference [L] or None), checked."""
  rate = source.rate
  original = np.concatenate(list(source.file_blocks()))
  degraded = audio_io.resample(original, source.file_rate, rate)
  measurement = restoration.measure(settings.task, degraded, settings, rate)
  if reference_path is None:
    return measurement, original, None
  try:
    reference_rate = audio_io.file_info(reference_path).samplerate
    reference = audio_io.load_audio(reference_path, rate)
  except audio_io.AudioFileError as error:
    raise error.for_flag('--reference') from None
  if reference_rate < source.file_rate:
    raise UserError(f'--reference={reference_path} is at {reference_rate} Hz, below '
                    f'--input={source.path}\'s {source.file_rate} Hz: it lacks the band above '
                    f'{reference_rate / 2:g} Hz that the metrics compare; give the clean '
                    f'recording at {source.file_rate} Hz or more.')
  if audio_io.rms(reference) < audio_io.SILENT_RMS:
    raise UserError(f'--reference={reference_path} is silent: metrics against it would '
                    'mean nothing; give the clean version of --input.')
  if len(reference) < len(degraded):
    raise UserError(f'--reference={reference_path} is shorter ({len(reference) / rate:.2f} '
                    f's) than --input={source.path} ({len(degraded) / rate:.2f} s): give the '
                    'clean version of the same recording.')
  return measurement, original, reference[:len(degraded)]


def _window_progress(path, what='windows'):
  """An on_windows(count, total) callback: a progress line within a file
  once it needs more than one network batch of windows (or span)."""
  state = {}

  def on_windows(count, total):
    if 'progress' not in state:
      state['progress'] = console.Progress(total, f'{what} of {os.path.basename(path)}')
      state['single'] = count == total
    if not state['single']:
      state['progress'].done(count=count)
  return on_windows


AUDIO_SUFFIXES = ('.wav', '.flac', '.ogg')


def _input_files(inputs, flag='--input', suffixes=AUDIO_SUFFIXES):
  """--input values (files, or directories of them) -> distinct file paths;
  a file given twice is processed once, with a message. A directory's other
  files, and its hidden ones (macOS's ._x.wav copies are not audio), are
  named as skipped."""
  paths = []
  for path in inputs:
    if os.path.isdir(path):
      names = sorted(os.listdir(path))
      hidden = [f for f in names if f.startswith('.')]
      if hidden:
        console.say(f'{path}: {_count(len(hidden), "hidden name")} skipped ({hidden[0]}'
                    f'{", ..." if len(hidden) > 1 else ""}; give a hidden file as its own '
                    f'{flag} to read it).')
        names = [f for f in names if not f.startswith('.')]
      found = [os.path.join(path, f) for f in names if f.lower().endswith(suffixes)
               and os.path.isfile(os.path.join(path, f))]
      folders = [f for f in names if os.path.isdir(os.path.join(path, f))]
      if not found:
        inside = f' (its {_count(len(folders), "sub-folder")} not read)' if folders else ''
        raise UserError(f'{flag}={path} is a directory without {"/".join(suffixes)} '
                        f'files{inside}; give each folder of recordings as its own {flag}.')
      skipped = len(names) - len(found) - len(folders)
      if skipped:
        other = f'{skipped} other entr{"y" if skipped == 1 else "ies"}'
        console.say(f'{path}: {_count(len(found), "file")} to read; {other} skipped '
                    f'(not {"/".join(suffixes)} files).')
      if folders:
        console.say(f'{path}: {_count(len(folders), "sub-folder")} not read (one level only: '
                    f'give a sub-folder as its own {flag}).')
      paths += found
    else:
      paths.append(path)
  return [paths[i] for i in _distinct(paths)]


# Shorter recordings hold too little to restore (or to detect clipping in).
MIN_RESTORE_SECONDS = 0.01
# Above this share of a file's energy beyond the cutoff (past a transition band
# of a fifth of it, as a real low-pass filter leaves), it is not band-limited there.
BAND_ABOVE_CUTOFF_DB = -40.0
TRANSITION_BAND = 0.2


def _say_if_band_above(path, source, cutoff_hz) -> None:
  """Says when the file holds a real band above `cutoff_hz` (one pass over
  it): bandwidth extension replaces what is there."""
  above = total = 0.0
  for block in source.file_blocks():
    power = np.abs(np.fft.rfft(block * np.hanning(len(block)))) ** 2
    frequencies = np.fft.rfftfreq(len(block), 1 / source.file_rate)
    above += float(np.sum(power[frequencies > cutoff_hz * (1 + TRANSITION_BAND)]))
    total += float(np.sum(power))
  share = 10 * np.log10(max(above, 1e-30) / max(total, 1e-30))
  if share > BAND_ABOVE_CUTOFF_DB:
    console.say(f'{path}: {100 * above / total:.2g}% of its energy ({share:.0f} dB) lies above '
                f'{cutoff_hz * (1 + TRANSITION_BAND):g} Hz, past config.restore.cutoff_hz='
                f'{cutoff_hz:g} and a transition band: it is not band-limited there, and that '
                'band is replaced. Give the frequency its band really ends at, if that was not '
                'meant.')


def _say_if_quiet(path, level, verb) -> None:
  """Says when a recording is processed at speech level (audio_io.working_gain)."""
  if audio_io.working_gain(level) != 1.0:
    console.say(f'{path}: quiet (RMS {20 * np.log10(level):.0f} dBFS): {verb} at '
                f'{audio_io.LOUDNESS_TARGET_DBFS:g} dBFS, where the model learned, and scaled '
                'back.')


def _check_cutoff(path, cutoff_hz, file_rate, model_rate) -> None:
  """A UserError for a bandwidth-extension cutoff the file at `file_rate`
  cannot have. A file below the model's rate may be cut at its own Nyquist
  frequency (the model adds the band above it), which is what is suggested
  when no cutoff is given."""
  nyquist = file_rate / 2
  if cutoff_hz <= 0:
    example = (f'{nyquist:g} (this {file_rate} Hz file\'s own limit)' if file_rate < model_rate
               else '4000, for example')
    raise UserError(f'{path}: bandwidth extension needs the input\'s band limit: '
                    f'--config.restore.cutoff_hz={example}.')
  if cutoff_hz > nyquist or (cutoff_hz == nyquist and file_rate >= model_rate):
    raise UserError(f'{path}: sampled at {file_rate} Hz, it holds nothing above {nyquist:g} Hz, '
                    f'so config.restore.cutoff_hz={cutoff_hz:g} cannot be its band limit; give '
                    f'a cutoff {"at or " * (file_rate < model_rate)}below {nyquist:g} Hz.')


def _check_pairs(inputs, references) -> None:
  """A UserError for one --input file paired with two different --reference
  files (only the first pair would be restored)."""
  paired = {}
  for path, reference in zip(inputs, references):
    earlier = paired.setdefault(os.path.realpath(path), reference)
    if os.path.realpath(earlier) != os.path.realpath(reference):
      raise UserError(f'--input={path} is given twice, with --reference={earlier} and '
                      f'--reference={reference}; give each input once, with its clean '
                      'original.')


def _distinct(paths) -> list:
  """Indices of the first occurrence of each file in `paths`: a file given
  twice is processed once, with a message."""
  seen, first = {}, []
  for i, path in enumerate(paths):
    key = os.path.realpath(path)
    if key not in seen:
      seen[key] = path
      first.append(i)
    elif os.path.abspath(path) == os.path.abspath(seen[key]):
      console.say(f'{path}: given twice; processed once.')
    else:
      console.say(f'{path}: the same file as {seen[key]} (a link to it); processed once.')
  return first


# The spectrogram picture beside an enhanced file shows at most its first
# this many seconds (the picture of an hour-long file would hold it whole).
PICTURE_SECONDS = 60.0


def enhance(config, workdir: str, inputs: Sequence[str], *,
            checkpoint_step: Optional[int] = None, name: Optional[str] = None,
            output: Optional[str] = None):
  """Enhances each noisy input (files or directories of wavs) into
  workdir/samples/<name>/<input name>.wav at the input's rate and length,
  with a .png of the noisy and enhanced spectrograms (the first
  PICTURE_SECONDS). Files are read, enhanced and written a block at a time:
  memory does not grow with their length."""
  if not inputs:
    raise UserError('--mode=enhance needs --input=FILE.wav or --input=DIRECTORY '
                    '(repeatable).')
  streams.return_freed_arrays_to_the_os()
  trained = _load_for('enhance', config, workdir, checkpoint_step)
  rate = trained.sample_rate
  # Check every file (one pass each) before the first (slow) enhancement.
  sources = []
  for path in _input_files(inputs):
    source = _input_source(path, rate, 'enhanced')
    try:
      trained.task.check_length(source.length)
    except UserError as error:
      at = (f' ({source.file_length} samples at the file\'s {source.file_rate} Hz)'
            if source.file_rate != rate else '')
      raise UserError(f'{path}{at}: {error}') from None
    sources.append(source)
  paths = [source.path for source in sources]
  directory = _output_dir(workdir, name, f'enhanced_step_{trained.step}', output, paths,
                          made_by=_made_by('enhancing with', trained, workdir))
  written = []
  stems = outputs.output_stems(paths)
  progress = console.Progress(len(sources), 'files')
  shown = int(PICTURE_SECONDS * rate)
  # Windows of consecutive files share network batches (config.enhance.batch_windows).
  enhanced = itertools.groupby(trained.task.enhance_blocks(trained, sources), key=lambda item: item[0])
  with _naming_what_was_written(workdir, directory, written, len(sources), 'file'):
    for (index, blocks), stem in zip(enhanced, stems):
      source, wav = sources[index], os.path.join(directory, f'{stem}.wav')
      head = _Head(shown)
      peak = streams.write_blocks(wav, (block for _, block in blocks), rate=rate,
                                  file_rate=source.file_rate, length=source.file_length,
                                  keep=head.add)
      _say_if_float(wav, peak)
      part = '' if source.length <= shown else f' (first {PICTURE_SECONDS:g} s)'
      plotting.save_comparison_png(
          os.path.join(directory, f'{stem}.png'),
          [(f'{stem}: noisy{part}', _Head(shown).read(source.blocks())),
           (f'enhanced ({trained.config.enhance.method})', head.audio())], rate)
      written.append(wav)
      progress.done(source.path)
  _write_pages(workdir, directory)
  console.say(f'Wrote {_count(len(written), "enhanced file")} to {directory}')
  return written


class _Head:
  """Keeps the first `count` samples of the blocks it is given."""

  def __init__(self, count):
    self.count, self.kept, self.have = count, [], 0

  def add(self, block):
    if self.have < self.count:
      self.kept.append(block[:self.count - self.have])
      self.have += len(self.kept[-1])

  def read(self, blocks):
    """The first `count` samples of blocks (read no further), float32 [<= count]."""
    for block in blocks:
      if self.have >= self.count:
        break
      self.add(block)
    return self.audio()

  def audio(self):
    return np.concatenate(self.kept) if self.kept else np.zeros(0, np.float32)


def read_texts(texts: Sequence[str], text_file: Optional[str]):
  """--text values plus the lines of --text_file (blank lines skipped)."""
  texts = [t for t in texts]
  if text_file:
    if not os.path.isfile(text_file):
      raise UserError(f'--text_file={text_file} does not exist or is not a file; give a '
                      'text file, one utterance a line.')
    with open(text_file, 'rb') as f:
      raw = f.read()
    # UTF-8 (a byte-order mark dropped), or UTF-16 with its mark (Windows' "Unicode").
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
      lines = raw.decode('utf-16' if utf16 else 'utf-8-sig').splitlines()
    except UnicodeDecodeError as error:
      raise UserError(f'--text_file={text_file} is not {"UTF-16" if utf16 else "UTF-8"} text '
                      f'(byte {error.start} is {error.object[error.start:error.start + 1]!r}); '
                      'save it as UTF-8 text, one utterance a line.') from None
    if any('\x00' in line for line in lines):
      raise UserError(f'--text_file={text_file} holds NUL bytes: it is not a text file.')
    found = [line.strip() for line in lines if line.strip()]
    if not found:
      raise UserError(f'--text_file={text_file} holds no text (empty or blank lines); '
                      'write one utterance a line.')
    texts.extend(found)
  if not texts:
    raise UserError('--mode=synthesize needs --text="A sentence." (repeatable) or '
                    '--text_file=FILE (one utterance a line).')
  return texts


def synthesize(config, workdir: str, texts: Sequence[str], *, text_file: Optional[str] = None,
               checkpoint_step: Optional[int] = None, name: Optional[str] = None,
               output: Optional[str] = None):
  """Speaks each text into workdir/samples/<name>/<index>_<first words>.wav
  with a .png of its mel and alignment; returns the wav paths."""
  texts = read_texts(texts, text_file)
  trained = _load_for('synthesize', config, workdir, checkpoint_step)
  stems = [tts.file_stem(i, sentence) for i, sentence in enumerate(texts)]
  made_by = _made_by('speaking with', trained, workdir)
  directory = _output_dir(workdir, name, f'tts_step_{trained.step}', output,
                          made=(stems, [f'{made_by}: "{t[:60]}"' for t in texts]))
  console.say(f'Speaking {len(texts)} text(s); waveform from {trained.task.vocoder_name}.')
  # A fixed group of texts at a time, for the progress line; each group draws
  # from its own seed, so outputs do not depend on config.sampler.batch_size.
  # Each group is written as soon as it is spoken: an interrupted run keeps it.
  written, group = [], tts.SYNTHESIS_BATCH
  progress = console.Progress(len(texts), 'texts')
  with _naming_what_was_written(workdir, directory, written, len(texts), 'text'):
    for first in range(0, len(texts), group):
      part = texts[first:first + group]
      results = trained.task.synthesize(trained, part, seed=trained.config.seed + first)
      for stem, sentence, result in zip(stems[first:first + group], part, results):
        wav = os.path.join(directory, f'{stem}.wav')
        audio_io.save_audio(wav, outputs.check_output(result['audio'], wav), trained.sample_rate)
        plotting.save_tts_png(os.path.join(directory, f'{stem}.png'), result['mel'],
                              result['alignment'], title=sentence[:100])
        written.append(wav)
      progress.done(part[-1][:40], count=len(part))
  _write_pages(workdir, directory)
  console.say(f'Wrote {_count(len(written), "utterance")} to {directory}')
  return written


def export(config, workdir: str, output_dir: Optional[str] = None, *,
           checkpoint_step: Optional[int] = None, precision: Optional[str] = None):
  """Writes an inference-only copy of the run (config and EMA parameters, no
  optimizer state) to output_dir (default workdir/export), a directory every
  inference mode and audiodiff.load accept; precision: how the parameters
  are stored ('float32' or 'float16', read back as float32; default: an
  export's own, float32 for a training run)."""
  default = os.path.join(workdir, 'export')
  output_dir = output_dir or default
  inside = os.path.realpath(output_dir).startswith(
      os.path.join(os.path.realpath(workdir), 'checkpoints') + os.sep)
  if os.path.realpath(output_dir) == os.path.realpath(workdir) or inside:
    raise UserError(f'--output={output_dir} is the model being exported or its checkpoints; '
                    'give another folder with --output=DIR.')
  if (os.path.realpath(output_dir) != os.path.realpath(default) and os.path.isdir(output_dir)
      and os.listdir(output_dir)):
    raise UserError(f'--output={output_dir} is not empty (another model, a run or your '
                    'files); nothing was written. Remove it first or give a new folder '
                    'with --output=DIR.')
  output_dir = outputs.writable_directory(output_dir, 'give a writable folder with --output=DIR.')
  trained = api.load(workdir, config, checkpoint_step=checkpoint_step)
  precision = precision or api.stored_precision(workdir)
  earlier = os.path.join(output_dir, api.EXPORT_INFO_FILE)
  if os.path.exists(earlier):
    try:
      with open(earlier, encoding='utf-8') as f:
        step = json.load(f).get('step')
    except (OSError, ValueError, AttributeError):
      step = '?'
    console.say(f'Replacing the earlier export of step {step} in {output_dir} (the default '
                'folder; --output=DIR keeps both).')
  # Written beside and renamed into place: an interrupted export leaves no
  # half model behind (and the same command starts it again).
  partial = audio_io.beside(output_dir)
  replaced = audio_io.beside(output_dir, 'replaced')
  try:
    path = api.export(trained, partial, precision)
    if os.path.exists(output_dir):   # the default folder's earlier export, or an empty one
      os.rename(output_dir, replaced)
    os.rename(partial, output_dir)
  finally:
    for folder in (partial, replaced):
      shutil.rmtree(folder, ignore_errors=True)
  path = os.path.join(output_dir, os.path.basename(path))
  size = os.path.getsize(path) / 2**20
  console.say(f'Exported step {trained.step} ({size:.1f} MiB of {precision} parameters) to '
              f'{output_dir}')
  return output_dir


def info(config, workdir: str, *, checkpoint_step: Optional[int] = None) -> dict:
  """Prints the model card of an export (its export.json) or of a work
  directory's checkpoint (as --mode=export would write it) and returns it."""
  if not os.path.isdir(workdir):
    raise UserError(f'--workdir={workdir} is not a folder; --mode=info reads a training run '
                    'or an exported model.')
  exported = os.path.exists(os.path.join(workdir, api.PARAMS_FILE))
  if not exported and not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise UserError(f'--mode=info reads a trained model: {workdir} holds neither an export '
                    '(params.msgpack) nor checkpoints/. Point --workdir at a training run or '
                    'an exported model.')
  if exported and checkpoint_step is not None:
    raise UserError(f'{workdir} is an exported model (one set of parameters); drop '
                    '--checkpoint_step.')
  trained = None if exported else api.load(workdir, config, checkpoint_step=checkpoint_step)
  card = model_card.info(workdir, trained)
  console.say(model_card.describe(card))
  return card
