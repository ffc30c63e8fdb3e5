"""What every mode builds from a config: task, model, schedule, sampler,
optimizer, mesh, the initial train state and (for training) the checkpointer."""

import copy
import dataclasses
import datetime
import json
import math
import os
from typing import Any, Optional

import jax
import ml_collections
import optax
from absl import logging

from audiodiff import defaults, models, tasks
from audiodiff.run import checkpoint, parallel
from audiodiff.diffusion import samplers, schedules
from audiodiff.restoration import baselines
from audiodiff.run import train_state
from audiodiff.errors import UserError


@dataclasses.dataclass
class Experiment:
  config: ml_collections.ConfigDict
  workdir: str
  task: tasks.Task
  model: Any
  schedule: schedules.Schedule
  sampler: samplers.Sampler
  optimizer: optax.GradientTransformation
  mesh: jax.sharding.Mesh
  # The other trained runs the task declared (name -> api.Trained) and the
  # frozen parameters it made of them; set by api.build.
  runs: dict = dataclasses.field(default_factory=dict)
  frozen: Any = None
  _checkpointer: Optional[checkpoint.Checkpointer] = None

  @property
  def checkpointer(self) -> checkpoint.Checkpointer:
    """workdir/checkpoints, opened (and created) on first use."""
    if self._checkpointer is None:
      self._checkpointer = checkpoint.Checkpointer(
          os.path.abspath(os.path.join(self.workdir, 'checkpoints')),
          keep=self.config.train.keep_checkpoints)
    return self._checkpointer

  def init_params(self, rng):
    """Fresh network parameters for the task's example batch."""
    return self.task.init_variables(self.model, rng, self.frozen)

  def init_state(self) -> train_state.TrainState:
    """A fresh state, created directly with replicated shardings."""
    def init(rng):
      params_rng, state_rng = jax.random.split(rng)
      return train_state.create_train_state(self.init_params(params_rng), self.optimizer,
                                            state_rng)

    return jax.jit(init, out_shardings=parallel.replicated(self.mesh))(
        jax.random.PRNGKey(self.config.seed))

  def apply_fn(self, params, x, t, cond, *, rng=None, train: bool = False):
    """The network: x_t [B, ...], t [B], cond -> prediction. With train,
    dropout draws from rng."""
    rngs = {'dropout': rng} if train and rng is not None else None
    return self.model.apply({'params': params}, x, t, cond, train=train, rngs=rngs)

  def network(self, params, *, rng=None, train: bool = False):
    """network(method, *args) -> the model's `method` with these params (a
    task's view of model parts beyond the denoiser, e.g. a text encoder)."""
    rngs = {'dropout': rng} if train and rng is not None else None
    return lambda method, *args: self.model.apply({'params': params}, *args, method=method,
                                                  train=train, rngs=rngs)

  def condition(self, params, cond):
    """cond with per-utterance work done once (a model's `condition`), or as is."""
    if cond is None or not hasattr(self.model, 'condition'):
      return cond
    return self.model.apply({'params': params}, cond, method='condition')


# Beyond these a run would not end (nor fit in memory); larger values are
# refused as typos.
MAX_STEPS = 1_000_000
MAX_SAMPLES = 1_000_000
MAX_EVAL_BATCHES = 10_000

# (field, test, what it must be): checked before anything is created.
_CONFIG_RULES = (
    ('audio.sample_rate', lambda v: 1000 <= v <= 384000, 'an audio rate in [1000, 384000] Hz'),
    ('audio.hop_length', lambda v: v >= 1, '>= 1'),
    ('audio.win_length', lambda v: v >= 1, '>= 1'),
    ('audio.n_mels', lambda v: v >= 1, '>= 1'),
    ('data.segment_length', lambda v: v >= 1, '>= 1 sample'),
    ('data.num_examples', lambda v: v >= 1, '>= 1'),
    ('data.max_text_length', lambda v: v >= 1, '>= 1'),
    ('diffusion.num_steps', lambda v: 1 <= v <= MAX_STEPS, f'in [1, {MAX_STEPS:,}]'),
    ('train.num_steps', lambda v: v >= 1, '>= 1'),
    ('train.batch_size', lambda v: 1 <= v <= MAX_SAMPLES,
     f'in [1, {MAX_SAMPLES:,}] (more is a typo; memory bounds it far sooner)'),
    ('train.learning_rate', lambda v: 0 < v < float('inf'), 'a positive number'),
    ('train.warmup_steps', lambda v: v >= 0, '>= 0'),
    ('train.grad_clip_norm', lambda v: v > 0, '> 0'),
    ('train.ema_decay', lambda v: 0 <= v < 1, 'in [0, 1)'),
    ('train.divergence_factor', lambda v: v > 1, '> 1'),
    ('train.log_every', lambda v: v >= 1, '>= 1'),
    ('train.eval_every', lambda v: v >= 1, '>= 1 (above train.num_steps: no evaluation)'),
    ('train.eval_batches', lambda v: 1 <= v <= MAX_EVAL_BATCHES,
     f'in [1, {MAX_EVAL_BATCHES:,}] (batches of the test split; it repeats when used up)'),
    ('train.sample_every', lambda v: v >= 1, '>= 1 (above train.num_steps: no samples)'),
    ('train.checkpoint_every', lambda v: v >= 1, '>= 1'),
    ('train.keep_checkpoints', lambda v: v >= 1, '>= 1'),
    ('sampler.num_samples', lambda v: 1 <= v <= MAX_SAMPLES,
     f'in [1, {MAX_SAMPLES:,}] (more: run again with another --config.seed)'),
    ('sampler.batch_size', lambda v: v >= 1, '>= 1'),
    ('sampler.temperature', lambda v: 0 < v <= 10, 'in (0, 10] (1: the trained noise)'),
    ('sampler.num_steps', lambda v: 1 <= v <= MAX_STEPS,
     f'in [1, {MAX_STEPS:,}] (network calls)'),
    ('sampler.guidance_scale', lambda v: math.isfinite(v) and v >= 0,
     'a finite number >= 0 (1: no guidance; 0: unconditional)'),
    ('sampler.eta', lambda v: 0 <= v <= 1, 'in [0, 1] (0 deterministic, 1 ancestral-like)'),
    ('tts.length_scale', lambda v: 0.1 <= v <= 10, 'in [0.1, 10] (> 1 speaks slower)'),
    ('tts.max_tokens', lambda v: v >= 16, '>= 16 tokens'),
    ('enhance.batch_windows', lambda v: v >= 1, '>= 1'),
    ('enhance.test_utterances', lambda v: v >= 1, '>= 1 (per held-out synthetic voice)'),
    ('enhance.recorded_test_utterances', lambda v: v >= 1,
     '>= 1 (per held-out recorded speaker)'),
    ('restore.cutoff_hz', lambda v: 0 <= v < float('inf'), '0 (not given) or a positive frequency'),
    ('restore.taper_ms', lambda v: 0 <= v <= 50,
     'in [0, 50] ms (ramps around each gap; longer ones replace audio that is there)'),
    ('restore.guidance', lambda v: 0 <= v < float('inf'),
     'a finite number >= 0 (0: the method\'s default)'),
    ('restore.data_std', lambda v: 0 <= v < float('inf'),
     'a finite number >= 0 (0: the RMS of the reliable input)'),
    ('restore.noise_std', lambda v: 0 <= v < float('inf'), 'a finite number >= 0 (0: exact)'),
    ('restore.quiet_gate_db', lambda v: 0 <= v < float('inf'),
     'a finite number >= 0 (dB below the loudest frame where the added band fades; 0: off)'),
    ('restore.start_level', lambda v: 0 < v <= 1, 'in (0, 1]'),
    ('restore.refine_min_gap_ms', lambda v: 0 <= v < float('inf'),
     'a finite number of milliseconds >= 0 (0: every gap refined)'),
    ('restore.start_order', lambda v: 0 <= v <= baselines.MAX_ORDER,
     f'a whole number in [0, {baselines.MAX_ORDER}] (0: Janssen\'s own order)'),
    ('restore.low_band_hz', lambda v: 0 <= v < float('inf'),
     'a finite frequency >= 0 (0: one fill in every band)'),
    ('restore.center_gain', lambda v: 0 <= v <= 1, 'in [0, 1] (1: the low band as filled)'),
    ('restore.envelope_hz', lambda v: 0 <= v < float('inf'),
     'a finite frequency >= 0 (0: the baseline\'s fill as it is)'),
    ('model.spectral_autoencoder.decoder_n_fft',
     lambda v: v == 0 or (isinstance(v, int) and v >= 64 and not v & (v - 1)),
     '0 (the encoder\'s n_fft) or a power of two >= 64'),
    ('restore.resample', lambda v: v >= 1, '>= 1'),
    ('restore.jump', lambda v: v >= 1, '>= 1'),
    ('restore.overlap', lambda v: 0 <= v < 0.9, 'in [0, 0.9)'),
    ('restore.batch_windows', lambda v: v >= 1, '>= 1'),
    ('restore.span_seconds', lambda v: 4 <= v < float('inf'), '>= 4 (seconds)'),
    ('enhance.shifts', lambda v: v >= 1, '>= 1 (1: no shifts)'),
)


def validate_config(config) -> None:
  """Raises a UserError naming the first field out of its range, and the fix."""
  if not (isinstance(config.seed, int) and 0 <= config.seed < 2**32):
    raise UserError(f'config.seed={config.seed!r} must be a whole number in [0, 2**32); '
                    'set --config.seed=<value>.')
  for field, is_valid, requirement in _CONFIG_RULES:
    *sections, name = field.split('.')
    parent = config
    for section in sections:
      parent = parent.get(section, {})
    if name not in parent:
      continue
    value = parent[name]
    if not is_valid(value):
      raise UserError(f'config.{field}={value!r} must be {requirement}; set '
                      f'--config.{field}=<value>.')
  betas = tuple(config.diffusion.get('betas', ()))
  if betas and not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                       and 0 < b < 1 for b in betas):
    raise UserError(f'config.diffusion.betas={betas!r} must be numbers in (0, 1), one per '
                    'step (or () for the named schedule).')
  unet = config.model.get('unet1d')
  if unet is not None and not (
      isinstance(unet.downsample, int) and unet.downsample >= 2 and len(unet.channels) >= 1
      and all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in unet.channels)):
    raise UserError(f'config.model.unet1d needs downsample >= 2 (each level shortens the '
                    f'signal by it) and channels of one or more levels, each a whole number '
                    f'>= 1; got downsample='
                    f'{unet.downsample!r}, channels={tuple(unet.channels)!r}.')
  audio = config.audio
  if audio.win_length > audio.n_fft:
    raise UserError(f'config.audio.win_length={audio.win_length} must not exceed '
                    f'config.audio.n_fft={audio.n_fft}.')
  if not 0 <= audio.f_min < audio.f_max:
    raise UserError(f'config.audio needs 0 <= f_min < f_max; got f_min={audio.f_min}, '
                    f'f_max={audio.f_max}.')
  if config.data.normalize not in ('peak', 'loudness', 'none'):
    raise UserError(f"config.data.normalize={config.data.normalize!r} must be 'peak', "
                    "'loudness' or 'none'.")


def build(config, workdir: str, *, resolve: bool = True) -> Experiment:
  """Checks the config and builds every part but the task's frozen runs
  (api.build adds those); writes nothing to disk.

  resolve: fill data-dependent settings (e.g. the class count) from the
  dataset; off when the config comes from a trained run, which has them.
  """
  validate_config(config)
  task = tasks.get_task(config)
  if resolve:
    task.resolve_config()
  schedule = schedules.get_schedule(config.diffusion)
  exp = Experiment(
      config=config, workdir=workdir, task=task,
      model=models.get_model(config, **task.model_inputs()),
      schedule=schedule,
      sampler=samplers.sampler_from_config(config.sampler, schedule,
                                           config.diffusion.prediction),
      optimizer=train_state.make_optimizer(config.train),
      mesh=parallel.make_mesh())
  return exp


def _as_tuples(value):
  """Lists (as JSON reads them) and tuples, nested too, as tuples."""
  return tuple(map(_as_tuples, value)) if isinstance(value, (list, tuple)) else value


def flat_config(config) -> dict:
  """A config (ConfigDict or dict) -> {'section.field': value}, lists as tuples."""
  tree = config.to_dict() if hasattr(config, 'to_dict') else config
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update({f'{key}.{k}': v for k, v in flat_config(value).items()})
    else:
      flat[key] = _as_tuples(value)
  return flat


# configs/<UTC start time>-from-step-<N>.json: the run that started from step N.
_FROM_STEP = '-from-step-'


def write_config(config, workdir: str, *, start_step: Optional[int] = None) -> None:
  """workdir/config.json, the full resolved config of the run; with
  start_step (the step a training run starts or resumes from) also
  workdir/configs/<UTC start time>-from-step-<start_step>.json, one per run
  started there, which `read_config` picks for that run's checkpoints."""
  if jax.process_index() != 0:
    return
  text = json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)
  paths = [os.path.join(workdir, 'config.json')]
  if start_step is not None:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S.%fZ')
    paths.append(os.path.join(workdir, 'configs', f'{stamp}{_FROM_STEP}{start_step}.json'))
  for path in paths:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
      f.write(text)
    os.replace(path + '.tmp', path)  # a crash mid-write leaves the old file


# Fields of configs written before each model read its own config section
# (config.model held every model's fields side by side, prefixed, and
# config.tts the text encoder's): old field -> where its value goes now.
# model.embedding_dim and model.dropout were shared by the denoisers.
_DENOISERS = ('diffwave', 'unet1d', 'mlp')
LEGACY_FIELDS = {
    'model.residual_layers': ('model.diffwave.residual_layers',),
    'model.residual_channels': ('model.diffwave.residual_channels',),
    'model.dilation_cycle': ('model.diffwave.dilation_cycle',),
    'model.diffwave_layers': ('model.diffwave.formulation',),
    'model.unet_channels': ('model.unet1d.channels',),
    'model.unet_blocks_per_level': ('model.unet1d.blocks_per_level',),
    'model.unet_downsample': ('model.unet1d.downsample',),
    'model.mlp_hidden': ('model.mlp.hidden',),
    'model.ae_patch': ('model.autoencoder.patch',),
    'model.ae_channels': ('model.autoencoder.channels',),
    'model.ae_strides': ('model.autoencoder.strides',),
    'model.ae_latent_channels': ('model.autoencoder.latent_channels',),
    'model.ae_max_channels': ('model.autoencoder.max_channels',),
    'model.ae_discriminator': ('model.autoencoder.adversarial',),
    'model.embedding_dim': tuple(f'model.{name}.embedding_dim' for name in _DENOISERS),
    'model.dropout': tuple(f'model.{name}.dropout' for name in _DENOISERS),
    'tts.encoder_channels': ('model.grad_tts.channels',),
    'tts.encoder_layers': ('model.grad_tts.layers',),
    'tts.encoder_heads': ('model.grad_tts.heads',),
    'tts.encoder_hidden': ('model.grad_tts.hidden',),
    'tts.encoder_kernel': ('model.grad_tts.kernel',),
    'tts.attention_window': ('model.grad_tts.window',),
    'tts.encoder_dropout': ('model.grad_tts.dropout',),
    'tts.duration_channels': ('model.grad_tts.duration_channels',),
}


def translate_legacy(saved: dict) -> dict:
  """A saved config (as read from JSON) with its LEGACY_FIELDS moved to
  where they live now; the input is left as it was."""
  saved = copy.deepcopy(saved)
  for old, new_fields in LEGACY_FIELDS.items():
    section, field = old.split('.')
    if field not in saved.get(section, {}):
      continue
    value = saved[section].pop(field)
    for new in new_fields:
      *parents, leaf = new.split('.')
      node = saved
      for parent in parents:
        node = node.setdefault(parent, {})
      node[leaf] = value
  return saved


def _update(config: ml_collections.ConfigDict, saved: dict, prefix: str = 'config') -> None:
  """Writes saved values over config (the defaults); fields it lacks (from an
  older version) are skipped with a warning."""
  for key, value in saved.items():
    if key not in config:
      logging.warning('%s.%s in the saved config is not a field any more; ignored.',
                      prefix, key)
    elif isinstance(config[key], ml_collections.ConfigDict) and isinstance(value, dict):
      _update(config[key], value, f'{prefix}.{key}')
    else:
      config[key] = value


def config_path(directory: str, step: Optional[int] = None) -> str:
  """directory/config.json (the latest run's), or for a checkpoint `step` of
  a work directory the config of the run that saved it: the latest run
  started from an earlier step (configs/*-from-step-N.json). Runs written
  before the start steps were recorded fall back to config.json."""
  latest = os.path.join(directory, 'config.json')
  history = os.path.join(directory, 'configs')
  if step is None or not os.path.isdir(history):
    return latest
  starts = []
  for name in os.listdir(history):
    stamp, found, start = name.removesuffix('.json').rpartition(_FROM_STEP)
    if found and start.isdigit() and int(start) < step:
      starts.append((int(start), stamp, name))
  return os.path.join(history, max(starts)[2]) if starts else latest


def read_config(directory: str, step: Optional[int] = None) -> ml_collections.ConfigDict:
  """The config.json a run or an export wrote (for a checkpoint `step`, the
  one of the run that saved it: `config_path`), over today's defaults
  (fields added since it was written take their defaults; moved ones are
  translated, LEGACY_FIELDS), as a locked ConfigDict."""
  path = config_path(directory, step)
  if not os.path.exists(path):
    raise UserError(f'{path} does not exist: {directory} is not a trained run or an '
                    'exported model: give the folder holding its config.json (a run\'s work '
                    'directory or an export), or train one first.')
  try:
    with open(path, encoding='utf-8') as f:
      saved = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    raise UserError(f'{path} is not readable JSON ({error}); restore it from the run or '
                    'export the model again.') from None
  if not isinstance(saved, dict):
    raise UserError(f'{path} holds no config (a JSON object is expected); restore it from '
                    'the run or export the model again.')
  config = defaults.get_config()
  try:
    with config.unlocked():
      _update(config, translate_legacy(saved))
  except (TypeError, ValueError, KeyError, AttributeError) as error:
    raise UserError(f'{path} has a field of the wrong type ({error}); fix that field or '
                    'export the model again.') from None
  for field, name, registry in (('task', config.task, tasks.TASKS),
                                ('model.name', config.model.name, models.MODELS)):
    if not (isinstance(name, str) and name in registry):
      raise UserError(f'{path} says {field}={name!r}, which is not one of this version\'s '
                      f'({", ".join(registry.names())}); restore the file from the run, or '
                      'export the model again.')
  config.lock()
  return config
