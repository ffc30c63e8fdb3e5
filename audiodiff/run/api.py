"""Trained models from Python: `audiodiff.load(directory)`.

    model = audiodiff.load('pretrained/notes')      # an export or a workdir
    audio, request = model.sample(4, seed=0)        # float32 [4, L] numpy, names
    model.sample_rate                               # of every array in / out
    model.vocode(mel=mel)                           # task methods, e.g. vocoder

`directory` is an exported model (config.json + params.msgpack, from
`--mode=export`) or a training work directory (config.json + checkpoints/,
the EMA parameters of the latest or a chosen checkpoint). main.py's modes call
these same methods.
"""

import copy
import dataclasses
import fnmatch
import functools
import inspect
import json
import operator
import os
from typing import Optional

import flax.serialization
import jax
import ml_collections
import numpy as np
from absl import logging

from audiodiff.run import checkpoint, console, experiment, model_card, outputs, sampling
from audiodiff.errors import UserError
from audiodiff.tasks import base as tasks_base

PARAMS_FILE = 'params.msgpack'
PRECISIONS = ('float32', 'float16')   # how an export stores its parameters
EXPORT_INFO_FILE = 'export.json'


class ArgumentsError(UserError, TypeError):
  """Arguments a model's method does not take (a TypeError too, as Python's)."""


class MissingMethodError(UserError, AttributeError):
  """A public method this model's task lacks (hasattr() still says False)."""


class Trained:
  """A network with its config, task and sampler, ready to run.

  Attributes: config, task, params (EMA), step (training steps behind them).
  Task methods listed in `task.api_methods` are available as methods.
  """

  def __init__(self, exp: experiment.Experiment, params, step: Optional[int] = None):
    self.exp = exp
    self.params = params
    self.step = step
    self._generate = sampling.make_generate_fn(exp)
    self._steered = {}  # hooks_of -> its generate
    self._settings = experiment.flat_config(exp.config)

  @property
  def config(self):
    return self.exp.config

  @property
  def task(self):
    return self.exp.task

  @property
  def frozen(self):
    return self.exp.frozen

  @property
  def sample_rate(self) -> int:
    return int(self.config.audio.sample_rate)

  def check_unchanged(self) -> None:
    """A UserError if `config` was edited after loading: the sampler and the
    task were built from it then, so an edit would be silently ignored."""
    now = experiment.flat_config(self.config)
    if now != self._settings:
      keys = sorted(k for k in set(now) | set(self._settings)
                    if now.get(k) != self._settings.get(k))
      raise UserError(f'model.config was changed after loading ({", ".join(keys[:4])}); a '
                      'loaded model keeps the settings it was built with. Load it with the '
                      'changed config instead: audiodiff.load(directory, config).')

  def generate(self, request, rng, first: int = 0, *, measurement=None, hooks_of=None):
    """A tasks.SampleRequest -> the network's samples [N, ...] (not decoded).

    Output i is drawn with the key fold_in(rng, first + i), so a request cut
    into pieces (first = each piece's offset) gives what it gives whole.
    hooks_of(measurement [N, ...]) -> samplers.Hooks steers the sampler
    (e.g. a continuation); pass the same function each time, it is compiled
    once."""
    self.check_unchanged()
    rng, first = checked_request(request, rng, first), operator.index(first)
    if hooks_of is not None and not callable(hooks_of):
      raise UserError(f'hooks_of={hooks_of!r} must be a function measurement -> '
                      'samplers.Hooks (or None).')
    generate = self._generate
    if hooks_of is not None:
      if hooks_of not in self._steered:
        self._steered[hooks_of] = sampling.make_generate_fn(self.exp, hooks_of)
      generate = self._steered[hooks_of]
    return generate(self.params, rng, first, request.cond, request.uncond, request.prior,
                    measurement, shape=tuple(request.shape))

  def run(self, request, rng, first: int = 0) -> np.ndarray:
    """A tasks.SampleRequest -> decoded audio float32 [N, L] (numpy); first
    as in `generate` (the task's `run_request`)."""
    rng, first = checked_request(request, rng, first), operator.index(first)
    return np.asarray(jax.device_get(self.task.run_request(self, request, rng, first)),
                      np.float32)

  def run_in_batches(self, request, rng):
    """Yields (names, decoded audio float32 [n, L]) for a request in pieces
    of config.sampler.batch_size outputs, so memory holds one piece at a time
    however many outputs it asks for."""
    rng = checked_request(request, rng)
    size = int(self.config.sampler.batch_size)
    count = int(request.shape[0])
    for first in range(0, count, size):
      part = slice(first, min(first + size, count))
      take = lambda x, part=part: x[part] if np.ndim(x) and np.shape(x)[0] == count else x
      piece = dataclasses.replace(
          request, shape=(part.stop - part.start,) + tuple(request.shape[1:]),
          names=list(request.names[part]),
          cond=jax.tree.map(take, request.cond), uncond=jax.tree.map(take, request.uncond),
          prior=jax.tree.map(take, request.prior), reference=None)
      yield piece.names, self.run(piece, rng, first)

  def sample(self, num_samples: Optional[int] = None, *, seed: Optional[int] = None,
             reference_batch=None, **task_options):
    """num_samples (default config.sampler.num_samples) outputs of the task's
    default request -> (audio float32 [N, L], request). task_options go to
    the task's sample_request (e.g. labels=[0, 2] for class-conditional);
    seed: default config.seed, as on the command line."""
    seed = self.config.seed if seed is None else seed
    check_seed(seed)
    request = self.sample_request(num_samples, reference_batch=reference_batch,
                                  **task_options)
    pieces = [audio for _, audio in self.run_in_batches(request, jax.random.PRNGKey(seed))]
    return np.concatenate(pieces), request

  def sample_options(self) -> list:
    """The options this model's sample_request takes (e.g. ['labels'])."""
    return [name for name, p in inspect.signature(self.task.sample_request).parameters.items()
            if p.kind == p.KEYWORD_ONLY]

  def sample_request(self, num_samples: Optional[int] = None, *, reference_batch=None,
                     **task_options):
    """The task's default request for num_samples outputs (checked), for
    `run_in_batches`."""
    self.check_unchanged()
    if num_samples is None:
      num_samples = self.config.sampler.num_samples
    if _is_whole(num_samples):
      num_samples = operator.index(num_samples)   # numpy and 0-d jax integers too
    if not _is_whole(num_samples) or not 1 <= num_samples <= experiment.MAX_SAMPLES:
      more = ('; more: run again with another seed' if _is_whole(num_samples)
              and num_samples > experiment.MAX_SAMPLES else '')
      raise UserError(f'num_samples={num_samples!r}: give a whole number of outputs in [1, '
                      f'{experiment.MAX_SAMPLES:,}] (num_samples=4 in Python, --num_samples=4 '
                      f'on the command line{more}).')
    accepted = self.sample_options()
    unknown = sorted(set(task_options) - set(accepted))
    if unknown:
      raise UserError(f'sample() got {", ".join(unknown)}, which this {self.task.name!r} model '
                      f'does not take (it takes: {", ".join(accepted) or "no options"}); sampler '
                      'settings such as num_steps go in the config: load(directory, config) '
                      'with config.sampler.num_steps changed.')
    return self.task.sample_request(num_samples, reference_batch,
                                    self.exp.network(self.params), **task_options)

  def __getattr__(self, name):
    task = self.__dict__.get('exp').task if 'exp' in self.__dict__ else None
    if task is not None and name in task.api_methods:
      method = getattr(task, name)
      signature = inspect.signature(method)   # (trained, inputs..., options...)

      @functools.wraps(method)
      def call(*args, **kwargs):
        self.check_unchanged()
        self._check_keywords(name, signature, kwargs)
        self._check_positions(name, signature, args, kwargs)
        if 'seed' in signature.parameters and kwargs.get('seed') is None:
          kwargs['seed'] = self.config.seed   # the default, as on the command line
        if 'seed' in kwargs:
          check_seed(kwargs['seed'])
        return _checked_audio(method(self, *args, **kwargs), f'{name}()', task.output_fix)
      return call
    if name.startswith('_') or task is None:
      raise AttributeError(name)
    own = [m for m, value in vars(type(self)).items()
           if not m.startswith('_') and inspect.isfunction(value)] + list(task.api_methods)
    raise MissingMethodError(f'This model is a {task.name!r} model: it has no {name}() (its '
                             f'methods: {", ".join(sorted(own))}); load a model of the task '
                             'that has it (e.g. pretrained/tts_cpu: synthesize, '
                             'pretrained/vocoder_cpu: vocode, pretrained/enhance_cpu: enhance).')

  def _check_keywords(self, name, signature, kwargs) -> None:
    """A UserError naming the keyword arguments the method of `signature` does not take."""
    parameters = list(signature.parameters.values())[1:]   # after trained
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
      return
    unknown = sorted(set(kwargs) - {p.name for p in parameters})
    if not unknown:
      return
    hint = ''
    if set(unknown) & {'sample_rate', 'sampel_rate', 'sr', 'rate', 'samplerate', 'fs'}:
      hint = (f' Audio goes in and comes out at model.sample_rate = {self.sample_rate} Hz: '
              'resample it first (audiodiff.audio.audio_io.resample(audio, rate, '
              'model.sample_rate)); the command line does that itself.')
    raise UserError(f'{name}() got {", ".join(unknown)}, which it does not take (it takes: '
                    f'{", ".join(p.name for p in parameters) or "no arguments"}).{hint}')


  def _check_positions(self, name, signature, args, kwargs) -> None:
    """A UserError for arguments that do not bind to the method of `signature`
    (seed given by position, an input missing), with the signature as the
    user calls it."""
    try:
      signature.bind(self, *args, **kwargs)
    except TypeError as error:
      shown = signature.replace(parameters=list(signature.parameters.values())[1:])
      hint = ('; give the options after the input by keyword (e.g. seed=1)'
              if 'positional' in str(error) else '')
      raise ArgumentsError(f'{name}{shown}: {error}{hint}.') from None


def _checked_audio(result, what: str, fix: str):
  """A task method's result, returned as it is once the audio in it (an
  array, or the 'audio' of each dict in a list) is checked as the command
  line checks what it writes: a UserError for NaN/inf or mostly clipped
  audio."""
  parts = result if isinstance(result, list) else [result]
  for part in parts:
    audio = part.get('audio') if isinstance(part, dict) else part
    if isinstance(audio, np.ndarray):
      outputs.check_sound(audio, what, fix or outputs.MODEL_FIX, 'nothing was returned')
  return result


def check_task(directory: str, tasks, what: str, hint: str = ''):
  """directory's config, read; a UserError unless it holds a model (run or
  export) of one of `tasks`. what: 'an enhancer'; hint: said after."""
  path = os.path.expanduser(os.fspath(directory))
  if not os.path.isabs(path) and not os.path.exists(path):
    raise UserError(f'{directory} does not exist in the current folder ({os.getcwd()}); run '
                    'from the repository (where pretrained/ is) or give its full path.')
  config = experiment.read_config(path)
  if config.task not in tasks:
    raise UserError(f'{directory} is a {config.task!r} model, not {what} (a model of task '
                    f'{" or ".join(map(repr, tasks))}){hint}.')
  return config


def checked_request(request, rng, first: int = 0):
  """rng as a key for a request: a UserError unless `request` came from
  sample_request(), `rng` is a jax.random.PRNGKey (or a seed, made one here)
  and `first` a whole number >= 0."""
  if not isinstance(request, tasks_base.SampleRequest):
    raise UserError(f'request={type(request).__name__}: pass what sample_request(...) returns '
                    '(e.g. model.sample_request(4)).')
  if not _is_whole(first) or operator.index(first) < 0:
    raise UserError(f'first={first!r}: give a whole number >= 0 (the offset of these outputs).')
  if _is_whole(rng):   # a seed (numpy and 0-d jax integers too)
    check_seed(rng)
    return jax.random.PRNGKey(operator.index(rng))
  shape = getattr(rng, 'shape', None)
  typed = shape is not None and jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
  if shape is None or not ((typed and shape == ()) or (
      tuple(shape) == (2,) and np.dtype(rng.dtype) == np.uint32)):
    raise UserError(f'rng: give one jax.random.PRNGKey(seed) (or a seed, a whole number in '
                    f'[0, 2**32)); got {type(rng).__name__} of shape {shape}. Output i draws '
                    'from fold_in(rng, i), so one key serves the whole request.')
  return jax.random.key_data(rng) if typed else rng


def check_seed(seed) -> None:
  """A UserError unless `seed` is a whole number in [0, 2**32)."""
  if not _is_whole(seed) or not 0 <= operator.index(seed) < 2**32:
    raise UserError(f'seed={seed!r}: give a whole number in [0, 2**32).')


def _read_params(directory, exp, changed=()):
  """params.msgpack, checked: readable, the model's parameter shapes, finite.
  changed: the overridden settings that may explain a shape mismatch."""
  path = os.path.join(directory, PARAMS_FILE)
  try:
    with open(path, 'rb') as f:
      params = flax.serialization.msgpack_restore(f.read())
  except (OSError, ValueError, TypeError) as error:
    raise UserError(f'{path} cannot be read ({type(error).__name__}: '
                    f'{str(error).splitlines()[0] if str(error) else "truncated"}): the file is '
                    'damaged or incomplete. Export the model again (--mode=export).') from None
  expected = jax.eval_shape(exp.init_params, jax.random.PRNGKey(0))
  shapes = lambda tree: jax.tree.map(lambda x: tuple(np.shape(x)), tree)
  try:
    same = shapes(params) == shapes(expected)
  except (TypeError, ValueError):
    same = False
  if not same and changed:
    raise UserError(f'{path} does not fit the model these settings make: '
                    f'{", ".join(changed[:3])}; the parameter shapes differ. Drop those '
                    'overrides.')
  if not same:
    raise UserError(f'{path} does not fit this config\'s model (its parameter shapes differ: '
                    'a --config.* change to what the network reads or its size); drop that '
                    'change and load it with its own config.json.')
  params = jax.tree.map(lambda x: np.asarray(x, np.float32), params)  # float16 exports too
  if not _all_finite(params):
    raise UserError(f'{path} holds NaN or inf parameters: the run it came from diverged. '
                    'Export a healthy checkpoint (--mode=export --checkpoint_step=N).')
  return params


def _is_whole(value) -> bool:
  """Whether value is an integer scalar (Python, numpy or a 0-d jax array), not a bool."""
  if isinstance(value, (bool, np.bool_)) or np.ndim(value) != 0:
    return False
  dtype = getattr(value, 'dtype', None)   # typed jax keys are not read as numbers
  return jax.dtypes.issubdtype(np.asarray(value).dtype if dtype is None else dtype, np.integer)


def _all_finite(params) -> bool:
  """Whether every parameter is finite (a diverged run's are not)."""
  return all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(params))


def _export_info(directory) -> dict:
  """directory's export.json ({} when there is none: a training run)."""
  path = os.path.join(directory, EXPORT_INFO_FILE)
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError):
    info = None
  if not isinstance(info, dict):
    raise UserError(f'{path} is not valid JSON: export the model again '
                    '(--mode=export).')
  return info


def _export_step(directory):
  """The training step export.json records (None when it is missing)."""
  return _export_info(directory).get('step')


def stored_precision(directory) -> str:
  """How directory's parameters are stored: an export's own precision,
  'float32' for a training run (checkpoints are float32)."""
  precision = _export_info(directory).get('precision', 'float32')
  return precision if precision in PRECISIONS else 'float32'


def _restore_checkpoint(exp, checkpoint_step):
  state = exp.init_state()
  restored, step = exp.checkpointer.restore_latest(state, step=checkpoint_step)
  if restored is None:
    raise UserError(
        f'No checkpoint in {exp.workdir}/checkpoints and no exported {PARAMS_FILE}. Train '
        'first (--mode=train with this folder as --workdir), or load a trained run\'s '
        'work directory or an exported model.')
  logging.info('Restored checkpoint at step %d.', step)
  return restored.ema_params, step


def build(config, workdir: str, *, resolve: bool = True) -> experiment.Experiment:
  """experiment.build, plus the other trained runs the task declares,
  loaded and handed to the task (now, never inside a jit trace)."""
  exp = experiment.build(config, workdir, resolve=resolve)
  exp.runs = load_frozen_runs(exp.task, workdir)
  exp.frozen = exp.task.attach_frozen(exp.runs, workdir)
  return exp


def load_frozen_runs(task, workdir: Optional[str]) -> dict:
  """name -> Trained for each of task.frozen_runs(), from the directory
  config.<task>.<option> names: a path inside workdir (if given) first, else
  as given."""
  runs = {}
  for name, run in task.frozen_runs().items():
    value = task.settings[run.option]
    path = os.path.expanduser(value)
    inside = os.path.join(workdir or '', path)
    if workdir and not os.path.isabs(path) and os.path.exists(os.path.join(inside, 'config.json')):
      path = inside   # an export's own copy: stays relative, the export moves whole
    elif os.path.exists(os.path.join(path, 'config.json')):
      # Read from the current folder: kept as a full path, so the run (and what
      # its outputs record) does not change with the folder it is started from.
      task.settings[run.option] = os.path.abspath(path)
      if not os.path.isabs(path):
        console.say(f'config.{task.name}.{run.option}={value!r} read from the current folder: '
                    f'{os.path.abspath(path)}.')
    elif not os.path.isabs(path):
      raise UserError(f'config.{task.name}.{run.option}={value!r}: no trained model there, '
                      f'read from the current folder ({os.getcwd()})'
                      + (f' or from {workdir}' if workdir else '') + '; run '
                      'from the folder the run was trained in, or give the full path with '
                      f'--config.{task.name}.{run.option}=/path/to/it. {run.how_to_train}')
    else:
      raise UserError(f'config.{task.name}.{run.option}={value!r}: no trained model at '
                      f'{path} (expected config.json there). {run.how_to_train}')
    if workdir and os.path.realpath(path) == os.path.realpath(workdir):
      raise UserError(f'config.{task.name}.{run.option}={value!r} names this run itself; '
                      f'name the other trained run it needs. {run.how_to_train}')
    runs[name] = load(path)
  return runs


# What training fixes: a model cannot run with other values of these.
TRAINED_SETTINGS = ('task', 'audio.*', 'diffusion.schedule', 'diffusion.num_steps',
                    'diffusion.beta_start', 'diffusion.beta_end', 'diffusion.cosine_offset',
                    'diffusion.sigmoid_start', 'diffusion.sigmoid_end', 'diffusion.sigmoid_tau',
                    'diffusion.betas', 'diffusion.prediction', 'vocoder.start', 'vocoder.prior',
                    'vocoder.prior_scale', 'vocoder.prior_floor',
                    'enhance.wiener_input', 'enhance.n_fft', 'enhance.hop_length',
                    'enhance.compression_exponent', 'enhance.compression_scale',
                    'enhance.input_rms', 'enhance.prior_scale', 'latent.attributes',
                    'tts.symbols', 'tts.intersperse_blank', 'tts.mel_scale')


def is_trained_setting(key: str) -> bool:
  """Whether the flat config field `key` ('audio.sample_rate') is one of TRAINED_SETTINGS."""
  return any(fnmatch.fnmatchcase(key, pattern) for pattern in TRAINED_SETTINGS)


# Sections of the config only some tasks read (config.task values): changed
# on a model of another task they would do nothing.
TASK_SECTIONS = {'vocoder': ('vocoder', 'frame_vocoder'), 'tts': ('tts',),
                 'enhance': ('enhance',), 'generate': ('generate',),
                 'latent': ('latent',), 'autoencoder': ('autoencoder',)}


def unread_section(task: str, section: str) -> str:
  """'' when a model of `task` reads config.<section>; else why it does not
  ("a 'tts' model (...), and only 'vocoder' or ... models read config.vocoder")."""
  readers = TASK_SECTIONS.get(section, ())
  if not readers or task in readers:
    return ''
  own = (' (its waveform comes from the vocoder config.tts.vocoder_workdir names, with that '
         "model's own settings)") if task == 'tts' else ''
  return (f'a {task!r} model{own}, and only {" or ".join(map(repr, readers))} models '
          f'read config.{section}')


def check_sections_read(saved, config, directory: str) -> None:
  """A UserError when `config` changes a TASK_SECTIONS section that the
  model in `directory` (of task saved.task) never reads."""
  for section in TASK_SECTIONS:
    why = unread_section(saved.task, section)
    if (why and section in config and section in saved
        and experiment.flat_config(config[section]) != experiment.flat_config(saved[section])):
      raise UserError(f'config.{section} was changed, but the model in {directory} is {why}: '
                      'the change would do nothing; drop it.')


def check_trained_settings(saved, config, directory: str) -> None:
  """A UserError naming the first TRAINED_SETTINGS field where `config`
  differs from the model's saved config (an enhancer's predictive network
  also cannot run as a diffusion one, nor the reverse)."""
  if saved.task != config.task:
    raise UserError(f'This config is for task {config.task!r}, but the model in {directory} '
                    f'is a {saved.task!r} model; drop --config (the model\'s own config.json '
                    'is used) or give its own recipe.')
  before, after = experiment.flat_config(saved), experiment.flat_config(config)
  for key in sorted(before):
    if is_trained_setting(key) and before[key] != after.get(key):
      hint = ' (inputs at any rate are resampled to it)' if key == 'audio.sample_rate' else ''
      raise UserError(f'config.{key}={after.get(key)!r}, but the model in {directory} was '
                      f'trained with {before[key]!r}; training fixes it: drop --config.{key}'
                      f'{hint}, or, where the --config recipe sets it, drop --config (the model\'s '
                      'own config.json is used).')
  for section in ('generate', 'latent'):  # labels the model learned
    for field, unset in (('class_names', ()), ('num_classes', 0)):
      before, after = saved[section][field], config[section][field]
      before, after = (tuple(before), tuple(after)) if field == 'class_names' else (
          before, after)
      if after != unset and before != unset and before != after:
        raise UserError(f'config.{section}.{field}={after!r}, but the model in {directory} '
                        f'learned {before!r}; drop --config.{section}.{field}.')
  methods = (saved.enhance.method, config.enhance.method)
  if methods[0] != methods[1] and 'predictive' in methods:
    raise UserError(f'config.enhance.method={methods[1]!r}, but the model in {directory} was '
                    f'trained as {methods[0]!r}, another kind of network; drop '
                    '--config.enhance.method.')


def load(directory: str, config=None, *, checkpoint_step: Optional[int] = None) -> Trained:
  """A trained model from an export or a work directory.

  config: None reads directory/config.json (as trained); a ConfigDict
  overrides it (e.g. other sampler settings; the model must match).
  """
  if not isinstance(directory, (str, os.PathLike)):
    raise UserError(f'audiodiff.load takes a model directory (an export or a work directory, '
                    f'e.g. "pretrained/enhance_cpu"); got {type(directory).__name__} '
                    f'{directory!r}.')
  if checkpoint_step is not None and (isinstance(checkpoint_step, bool) or not isinstance(
      checkpoint_step, (int, np.integer))):
    raise UserError(f'checkpoint_step={checkpoint_step!r} must be a whole number (a saved '
                    'training step).')
  if config is not None and not isinstance(config, ml_collections.ConfigDict):
    raise UserError(f'config (a {type(config).__name__}) must be a ConfigDict: read the '
                    'model\'s with '
                    'audiodiff.run.experiment.read_config(directory), change it, then '
                    'audiodiff.load(directory, config).')
  directory = os.path.expanduser(os.fspath(directory))   # '~/m', as the command line reads it
  if not directory.strip():
    raise UserError('audiodiff.load needs a model directory (an export or a work directory, '
                    'e.g. "pretrained/enhance_cpu"); got an empty name.')
  if os.path.isfile(directory):
    # A file of the model ('x/config.json', 'x/params.msgpack') means its folder.
    folder = os.path.dirname(directory) or '.'
    if os.path.basename(directory) not in ('config.json', PARAMS_FILE, EXPORT_INFO_FILE):
      raise UserError(f'{directory} is a file; give the folder of a trained run or an '
                      'exported model (the one holding config.json).')
    directory = folder
  resolve, changed = config is not None, []
  if config is not None:  # the model's own copy: later edits to the caller's stay theirs
    config = copy.deepcopy(config)
  saved_step = checkpoint_step   # the checkpoint's own run's config, not the latest run's
  if saved_step is None and not os.path.exists(os.path.join(directory, PARAMS_FILE)):
    saved_step = (checkpoint.saved_steps(os.path.join(directory, 'checkpoints')) or [None])[-1]
  if config is None:
    config = experiment.read_config(directory, saved_step)
  elif os.path.exists(os.path.join(directory, 'config.json')):
    saved = experiment.read_config(directory, saved_step)
    check_trained_settings(saved, config, directory)
    check_sections_read(saved, config, directory)
    before, after = experiment.flat_config(saved), experiment.flat_config(config)
    changed = [f'config.{k}={after[k]!r} (trained with {before.get(k)!r})'
               for k in sorted(after) if k.startswith(('model.', 'generate.', 'latent.'))
               and after[k] != before.get(k)]
  exp = build(config, directory, resolve=resolve)
  if os.path.exists(os.path.join(directory, PARAMS_FILE)):
    if checkpoint_step is not None:
      raise UserError(f'{directory} is an exported model (one set of parameters); '
                       'drop --checkpoint_step.')
    step = _export_step(directory)
    return Trained(exp, _read_params(directory, exp, changed), step)
  params, step = _restore_checkpoint(exp, checkpoint_step)
  if not _all_finite(params):
    others = [s for s in exp.checkpointer.all_steps() if s != step]
    raise UserError(
        f'The parameters of checkpoint step {step} in {directory}/checkpoints are not finite '
        '(NaN/inf: the run diverged before it was saved); choose another with '
        f'--checkpoint_step (saved steps: {others}) or train again with a lower '
        'config.train.learning_rate.')
  return Trained(exp, params, step)


def export(trained: Trained, directory: str, precision: str = 'float32') -> str:
  """Writes the inference-only copy: config.json, params.msgpack (EMA
  parameters stored as `precision`, float32 or float16; loading reads them
  as float32), export.json (step, size) and a copy of each frozen run the
  task uses (e.g. a predictor) in directory/<name>, which the exported
  config points at. Returns the params path."""
  if precision not in PRECISIONS:
    raise UserError(f'precision={precision!r}: give one of {", ".join(PRECISIONS)}.')
  os.makedirs(directory, exist_ok=True)
  config = copy.deepcopy(trained.config)
  task = trained.task
  for name, run in trained.exp.runs.items():
    export(run, os.path.join(directory, name), precision)
    config[task.name][task.frozen_runs()[name].option] = name
  task.write_export_files(directory)
  experiment.write_config(config, directory)
  params = jax.tree.map(lambda x: np.asarray(jax.device_get(x), np.float32), trained.params)
  largest = max(float(np.max(np.abs(x), initial=0)) for x in jax.tree.leaves(params))
  if precision == 'float16' and largest > np.finfo(np.float16).max:
    raise UserError(f'A parameter of {largest:.3g} is beyond float16\'s range (65504); export '
                    'with --precision=float32.')
  params = jax.tree.map(lambda x: x.astype(precision), params)
  path = os.path.join(directory, PARAMS_FILE)
  with open(path, 'wb') as f:
    f.write(flax.serialization.msgpack_serialize(params))
  num_params = int(sum(x.size for x in jax.tree.leaves(params)))
  info = {'step': trained.step, 'num_params': num_params, 'bytes': os.path.getsize(path),
          'precision': precision}
  info.update(model_card.card(trained, trained.exp.workdir))
  with open(os.path.join(directory, EXPORT_INFO_FILE), 'w') as f:
    json.dump(info, f, indent=2, default=str)
  return path
