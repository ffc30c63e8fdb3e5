"""Restoring recordings of any length in bounded memory, a span at a time.

    if spans.is_long(source, config.restore):
      level = spans.checked_level(source, config.restore)   # declip: whole-file passes
      for block in spans.restored_blocks(restorer, source, config.restore, level=level,
                                         out_rate=rate, seed=0): ...

A recording longer than 1.5 x config.restore.span_seconds is cut into spans
of that length overlapping by OVERLAP_SECONDS; for inpainting the overlaps
are placed where no gap (or its taper) is, so every gap lies in one span and
the overlaps are the input's own samples. Each span is read from the file
with a margin (so its resampling equals the whole file's), measured,
restored as a whole recording is (`Restorer`) with a second of context on
each side that is cut off again, taken to the output rate
(`keep_measured` where the output keeps the file's rate) and cross-faded
linearly into its neighbours. Declipping's level is detected, and its
clipped share checked, over the whole recording first (`restore.declip_level`).
"""

import math

import jax
import numpy as np

from audiodiff.audio import audio_io, streams
from audiodiff.errors import UserError
from audiodiff.restoration import operators, restore

OVERLAP_SECONDS = 1.0
# Samples read beyond each end of a span, in seconds: more than the
# resampler's reach (10 x max(up, down) / up input samples).
_MARGIN_SECONDS = 0.05


def is_long(source, settings) -> bool:
  """Whether `source` (streams.FileSource) is restored in spans."""
  if not settings.span_seconds >= 4 * OVERLAP_SECONDS:  # also NaN
    raise UserError(f'config.restore.span_seconds={settings.span_seconds:g} must be at least '
                    f'{4 * OVERLAP_SECONDS:g} s (spans overlap by {OVERLAP_SECONDS:g} s).')
  return source.length > 1.5 * settings.span_seconds * source.rate


def plan(length, span, overlap, unit, busy=()):
  """[(start, end)] spans covering [0, length) samples, each `span` long (the
  last up to 1.5 spans), each overlapping the next by `overlap`; starts and
  inner ends are multiples of `unit`; no overlap meets a `busy` interval
  [a, b) (the span is extended past it instead)."""
  spans, start = [], 0
  while True:
    end = start + span
    moved = True
    while moved and end + span // 2 < length:
      moved = False
      for a, b in busy:
        if a < end and b > end - overlap:
          end = -(-(b + overlap) // unit) * unit
          moved = True
    if end + span // 2 >= length:
      spans.append((start, length))
      return spans
    spans.append((start, end))
    start = end - overlap


def _busy(settings, rate):
  """Inpainting's gaps with their tapers, [(a, b)] samples at `rate`."""
  if settings.task != 'inpaint':
    return []
  ramp = int(round(settings.taper_ms * 1e-3 * rate)) + 1
  return [(int(start * rate) - ramp, int(math.ceil(end * rate)) + ramp)
          for start, end in operators.parse_gaps(settings.gaps)]


def checked_level(source, settings):
  """The clipping level of a long recording to declip (`restore.declip_level`,
  in passes over the file); 0.0 for the other tasks, whose settings are
  checked here too.

  Raises:
    UserError: as restore.measure.
  """
  if settings.task == 'inpaint':
    operators.check_gaps_inside(operators.parse_gaps(settings.gaps),
                                source.length / source.rate)
    return 0.0
  if settings.task != 'declip':
    restore.measure(settings.task, np.zeros(8, np.float32), settings, source.rate)  # validates
    return 0.0
  peak = max(float(np.max(np.abs(block))) for block in source.blocks())
  return restore.declip_level(settings.clip_level, peak, source.length,
                              lambda at: operators.count_at_level(source.blocks(), at))


def _measurement(settings, degraded, rate, offset, level):
  """The Measurement of samples [offset, offset + len(degraded)) of the
  recording (gaps cut at its ends)."""
  if settings.task == 'inpaint':
    duration, start = len(degraded) / rate, offset / rate
    gaps = [(max(a - start, 0.0), min(b - start, duration))
            for a, b in operators.parse_gaps(settings.gaps) if a - start < duration and b > start]
    weights = (operators.gap_weights(len(degraded), gaps, rate, settings.taper_ms) if gaps
               else np.ones(len(degraded), np.float32))
    return restore.Measurement('inpaint', degraded * (weights > 0), rate, weights=weights)
  if settings.task == 'declip':
    return restore.Measurement('declip', degraded, rate, level=level,
                               clipped=operators.clipped_signs(degraded, level))
  return restore.Measurement('bandwidth', degraded, rate, cutoff_hz=float(settings.cutoff_hz),
                             filter=settings.filter)


def restored_blocks(restorer, source, settings, *, level, out_rate, seed=0, on_span=None):
  """Yields the restoration of a long recording (streams.FileSource) at
  `out_rate` (the model's rate, or the file's, where only what was missing
  changes in the file), float32 blocks of [source.length * out_rate /
  source.rate] samples in all. Each span is restored with OVERLAP_SECONDS
  of context on each side, which is cut off again: its edges, where a
  window's (or the band limit's) view ends, stay out of the output.
  on_span(1, number of spans) hears of each span done."""
  rate, file_rate = source.rate, source.file_rate
  g = math.gcd(rate, file_rate)
  unit = rate // g                     # a multiple of unit is a whole file sample too
  to_file = lambda i: i * file_rate // rate
  out = to_file if out_rate == file_rate else (lambda i: i)
  span = max(unit, int(settings.span_seconds * rate) // unit * unit)
  overlap = max(unit, int(OVERLAP_SECONDS * rate) // unit * unit)
  margin = -(-int(_MARGIN_SECONDS * rate) // unit) * unit
  plan_ = plan(source.length, span, overlap, unit, _busy(settings, rate))
  tape = streams.Tape(source.file_blocks(), source.file_length)
  held = None                          # the last span's overlap, at out_rate
  for index, (start, end) in enumerate(plan_):
    low, high = max(0, start - overlap), min(source.length, end + overlap)   # with context
    first, last = max(0, low - margin), min(source.length, high + margin)
    original = tape.segment(to_file(first), min(source.file_length, to_file(last)))
    degraded = audio_io.resample(original, file_rate, rate)[low - first:high - first]
    measurement = _measurement(settings, degraded, rate, low, level)
    key = jax.random.fold_in(jax.random.PRNGKey(seed), index) if index else None
    restored = restorer(measurement, seed=seed, key=key)
    if out_rate == file_rate and file_rate != rate:   # only what was missing changes
      inner = original[to_file(low) - to_file(first):][:to_file(high) - to_file(low)]
      restored = restore.keep_measured(measurement, restored, inner, file_rate)
    restored = restored[out(start) - out(low):][:out(end) - out(start)].copy()
    if held is not None:               # cross-fade the overlap with the last span's
      ramp = (np.arange(len(held)) + 0.5) / len(held)
      restored[:len(held)] = ((1 - ramp) * held + ramp * restored[:len(held)]).astype(
          np.float32)
    if index + 1 < len(plan_):
      keep = out(end) - out(plan_[index + 1][0])
      yield restored[:len(restored) - keep]
      held = restored[len(restored) - keep:]
      tape.drop_before(to_file(max(0, plan_[index + 1][0] - overlap - margin)))
    else:
      yield restored
    if on_span is not None:
      on_span(1, len(plan_))
