"""Refuses --config.* flags that would do nothing in this mode on this model
(a sampler option a predictive enhancer never uses, another network's
settings, a training setting outside training, a restoration option its
method or task ignores), naming the setting and why, before any work.
Config files are not checked this way: only the flags a user typed.

  unread_flags.check(sys.argv, config, mode)
"""

import os

from audiodiff import models
from audiodiff.diffusion import samplers
from audiodiff.errors import UserError
from audiodiff.restoration import restore
from audiodiff.run import api


def check(argv, config, mode) -> None:
  """A UserError for the first flag in argv (spelled --config.a.b=v) that
  this mode on this config would ignore."""
  check_sampler_flags(argv, config, mode)
  check_restore_flags(argv, config, mode)
  check_section_flags(argv, config, mode)
  check_field_flags(argv, config, mode)


def check_restore_flags(argv, config, mode):
  """A UserError for a --config.restore flag the restoration method would
  ignore (average with the classical baseline, jump without RePaint)."""
  if mode != 'restore' or config is None:
    return
  settings = restore.resolved(config.restore)
  method = settings.method
  recipe = restore.DEFAULT_RECIPE.get(config.restore.task, {})
  for arg in argv:
    if not arg.startswith('--config.restore.'):
      continue
    option = arg.split('=')[0].removeprefix('--config.restore.')
    if not config.restore.method and option in recipe and option != 'method':
      raise restore.recipe_error(config.restore.task, option)
    users = restore.OPTION_METHODS.get(option)
    if users and method not in users:
      raise UserError(f'--config.restore.{option} has no effect with config.restore.method='
                      f'{method!r} (it is for {", ".join(users)}); drop it, or choose one of '
                      'those with --config.restore.method.')
    task = restore.OPTION_TASK.get(option)
    if task and task != config.restore.task:
      raise UserError(f'--config.restore.{option} has no effect with config.restore.task='
                      f"{config.restore.task!r} (it is for task='{task}'); drop it.")
    if option in restore.BASELINE_START_OPTIONS and settings.start != 'baseline':
      raise UserError(f'--config.restore.{option} has no effect with config.restore.start='
                      f"{settings.start!r} (it is for start='baseline'); add "
                      '--config.restore.start=baseline, or drop it.')


# The training settings each mode other than training reads: the network's
# arithmetic, and for eval the batches it scores.
_TRAIN_FIELDS_READ = {'eval': ('compute_dtype', 'matmul_dtype', 'batch_size', 'eval_batches')}
_TRAIN_FIELDS_INFERENCE = ('compute_dtype', 'matmul_dtype')


# Fields only training reads, wherever they stand (loss weights, dropout).
_TRAINING_ONLY_FIELDS = ('label_dropout', 'stft_loss_weight', 'si_sdr_weight', 'kl_weight',
                         'adversarial_weight', 'feature_weight', 'adversarial_start',
                         'complex_weight', 'stft_resolutions', 'dropout', 'min_snr_gamma',
                         'snr_weighting')

# The modes that make outputs from a trained model. Export is not among
# them: it writes the settings given into the exported config.json, the
# defaults of every later run of it, so it refuses only what no mode reads
# (training settings, an option the sampler ignores).
_INFERENCE_MODES = ('sample', 'vocode', 'enhance', 'synthesize', 'restore')

# What only training (and --mode=eval's held-out sets) read, by field:
# the corpus (config.data), the training mixtures, the held-out test sets.
_CORPUS_FIELDS = tuple(f'data.{name}' for name in (
    'name', 'folder', 'data_dir', 'voices', 'soundfont', 'num_examples', 'clip_seconds',
    'audio_key', 'label_key', 'num_workers', 'skip_bad_files', 'max_text_length',
    'normalize'))
_TRAINING_DATA_FIELDS = ('diffusion.loss', 'enhance.noise_types', 'enhance.snr_db',
                         'enhance.augment', 'enhance.babble_utterances', 'tts.segment_frames',
                         'latent.scaling_clips')

# Tasks whose outputs' length comes from their inputs (or text), not from
# config.data.segment_length (their training crop).
_INPUT_LENGTH_TASKS = ('enhance', 'vocoder', 'frame_vocoder', 'tts')
_EVAL_FIELDS = ('enhance.test_voices', 'enhance.test_utterances',
                'enhance.recorded_test_utterances', 'enhance.test_snr_db',
                'tts.test_utterances')

# Sections --mode=sample alone reads of config.sampler (the other modes
# batch by their own section: vocoder.batch_chunks, enhance/restore.batch_windows).
_SAMPLE_ONLY_SAMPLER = ('num_samples', 'batch_size')


def _griffin_lim_unread(config) -> bool:
  """Whether this vocoder never runs Griffin-Lim (its prior or start is another)."""
  if config.task == 'vocoder':
    return config.vocoder.prior != 'griffin_lim'
  return config.task == 'frame_vocoder' and config.vocoder.start != 'griffin_lim'


def _predictive_enhance(config, mode) -> bool:
  """Whether this is --mode=enhance with a predictive enhancer (no sampler)."""
  return mode == 'enhance' and config is not None and config.enhance.method == 'predictive'


def _classical_restore(config, mode) -> bool:
  """Whether this is --mode=restore with the classical method (no network)."""
  return mode == 'restore' and config is not None and restore.method_of(
      config.restore) == 'baseline'


def check_section_flags(argv, config, mode):
  """A UserError for flags of a part this model or mode does not have:
  --config.model.<section>.* of another network (diffwave settings on a
  U-Net), a section only other tasks read (config.vocoder on a TTS model),
  training-only fields outside training (loss weights, dropout, most of
  config.train), griffin_lim_iters where Griffin-Lim never runs."""
  if config is None:
    return
  read = models.sections_read(config)
  read_here = _TRAIN_FIELDS_READ.get(mode, _TRAIN_FIELDS_INFERENCE)
  if _classical_restore(config, mode):
    read_here = ()   # no network runs
  for arg in argv:
    name = arg.split('=')[0]
    parts = name.split('.')
    why = api.unread_section(config.task, parts[1]) if (
        parts[0] == '--config' and len(parts) > 2) else ''
    if parts[0] == '--config' and parts[-1] in _TRAINING_ONLY_FIELDS and mode not in (
        'train', 'check'):
      raise UserError(f'{name} has no effect on --mode={mode}: only training reads it (a loss '
                      'weight or dropout); drop it.')
    if name == '--config.vocoder.griffin_lim_iters' and _griffin_lim_unread(config):
      raise UserError(f'{name} has no effect: this vocoder does not start from Griffin-Lim '
                      f"(config.vocoder.{'prior' if config.task == 'vocoder' else 'start'} is "
                      'another); drop it.')
    if why:
      raise UserError(f'{name} has no effect: this is {why}; drop it.')
    if parts[:2] == ['--config', 'model'] and len(parts) > 3 and parts[2] not in read:
      raise UserError(f'{name} has no effect: this model is '
                      f'config.model.name={config.model.name!r}, which reads config.model.'
                      f'{config.model.name}; drop it, or set --config.model.name={parts[2]} '
                      'to train that network (a sweep over model.name takes such settings '
                      'from a config file of your own).')
    if (parts[:2] == ['--config', 'train'] and len(parts) > 2 and mode not in ('train', 'check')
        and parts[2] not in read_here):
      reads = (f'this mode reads config.train.{", ".join(read_here)} only' if read_here else
               "config.restore.method='baseline' runs no network")
      raise UserError(f'{name} has no effect on --mode={mode}: it is a training '
                      f'setting; drop it ({reads}).')


def check_sampler_flags(argv, config, mode):
  """A UserError for --config.sampler flags that would be ignored: an option
  the chosen sampler does not take (num_steps for 'ddpm', churn for 'ddim'),
  any of them on a predictive enhancer."""
  given = [a.split('=')[0].removeprefix('--config.sampler.') for a in argv
           if a.startswith('--config.sampler.')]
  if given and _predictive_enhance(config, mode):
    raise UserError(f'--config.sampler.{given[0]} has no effect: this enhancer is predictive '
                    '(one network call, no sampler); drop it.')
  seeded = _given(argv, '--config.seed')
  deterministic = (_classical_restore(config, mode) and 'the classical restoration') or (
      _predictive_enhance(config, mode) and 'this predictive enhancer')
  if seeded and deterministic:
    raise UserError(f'--config.seed has no effect: {deterministic} draws no noise (the same '
                    'input gives the same output); drop it.')
  if given and config is not None and (
      config.task == 'autoencoder' or (mode == 'eval' and config.task in ('generate', 'latent'))):
    what = ('an autoencoder samples nothing (it reconstructs)' if config.task == 'autoencoder'
            else f"a {config.task!r} model's evaluation is its test loss (no sampling; "
            '--mode=sample uses the sampler)')
    raise UserError(f'--config.sampler.{given[0]} has no effect on --mode={mode}: {what}; '
                    'drop it.')
  if given and _classical_restore(config, mode):
    raise UserError(f'--config.sampler.{given[0]} has no effect: config.restore.method='
                    "'baseline' is classical (no network, no sampler); drop it, or choose a "
                    'method of the prior with --config.restore.method (projection, pigdm, dps, '
                    'repaint).')
  if mode in ('train', 'info') or config is None:
    return
  name = config.sampler.name
  if name not in samplers.SAMPLERS:
    return  # building the sampler names the valid ones
  options = {other: samplers.options_of(other) for other in samplers.SAMPLERS.names()}
  # Options every sampler takes (guidance_scale, ...) are never ignored.
  shared = set.intersection(*map(set, options.values()))
  for option in given:
    takers = [other for other, taken in options.items() if option in taken]
    if takers and option not in options[name]:
      own = ', '.join(o for o in options[name] if o not in shared and o in config.sampler)
      raise UserError(f'config.sampler.{option} does not apply to the {name!r} sampler (its '
                      f'options: {own or "none"}); pick one that takes it, e.g. '
                      f'--config.sampler.name={takers[0]}.')


def _unread_field(field: str, config, mode, argv) -> str:
  """Why `field` ('data.name') does nothing in this mode on this model, or ''."""
  section = field.split('.')[0]
  if mode not in _INFERENCE_MODES:
    return ''
  if mode != 'restore' and section == 'restore':
    return 'only --mode=restore reads config.restore'
  # A config file of a recipe is resolved against its corpus (class names, ...).
  recipe = _given(argv, '--config')
  if field in _CORPUS_FIELDS and not recipe and not (
      mode == 'sample' and config.task == 'autoencoder'):
    return ('it is about the training corpus, which only training and --mode=eval read '
            '(this mode reads its inputs)')
  if field in _TRAINING_DATA_FIELDS:
    return 'only training reads it'
  if field in _EVAL_FIELDS:
    return "only --mode=eval (and training's evaluation) reads the held-out sets"
  if section == 'sampler' and field.split('.')[1] in _SAMPLE_ONLY_SAMPLER and mode != 'sample':
    own = {'vocode': 'config.vocoder.batch_chunks', 'enhance': 'config.enhance.batch_windows',
           'restore': 'config.restore.batch_windows'}.get(mode)
    return ('only --mode=sample reads it' + (f' (this mode batches by {own})' if own else ''))
  if field == 'data.segment_length' and config.task in _INPUT_LENGTH_TASKS and mode != 'restore':
    return ('it is the training crop; the length of an output is its input\'s'
            + (' (training crops by config.tts.segment_frames)' if config.task == 'tts' else ''))
  if field == 'latent.overlap_seconds' and config.task == 'latent' and (
      not config.latent.seconds
      or config.latent.seconds * config.audio.sample_rate <= config.data.segment_length):
    return ('config.latent.seconds fits one window, so no windows overlap; it is for '
            'clips longer than the trained window')
  if field == 'sampler.num_samples' and _given(argv, '--num_samples'):
    return '--num_samples is given, which it would set'
  if field == 'enhance.predictor' and config.enhance.method != 'storm':
    return ("only config.enhance.method='storm' reads it (this enhancer is "
            f'{config.enhance.method!r})')
  if field in ('generate.class_names', 'generate.num_classes') and (
      config.task == 'generate' and not config.generate.class_conditional):
    return 'this model is unconditional (config.generate.class_conditional=False)'
  if field in ('vocoder.compression_exponent', 'vocoder.compression_scale') and (
      config.task == 'vocoder'):
    return "only the frame vocoder (config.task='frame_vocoder') reads it"
  if field == 'vocoder.prior_floor' and not (
      config.task == 'vocoder' and config.vocoder.prior in ('energy', 'griffin_lim')):
    return "only a DiffWave vocoder with config.vocoder.prior='energy' or 'griffin_lim' reads it"
  return ''


def _given(argv, flag: str) -> bool:
  """Whether argv holds `flag` ('--num_samples'), as --flag=v or --flag."""
  return any(a.split('=')[0] == flag for a in argv)


def flag_value(argv, flag: str):
  """The last value argv gives `flag` ('--workdir'), spelled --flag=v or
  --flag v; None if it is not there."""
  value = None
  for i, arg in enumerate(argv):
    if arg.startswith(flag + '='):
      value = arg.split('=', 1)[1]
    elif arg == flag and i + 1 < len(argv):
      value = argv[i + 1]
  return value


def check_field_flags(argv, config, mode):
  """A UserError for a --config flag of a field this mode on this model never
  reads (the training corpus when vocoding, config.restore when sampling,
  the held-out test sets outside --mode=eval, ...), naming why."""
  workdir = flag_value(argv, '--workdir') or ''
  if mode == 'info' and os.path.exists(os.path.join(workdir, api.PARAMS_FILE)):
    given = next((a.split('=')[0] for a in argv if a.startswith('--config.')), None)
    if given:
      raise UserError(f"{given} has no effect on --mode=info: it prints the export's model "
                      'card as saved; drop it.')
  if config is None:
    return
  for arg in argv:
    name = arg.split('=')[0]
    if name.startswith('--config.'):
      why = _unread_field(name.removeprefix('--config.'), config, mode, argv)
      if why:
        raise UserError(f'{name} has no effect on --mode={mode}: {why}; drop it.')
