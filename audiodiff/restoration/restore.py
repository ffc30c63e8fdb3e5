"""Restoring recordings of any length with a trained prior.

    restorer = Restorer(trained, config.restore)        # api.load(...) model
    measurement = measure('inpaint', degraded, config.restore, sample_rate)
    restored = restorer(measurement, seed=0)            # float32 [L]

The prior sees windows of its training segment length. Gaps are restored in
windows centred on them (nearby gaps share one); bandwidth extension and
declipping run over overlapping windows of the whole recording (declipping
skips windows with nothing clipped), cross-faded where they overlap. A last
projection over the whole signal then enforces the measurement across
window edges: reliable samples, the measured band, the clipping set. Windows
go through the network `batch_windows` at a time; a recording longer than
config.restore.span_seconds goes a span at a time (`spans.py`), so memory
stays bounded at any length.
"""

import copy
import dataclasses
import math
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import defaults
from audiodiff.metrics import audio_metrics
from audiodiff.audio import audio_io, windows
from audiodiff.diffusion import samplers, schedules
from audiodiff.errors import UserError
from audiodiff.restoration import (baselines, gap_bands, gap_envelope, operators, posterior,
                                   quiet_gate)

TASKS = ('inpaint', 'bandwidth', 'declip')
# Folded into the random key of the second fill (gap_bands: the band above
# low_band_hz, refined from Janssen's own order).
_DETAILED_FILL = 1
# Each task's headline metric in `quality` (gap SNR and SDR improvement:
# higher is better; high-band LSD: lower).
MAIN_METRIC = {'inpaint': 'gap_snr_db', 'bandwidth': 'high_band_lsd_db',
               'declip': 'sdr_improvement_db'}
# Frames within this many dB of the loudest count as speech (`quality`).
ACTIVE_DB = 40.0
# A method's default guidance strength (config.restore.guidance = 0), chosen
# with benchmarks/restore_quality.py.
DEFAULT_GUIDANCE = {'dps': 0.01, 'pigdm': 1.0}
# config.restore.method='' takes the recipe that scored best for the task on
# held-out real and synthetic speech with pretrained/speech_prior_cpu
# (benchmarks/README.md, "Restoration"): Janssen's fill for gaps; in gaps of
# 100 ms and more, one pass of the prior (SDEdit at level 0.02) from a
# quieter, low-order (192) Janssen fill below 500 Hz, turned down to half over
# the gap's middle, and one from Janssen's own fill above (gap_bands.py),
# which raise the gap SNR and lower the in-gap spectral distance against
# Janssen's on both families; A-SPADE for clipping; the prior for bandwidth
# extension. The settings a recipe names are its own: a flag that sets one
# beside method='' is refused (run/unread_flags.py); name the method to
# choose them.
DEFAULT_RECIPE = {
    'inpaint': dict(method='projection', start='baseline', start_level=0.02,
                    refine_min_gap_ms=100.0, start_order=192, low_band_hz=500.0,
                    center_gain=0.5, envelope_hz=1000.0),
    'bandwidth': dict(method='projection'),
    'declip': dict(method='baseline'),
}
# config.restore options and the methods that read them (the others ignore them).
OPTION_METHODS = {'guidance': ('dps', 'pigdm'), 'data_std': ('pigdm',), 'noise_std': ('pigdm',),
                  'resample': ('repaint',), 'jump': ('repaint',), 'average': posterior.METHODS,
                  'start': posterior.METHODS, 'start_level': posterior.METHODS,
                  'refine_min_gap_ms': posterior.METHODS, 'start_order': posterior.METHODS,
                  'low_band_hz': posterior.METHODS, 'center_gain': posterior.METHODS,
                  'envelope_hz': posterior.METHODS}
# Options only start='baseline' reads.
BASELINE_START_OPTIONS = ('start_level', 'refine_min_gap_ms', 'start_order', 'low_band_hz',
                          'center_gain', 'envelope_hz')


def resolved(restore_config):
  """config.restore with method='' replaced by the task's DEFAULT_RECIPE
  (a copy; a named method leaves it as it is).

  Raises:
    UserError: method='' beside a recipe setting changed from its default.
  """
  if restore_config.method:
    return restore_config
  recipe = DEFAULT_RECIPE.get(restore_config.task, dict(method='projection'))
  standard = defaults.get_config().restore
  for option in recipe:
    if option in restore_config and restore_config[option] != standard[option]:
      raise recipe_error(restore_config.task, option)
  settings = copy.deepcopy(restore_config)
  settings.update(recipe)
  return settings


def recipe_words(task) -> str:
  """The task's DEFAULT_RECIPE as 'method=projection, start=baseline, ...'."""
  return ', '.join(f'{key}={value}' for key, value in DEFAULT_RECIPE[task].items())


def recipe_error(task, option):
  """The UserError for config.restore.<option> set beside method='' when
  the task's default recipe sets it."""
  return UserError(f'config.restore.{option} is set by the default recipe for task={task!r} '
                   f"(method='' means {recipe_words(task)}); to choose it, name the method "
                   f'too: --config.restore.method={DEFAULT_RECIPE[task]["method"]}.')


def method_of(restore_config) -> str:
  """config.restore.method, or the task's default (DEFAULT_RECIPE) when empty."""
  return resolved(restore_config).method


@dataclasses.dataclass
class Measurement:
  """One degraded recording at the prior's rate and what it says (numpy).

  degraded: float32 [L]; weights: [L] gap weights (inpaint: 0 in the gaps,
  1 on reliable samples, between in the tapers, where the output cross-fades
  from the input to the restoration; the sampler treats tapers as missing);
  clipped: [L] signs and level (declip); cutoff and filter (bandwidth).
  """
  task: str
  degraded: np.ndarray
  sample_rate: int
  weights: Optional[np.ndarray] = None
  clipped: Optional[np.ndarray] = None
  level: float = 0.0
  cutoff_hz: float = 0.0
  filter: str = 'brickwall'

  def __len__(self):
    return len(self.degraded)

  def operator(self, start=0, length=None):
    """The operator of samples [start, start + length) (default: all)."""
    length = len(self) - start if length is None else length
    if self.task == 'inpaint':   # the samples outside gaps and their tapers
      reliable = self.weights[start:start + length] >= 1
      return operators.TimeDiagonal(jnp.asarray(reliable, jnp.float32))
    if self.task == 'declip':
      return operators.Clipping(jnp.float32(self.level),
                                jnp.asarray(self.clipped[start:start + length]))
    response = operators.lowpass_response(length, self.sample_rate, self.cutoff_hz,
                                          self.filter)
    return operators.FourierDiagonal(jnp.asarray(response), length)

  def needs_work(self, start, length):
    """Whether window [start, start + length) has anything to restore."""
    if self.task == 'inpaint':
      return bool(np.any(self.weights[start:start + length] < 1))
    if self.task == 'declip':
      return bool(np.any(self.clipped[start:start + length]))
    return True

  def data_std(self):
    """RMS of the reliable part of the input: the scale Pi-GDM assumes."""
    reliable = self.degraded
    if self.task == 'inpaint':
      reliable = self.degraded[self.weights >= 1]
    elif self.task == 'declip':
      reliable = self.degraded[self.clipped == 0]
    rms = float(np.sqrt(np.mean(np.square(reliable)))) if reliable.size else 0.0
    return max(rms, 1e-4)


# The setting each task reads; set under another task, it would be ignored.
TASK_SETTING = {'inpaint': 'gaps', 'bandwidth': 'cutoff_hz', 'declip': 'clip_level'}
# Options only one task reads (a flag setting one under another task is refused).
OPTION_TASK = {'taper_ms': 'inpaint', 'refine_min_gap_ms': 'inpaint', 'start_order': 'inpaint',
               'low_band_hz': 'inpaint', 'center_gain': 'inpaint', 'envelope_hz': 'inpaint',
               'filter': 'bandwidth', 'quiet_gate_db': 'bandwidth'}


def check_task_settings(restore_config) -> None:
  """A UserError for an unknown config.restore.task, or a setting of another
  task given beside it (gaps with task='bandwidth')."""
  task = restore_config.task
  if task not in TASKS:
    raise UserError(f'config.restore.task={task!r} must be one of {TASKS}.')
  for other, field in TASK_SETTING.items():
    if other != task and restore_config[field]:
      raise UserError(f'config.restore.{field}={restore_config[field]!r} is for '
                      f"task='{other}', but config.restore.task={task!r} would ignore it: "
                      f'set --config.restore.task={other}, or leave {field} out.')


def measure(task, degraded, restore_config, sample_rate):
  """The Measurement of a degraded recording, its settings validated.

  Raises:
    UserError: an unknown task, a gap outside the file, a cutoff above
      Nyquist, a clip level above the signal's peak or none detectable.
  """
  degraded = np.asarray(degraded, np.float32)
  if task == 'inpaint':
    gaps = operators.parse_gaps(restore_config.gaps)
    weights = operators.gap_weights(len(degraded), gaps, sample_rate, restore_config.taper_ms)
    return Measurement(task, degraded * (weights > 0), sample_rate, weights=weights)
  if task == 'bandwidth':
    cutoff = float(restore_config.cutoff_hz)
    if cutoff <= 0:
      raise UserError('Bandwidth extension needs the input\'s cutoff: '
                      '--config.restore.cutoff_hz=4000, for example.')
    if cutoff < MIN_CUTOFF_HZ:
      raise UserError(f'config.restore.cutoff_hz={cutoff:g}: below {MIN_CUTOFF_HZ:g} Hz almost '
                      'nothing of the recording is measured, and bandwidth extension would '
                      'replace all of it; give the band limit of the input (e.g. 4000).')
    operators.lowpass_response(8, sample_rate, cutoff, restore_config.filter)  # validates
    return Measurement(task, degraded, sample_rate, cutoff_hz=cutoff,
                       filter=restore_config.filter)
  if task == 'declip':
    peak = float(np.max(np.abs(degraded))) if degraded.size else 0.0
    level = declip_level(restore_config.clip_level, peak, len(degraded),
                         lambda at: operators.count_at_level([degraded], at))
    return Measurement(task, degraded, sample_rate,
                       clipped=operators.clipped_signs(degraded, level), level=level)
  raise UserError(f'config.restore.task={task!r} must be one of {TASKS}.')


def declip_level(clip_level, peak: float, length: int, count_at) -> float:
  """The level to declip a recording at: config.restore.clip_level, or its
  peak when clip_level is 0 and at least a thousandth of the samples sit on
  plateaus there, as clipping leaves them. count_at(level) -> (samples at
  the level, on plateaus) counts over the recording of `length` samples
  (operators.count_at_level; one pass, so long files stream).

  Raises:
    UserError: a negative or NaN clip_level, one above the peak, no clipping
      detected, or more than MAX_CLIPPED_SHARE of the samples clipped.
  """
  level = float(clip_level)
  if not 0 <= level < float('inf'):  # also NaN
    raise UserError(f'config.restore.clip_level={level:g} must be 0 (detect the level) or '
                    'the positive level the recording was clipped at, e.g. 0.3.')
  if level > peak * (1 + 1e-4):
    raise UserError(f'config.restore.clip_level={level:g} is above the input\'s peak '
                    f'{peak:.4g}: nothing is clipped at that level. Give the level the '
                    'recording was clipped at (or 0 to detect it).')
  at_level = level or peak
  clipped, on_plateaus = count_at(at_level) if at_level > 0 else (0, 0)
  if not level and on_plateaus < 1e-3 * length or at_level <= 0:
    raise UserError('No clipping detected in the input (too few samples at its peak); '
                    'give the level with --config.restore.clip_level=0.3.')
  if clipped > MAX_CLIPPED_SHARE * length:
    raise UserError(f'{clipped / length:.0%} of the input is clipped at {at_level:.3g}: too '
                    'little of the recording is left to restore it from (declipping needs '
                    'a tenth or more of the samples below the clipping level).')
  return at_level


def keep_measured(measurement, restored, original, file_rate):
  """The restoration [L] at the prior's rate -> the recording at its own
  rate (`original`, float32 [N] at `file_rate`) with only what was missing
  replaced: the gaps (cross-faded over their tapers), the clipped samples,
  or the band above the cutoff. Resampling to the prior's rate and back
  would otherwise change every sample (and drop the band above the prior's
  Nyquist frequency). float32 [N]."""
  rate = measurement.sample_rate
  original = np.asarray(original, np.float32)
  size = len(original)
  ours = audio_io.resample(np.asarray(restored, np.float32), rate, file_rate)[:size]
  ours = np.pad(ours, (0, size - len(ours)))
  if measurement.task == 'inpaint':  # the gap weights, read at the file's rate
    nearest = np.minimum(np.arange(size) * rate // file_rate, len(measurement) - 1)
    weights = measurement.weights[nearest]
    return (weights * original + (1 - weights) * ours).astype(np.float32)
  if measurement.task == 'declip':
    clipped = operators.clipped_signs(original, measurement.level) != 0
    return np.where(clipped, ours, original).astype(np.float32)
  low = operators.lowpass_response(size, file_rate, measurement.cutoff_hz, 'brickwall')
  mixed = low * np.fft.rfft(original) + (1 - low) * np.fft.rfft(ours)
  return np.fft.irfft(mixed, n=size).astype(np.float32)


# Bandwidth extension refuses band limits below this.
MIN_CUTOFF_HZ = 300.0
# Janssen's method fills gaps up to this long (Restorer.check_gaps).
MAX_BASELINE_GAP_SECONDS = 0.25
# Declipping refuses inputs with more of their samples clipped than this.
MAX_CLIPPED_SHARE = 0.9


def _gap_windows(weights, window):
  """Window starts centred on the gaps, nearby gaps sharing one window.

  Raises:
    UserError: a gap too long for the prior's window to fill with context.
  """
  starts, current = [], None
  for a, b in operators.runs(weights <= 0):
    if b - a > window // 2:
      raise UserError(f'A gap of {b - a} samples is longer than half the prior\'s window '
                      f'({window} samples): too little context to fill it. Split it, or '
                      'use a prior trained on longer segments.')
    if current is not None and b <= current[0] + window - window // 8:
      current[1] = b
      continue
    if current is not None:
      starts.append(current)
    current = [a, b]
  if current is not None:
    starts.append(current)
  length = len(weights)
  return [int(np.clip((a + b) // 2 - window // 2, 0, max(0, length - window)))
          for a, b in starts]


class Restorer:
  """Restores Measurements with a trained prior (api.Trained) and
  config.restore (method, guidance, windows)."""

  def __init__(self, trained, restore_config):
    self.trained = trained
    self.settings = restore_config = resolved(restore_config)
    self.method = restore_config.method
    if self.method not in posterior.METHODS + ('baseline',):
      raise UserError(f'config.restore.method={self.method!r} must be one of '
                      f'{posterior.METHODS + ("baseline",)}.')
    self.average = restore_config.average
    if not (isinstance(self.average, int) and self.average >= 1):
      raise UserError(f'config.restore.average={self.average!r} must be a whole number >= 1 '
                      '(restorations averaged; 1: one sample).')
    if trained.task.name != 'generate':
      raise UserError(f'Restoration needs an audio prior (task "generate"); this model is '
                      f'task {trained.task.name!r}.')
    exp = trained.exp
    self.window = int(exp.config.data.segment_length)
    self.guidance = float(restore_config.guidance) or DEFAULT_GUIDANCE.get(self.method, 1.0)
    sampler_config = exp.config.sampler.copy_and_resolve_references()
    sampler_config.unlock()
    sampler_config.guidance_scale = 1.0   # the prior runs unconditionally
    schedule = exp.schedule
    self.from_baseline = _starts_from_baseline(restore_config)
    self.refine_min_gap_ms = float(restore_config.get('refine_min_gap_ms', 0.0)
                                   if self.from_baseline else 0.0)
    if not 0 <= self.refine_min_gap_ms < float('inf'):
      raise UserError(f'config.restore.refine_min_gap_ms={self.refine_min_gap_ms:g} must be '
                      '>= 0 (0: every gap refined from the baseline\'s fill).')
    self.start_order = int(restore_config.get('start_order', 0)) if self.from_baseline else 0
    if not 0 <= self.start_order <= baselines.MAX_ORDER:
      raise UserError(f'config.restore.start_order={self.start_order} must lie in '
                      f'[0, {baselines.MAX_ORDER}] (0: Janssen\'s own order).')
    by_band = self.from_baseline and restore_config.task == 'inpaint'
    self.low_band_hz = float(restore_config.get('low_band_hz', 0.0)) if by_band else 0.0
    self.center_gain = float(restore_config.get('center_gain', 1.0)) if by_band else 1.0
    if not 0 <= self.low_band_hz < float('inf'):
      raise UserError(f'config.restore.low_band_hz={self.low_band_hz:g} must be a frequency '
                      '>= 0 (0: one fill in every band).')
    if not 0 <= self.center_gain <= 1:
      raise UserError(f'config.restore.center_gain={self.center_gain:g} must lie in [0, 1] '
                      '(1: the low band kept as filled).')
    self.envelope_hz = float(restore_config.get('envelope_hz', 0.0)) if by_band else 0.0
    if not 0 <= self.envelope_hz < float('inf'):
      raise UserError(f'config.restore.envelope_hz={self.envelope_hz:g} must be a frequency '
                      '>= 0 (0: Janssen\'s fill as it is).')
    if self.envelope_hz and not self.refine_min_gap_ms:
      raise UserError(f'config.restore.envelope_hz={self.envelope_hz:g} shapes the fill of the '
                      'gaps shorter than config.restore.refine_min_gap_ms, which is 0 (every gap '
                      'refined): set it too, e.g. --config.restore.refine_min_gap_ms=100.')
    if self.center_gain < 1 and not self.low_band_hz:
      raise UserError(f'config.restore.center_gain={self.center_gain:g} turns down the band '
                      'below config.restore.low_band_hz, which is 0: set it too, e.g. '
                      '--config.restore.low_band_hz=500.')
    if self.from_baseline:  # SDEdit: the schedule and the sampler's steps cut short
      level = float(restore_config.start_level)
      schedule = schedules.Schedule(schedule.betas[:max(1, round(level * schedule.num_steps))])
      sampler_config.num_steps = max(1, math.ceil(level * sampler_config.num_steps))
    if self.method == 'repaint' and restore_config.resample > 1:
      self.sampler = posterior.repaint_sampler(
          schedule, num_steps=sampler_config.num_steps, resample=restore_config.resample,
          jump=restore_config.jump, parameterization=exp.config.diffusion.prediction)
    else:
      self.sampler = samplers.sampler_from_config(sampler_config, schedule,
                                                  exp.config.diffusion.prediction)
    self._restore = jax.jit(self._restore_windows)

  def check_gaps(self, lengths, sample_rate):
    """A UserError, before any work, for a gap (lengths in samples) longer
    than the method can fill: half the prior's window, or for Janssen's
    method (the default, and start='baseline') MAX_BASELINE_GAP_SECONDS,
    past which an AR model's fill says little."""
    longest = max(lengths, default=0)
    limit = int(MAX_BASELINE_GAP_SECONDS * sample_rate)
    if (self.method == 'baseline' or self.from_baseline) and longest > limit:
      raise UserError(f'A gap of {1000 * longest / sample_rate:.0f} ms is longer than the '
                      f'{1000 * MAX_BASELINE_GAP_SECONDS:.0f} ms Janssen\'s method (the default '
                      'for gaps) fills; split it, or let the prior fill it with '
                      '--config.restore.method=projection (gaps up to half its window, '
                      f'{self.window / 2 / sample_rate:.2f} s).')
    if self.method != 'baseline' and longest > self.window // 2:
      raise UserError(f'A gap of {longest} samples is longer than half the prior\'s window '
                      f'({self.window} samples): too little context to fill it. Split it, or '
                      'use a prior trained on longer segments.')

  @property
  def summary(self):
    """The method in words: 'projection from the baseline (AR order 192) at
    0.02 (above 500 Hz from its own order; below 500 Hz x0.5 past 20 ms in)
    in gaps of 100 ms and more, the baseline's fill in shorter ones, 2
    network passes a window'."""
    words = self.method
    if self.from_baseline:
      order = f' (AR order {self.start_order})' if self.start_order else ''
      words += f' from the baseline{order} at {float(self.settings.start_level):g}'
    if self.low_band_hz:
      parts = [f'above {self.low_band_hz:g} Hz from its own order'] if self.start_order else []
      if self.center_gain < 1:
        inside = gap_bands.HOLD_MS + gap_bands.RAMP_MS
        parts.append(f'below {self.low_band_hz:g} Hz x{self.center_gain:g} past {inside:g} ms in')
      words += f' ({"; ".join(parts)})' if parts else ''
    if self.refine_min_gap_ms:
      envelope = (f' (above {self.envelope_hz:g} Hz on the envelope around each)'
                  if self.envelope_hz else '')
      words += (f' in gaps of {self.refine_min_gap_ms:g} ms and more, the baseline\'s fill in '
                f'shorter ones{envelope}')
    passes = self.num_evals
    return f'{words}, {passes} network pass{"" if passes == 1 else "es"} a window'

  @property
  def num_evals(self):
    """Forward network passes per window: guided methods (dps, pigdm) make
    two a step, one of them differentiated; the baseline none; times the
    restorations averaged."""
    if self.method == 'baseline':
      return 0
    return (self.sampler.num_evals * (2 if self.method in ('dps', 'pigdm') else 1)
            * self.average * self._fills)

  @property
  def _fills(self):
    """Restorations made per window: two where the bands come from fills
    of two AR orders (low_band_hz with a start_order), else one."""
    return 2 if self.low_band_hz and self.start_order else 1

  def _unconditional(self, batch):
    request = self.trained.task.sample_request(batch)
    uncond = request.uncond
    if isinstance(uncond, samplers.Guidance):
      uncond = uncond.uncond
    return uncond if uncond is not None else request.cond

  def _restore_windows(self, params, rng, op, y, data_std, guess):
    """guess: None, or [B, window] the classical method's output, noised
    to the sampler's start level to start from (SDEdit)."""
    hooks = posterior.make_hooks(self.method, op, y, rng=jax.random.fold_in(rng, 1),
                                 data_std=data_std, guidance=self.guidance,
                                 noise_std=self.settings.noise_std)
    fn = lambda x, t, c: self.trained.exp.apply_fn(params, x, t, c)
    cond = self._unconditional(y.shape[0])
    init = None
    if guess is not None:
      alpha, sigma = self.sampler.start
      init = alpha * guess + sigma * jax.random.normal(jax.random.fold_in(rng, 2), y.shape)
    return self.sampler(fn, rng, y.shape, cond, None, None, hooks,
                        prepare=lambda c: self.trained.exp.condition(params, c), init=init)

  def _kept_baseline(self, measurement):
    """bool [L]: the samples (gap and tapers) of gaps shorter than
    refine_min_gap_ms, which keep the baseline's fill; None where every gap
    is refined."""
    if not (self.from_baseline and measurement.task == 'inpaint' and self.refine_min_gap_ms):
      return None
    shortest = self.refine_min_gap_ms / 1000 * measurement.sample_rate
    return _short_gaps(measurement.weights, shortest)

  def _window_starts(self, measurement, kept=None):
    if measurement.task == 'inpaint':
      weights = measurement.weights if kept is None else np.where(kept, 1, measurement.weights)
      return _gap_windows(weights, self.window)
    overlap = int(self.window * self.settings.overlap)
    starts = windows.window_starts(len(measurement), self.window, overlap)
    return [s for s in starts if measurement.needs_work(s, self.window)]

  def __call__(self, measurement, seed=0, on_windows=None, key=None):
    """Measurement -> restored float32 [L]. on_windows(count, total), if
    given, hears of each network batch of windows done; key, if given, is
    the random key instead of PRNGKey(seed)."""
    # A quiet recording is restored at speech level, where the prior learned.
    gain = audio_io.working_gain(measurement.data_std())
    if gain != 1.0:
      measurement = dataclasses.replace(measurement, degraded=measurement.degraded * gain,
                                        level=measurement.level * gain)
    return (self._restore_measurement(measurement, seed, on_windows, key, gain)
            / gain).astype(np.float32)

  def _refined(self, measurement, starts, guess, data_std, rng, on_windows):
    """The prior's restoration of every window in `starts` (guess: the
    classical fill [L] it starts from, or None), overlap-added over the
    degraded input: float64 [L]."""
    join = windows.OverlapAdd(len(measurement), np.float64)
    overlap = int(self.window * self.settings.overlap)
    taper = windows.raised_cosine_taper(self.window, overlap // 2)
    batch = int(self.settings.batch_windows)
    for first in range(0, len(starts), batch):
      chunk = starts[first:first + batch]
      padded_chunk = chunk + [chunk[-1]] * (batch - len(chunk))  # one compiled shape
      ops = [measurement.operator(s, self.window) for s in padded_chunk]
      # y = A(degraded): what each window's operator measures of the input.
      y = jnp.stack([o(jnp.asarray(measurement.degraded[s:s + self.window]))
                     for o, s in zip(ops, padded_chunk)])
      op = _stack_operators(ops)
      guesses = None if guess is None else jnp.asarray(np.stack(
          [guess[s:s + self.window] for s in padded_chunk]), jnp.float32)
      # K samples of the posterior averaged: their mean is consistent too
      # (the measurement sets are convex) and nearer the posterior mean.
      key = jax.random.fold_in(rng, first)
      x = sum(np.asarray(self._restore(
          self.trained.params, jax.random.fold_in(key, draw) if draw else key, op, y,
          jnp.float32(data_std), guesses), np.float64) for draw in range(self.average))
      x = x / self.average
      for s, restored in zip(chunk, x):
        join.add(s, restored, taper)
      if on_windows is not None:
        on_windows(len(chunk), len(starts))
    return join.result(default=measurement.degraded)

  def _restore_measurement(self, measurement, seed, on_windows, key, gain):
    """__call__ on a measurement raised by `gain` (as is a config.restore.data_std
    given) -> float64 [L] at that level."""
    if self.method == 'baseline':
      return run_baseline(measurement)
    for name in ('low_band_hz', 'envelope_hz'):
      if getattr(self, name) >= measurement.sample_rate / 2:
        raise UserError(f'config.restore.{name}={getattr(self, name):g} is not below the '
                        f'Nyquist frequency ({measurement.sample_rate / 2:g} Hz); give a lower '
                        'one, e.g. 1000.')
    length, original = len(measurement), measurement
    pad = max(0, self.window - length)
    if pad:   # shorter than one window: pad with reliable silence
      measurement = _padded(measurement, pad)
    kept = self._kept_baseline(measurement)
    starts = self._window_starts(measurement, kept)
    data_std = self.settings.data_std * gain or measurement.data_std()
    rng = jax.random.PRNGKey(seed) if key is None else key
    guess = (run_baseline(measurement, self.start_order) if self.from_baseline and starts
             else None)
    progress = None if on_windows is None else (
        lambda count, total: on_windows(count, total * self._fills))
    # Janssen's own fill, whatever order the prior started from.
    own = None
    if kept is not None or self.low_band_hz:
      own = guess if guess is not None and not self.start_order else run_baseline(measurement)
    kept_fill = own
    if kept is not None and self.envelope_hz:   # the short gaps' fill shaped (gap_envelope.py)
      kept_fill = gap_envelope.follow_envelope(own, kept, measurement.sample_rate,
                                               self.envelope_hz)
    keep = (lambda x: x) if kept is None else (lambda x: np.where(kept, kept_fill, x))
    estimate = keep(self._refined(measurement, starts, guess, data_std, rng, progress))
    if self.low_band_hz:   # the band above from Janssen's own order (gap_bands.py)
      detailed = estimate
      if self.start_order:
        detailed = keep(self._refined(measurement, starts, own, data_std,
                                      jax.random.fold_in(rng, _DETAILED_FILL), progress))
      refined = measurement.weights < 1 if kept is None else (measurement.weights < 1) & ~kept
      estimate = gap_bands.combine(estimate, detailed, refined, measurement.sample_rate,
                                   self.low_band_hz, self.center_gain)
    estimate = estimate[:length]
    if original.task == 'bandwidth' and self.settings.quiet_gate_db > 0:
      estimate = quiet_gate.gate_added_band(estimate, original.degraded, original.sample_rate,
                                            original.cutoff_hz, self.settings.quiet_gate_db)
    # The input's own measurement: a low-pass over the padded length is
    # another operator than over the input's.
    return enforce(original, estimate)


def enforce(measurement, estimate):
  """The estimate projected onto the whole recording's measurement; for
  gaps, the input cross-faded with the estimate over the tapers."""
  if measurement.task == 'inpaint':
    weights = measurement.weights.astype(np.float64)
    return weights * measurement.degraded + (1 - weights) * estimate
  op = measurement.operator()
  return np.asarray(op.project(jnp.asarray(estimate, jnp.float32),
                               jnp.asarray(measurement.degraded)), np.float64)


def _short_gaps(weights, shortest):
  """bool [L]: the runs of weights < 1 (a gap and its tapers) whose gap
  (weights <= 0) is shorter than `shortest` samples."""
  short = np.zeros(len(weights), bool)
  for a, b in operators.runs(weights < 1):
    if np.count_nonzero(weights[a:b] <= 0) < shortest:
      short[a:b] = True
  return short


def _starts_from_baseline(settings):
  """Whether config.restore starts the reverse process from the classical
  method's output (checked)."""
  if settings.start not in ('noise', 'baseline'):
    raise UserError(f"config.restore.start={settings.start!r} must be 'noise' or 'baseline' "
                    "(SDEdit from the task's classical method).")
  if settings.start == 'noise':
    return False
  if not 0 < settings.start_level <= 1:
    raise UserError(f'config.restore.start_level={settings.start_level:g} must lie in (0, 1]: '
                    'the fraction of the trained steps the reverse process starts at.')
  return True


def _padded(measurement, pad):
  extra = np.zeros(pad, np.float32)
  return dataclasses.replace(
      measurement, degraded=np.concatenate([measurement.degraded, extra]),
      weights=None if measurement.weights is None else np.concatenate(
          [measurement.weights, np.ones(pad, np.float32)]),
      clipped=None if measurement.clipped is None else np.concatenate(
          [measurement.clipped, extra]))


def _stack_operators(ops):
  """Per-window operators -> one batched operator (pytree leaves stacked;
  a filter's response is shared)."""
  if isinstance(ops[0], operators.FourierDiagonal):
    return ops[0]
  if isinstance(ops[0], operators.Clipping):
    return operators.Clipping(ops[0].level, jnp.stack([o.clipped for o in ops]))
  return operators.TimeDiagonal(jnp.stack([o.weights for o in ops]))


def run_baseline(measurement, order=0):
  """The classical method of the measurement's task (baselines.py); order:
  Janssen's AR order for gaps (0: its own rule)."""
  if measurement.task == 'inpaint':
    return baselines.janssen_inpaint(measurement.degraded, measurement.weights, order or None)
  if measurement.task == 'declip':
    return baselines.aspade_declip(measurement.degraded, measurement.level,
                                   measurement.clipped)
  return baselines.band_replication(measurement.degraded, measurement.cutoff_hz,
                                    measurement.sample_rate)


def quality(measurement, reference, estimate):
  """The task's metrics of estimate [L] against the clean reference [L]
  (the prior's rate): its MAIN_METRIC, the degraded input's value of it
  (declipping: the input's SDR), SI-SDR, and what a listener hears beside
  the main metric: inpainting's log-spectral distance inside the gaps;
  bandwidth extension's high-band distance on the frames where speech is
  (within 40 dB of the loudest) and the high-band energy added where the
  original is silent (dB over the original's; <= 0: none added)."""
  degraded, task = measurement.degraded, measurement.task
  if task == 'inpaint':
    weights = measurement.weights[:len(reference)]
    return {'gap_snr_db': audio_metrics.gap_snr(reference, estimate, weights),
            'input_gap_snr_db': audio_metrics.gap_snr(reference, degraded, weights),
            'gap_lsd_db': audio_metrics.gap_lsd(reference, estimate, weights),
            'si_sdr_db': audio_metrics.si_sdr(reference, estimate)}
  if task == 'bandwidth':
    rate, cutoff = measurement.sample_rate, measurement.cutoff_hz
    return {'high_band_lsd_db': audio_metrics.high_band_lsd(reference, estimate, rate, cutoff),
            'input_high_band_lsd_db': audio_metrics.high_band_lsd(reference, degraded, rate, cutoff),
            'active_high_band_lsd_db': audio_metrics.high_band_lsd(
                reference, estimate, rate, cutoff, active_db=ACTIVE_DB),
            'silent_high_band_excess_db': audio_metrics.silent_high_band_excess(
                reference, estimate, rate, cutoff, active_db=ACTIVE_DB),
            'si_sdr_db': audio_metrics.si_sdr(reference, estimate)}
  return {'sdr_improvement_db': audio_metrics.sdr_improvement(reference, degraded, estimate),
          'input_sdr_db': audio_metrics.sdr(reference, degraded),
          'si_sdr_db': audio_metrics.si_sdr(reference, estimate)}


def degrade(task, clean, sample_rate, *, gaps=None, taper_ms=0.0, cutoff_hz=None,
            filter='brickwall', clip_level=None):
  """The degraded version of a clean recording [L] (benchmarks, tests)."""
  clean = np.asarray(clean, np.float32)
  if task == 'inpaint':
    return clean * operators.gap_weights(len(clean), gaps, sample_rate, taper_ms)
  if task == 'bandwidth':
    response = operators.lowpass_response(len(clean), sample_rate, cutoff_hz, filter)
    return np.fft.irfft(response * np.fft.rfft(clean), n=len(clean)).astype(np.float32)
  if task == 'declip':
    return np.clip(clean, -clip_level, clip_level)
  raise UserError(f'Unknown restoration task {task!r}; one of {TASKS}.')


def clip_level_for_sdr(clean, target_db):
  """The clipping level at which clip(clean) has SDR target_db (bisection)."""
  clean = np.asarray(clean, np.float64)
  low, high = 1e-6, float(np.max(np.abs(clean)))
  energy = np.sum(clean ** 2)
  for _ in range(60):
    level = 0.5 * (low + high)
    error = np.sum((clean - np.clip(clean, -level, level)) ** 2)
    sdr = 10 * np.log10(energy / max(error, 1e-30))
    low, high = (low, level) if sdr > target_db else (level, high)
  return 0.5 * (low + high)


