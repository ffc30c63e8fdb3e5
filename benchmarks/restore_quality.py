"""Restoration quality on held-out speech: every method against the baseline.

  python benchmarks/restore_quality.py [--prior=pretrained/speech_prior_cpu]
      [--utterances=4] [--methods=pigdm,dps,projection,repaint,baseline,default]
      [--conditions=gap20,gap50,gap100,bw2k,bw4k,clip3,clip7]
      [--families=synthetic,recorded]
      [--guidance=0.3] [--start=baseline --start_level=0.3 --start_order=128]
      [--low_band_hz=500 --center_gain=0.5] [--refine_min_gap_ms=100 --envelope_hz=1000]
      [--average=4]
      [--quiet_gate_db=35] [--first=4]

Two held-out families, a table each (--families picks them), both at the
prior's rate, --utterances of each (after skipping --first: settings are
chosen on utterances 5-8, --first=4, and reported on 1-4):
  synthetic  flite's --voice (default `rms`, never in the speech prior's
             corpus, which is slt / awb / kal16) reading test sentences of
             the corpus's sentence generator (never in its training split);
  recorded   june's test prompts (Asterisk's studio recordings,
             `real_speech`): a real speaker no shipped model was trained on.
Conditions:
  gapN   gaps of N ms (binary mask), four per utterance where speech is
         active (fewer where a short prompt has no room): SNR inside the
         gaps (dB, higher is better) and the log-spectral distance there;
  bwNk   brick-wall low-pass at N kHz: log-spectral distance of the band
         above the cutoff (dB, lower is better), on every frame, on the
         frames where speech is, and the high-band energy added where the
         original is silent; the baseline is spectral band replication,
         the degraded input the low-passed signal;
  clipN  hard clipping at the level that gives an input SDR of N dB: SDR
         improvement (dB, higher is better).
Each row also gives SI-SDR, the network's forward passes per window and the
wall-clock seconds per second of audio (this machine, all its cores; the
first call's compilation excluded).
"""

import time

import jax
import ml_collections
import numpy as np
from absl import flags

import audiodiff
from audiodiff.data import flite_speech, real_speech, sentences
from audiodiff.errors import UserError, run_script
from audiodiff.run import api
from audiodiff.restoration import gap_bands, operators, posterior, restore

flags.DEFINE_string('prior', 'pretrained/speech_prior_cpu', 'A trained prior (export or workdir).')
flags.DEFINE_integer('utterances', 4, 'Held-out utterances per family.', lower_bound=1)
flags.DEFINE_integer('first', 0, 'Held-out utterances to skip (4: the tuning utterances 5-8).',
                     lower_bound=0)
flags.DEFINE_list('methods', ['pigdm', 'dps', 'projection', 'repaint', 'baseline', 'default'],
                  "Methods ('default': config.restore.method='', the task's recipe).")
flags.DEFINE_list('conditions', ['gap20', 'gap50', 'gap100', 'bw2k', 'bw4k', 'clip3', 'clip7'],
                  'Degradations.')
flags.DEFINE_string('voice', 'rms', 'Held-out flite voice (synthetic family).')
flags.DEFINE_list('families', ['synthetic', 'recorded'], 'Held-out families to score.')
flags.DEFINE_float('guidance', 0.0, 'config.restore.guidance (0: each method\'s default).')
flags.DEFINE_integer('steps', 0, 'config.sampler.num_steps (0: the prior\'s).', lower_bound=0)
flags.DEFINE_string('sampler', '', 'config.sampler.name (\'\': the prior\'s).')
flags.DEFINE_float('eta', 0.0, 'config.sampler.eta, for ddim.')
flags.DEFINE_integer('resample', 1, 'config.restore.resample for repaint.', lower_bound=1)
flags.DEFINE_enum('start', 'noise', ['noise', 'baseline'],
                  'config.restore.start: baseline = SDEdit from the classical method.')
flags.DEFINE_float('start_level', 0.3, 'config.restore.start_level (start=baseline).')
flags.DEFINE_integer('start_order', 0, 'config.restore.start_order (start=baseline, gaps).',
                     lower_bound=0)
flags.DEFINE_float('low_band_hz', 0.0, 'config.restore.low_band_hz (start=baseline, gaps).',
                   lower_bound=0.0)
flags.DEFINE_float('center_gain', 1.0, 'config.restore.center_gain (with --low_band_hz).',
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float('envelope_hz', 0.0, 'config.restore.envelope_hz (start=baseline, gaps '
                   'shorter than --refine_min_gap_ms).', lower_bound=0.0)
flags.DEFINE_float('refine_min_gap_ms', 0.0, 'config.restore.refine_min_gap_ms (start=baseline).',
                   lower_bound=0.0)
flags.DEFINE_integer('average', 1, 'config.restore.average: restorations averaged.',
                     lower_bound=1)
flags.DEFINE_float('quiet_gate_db', None, "config.restore.quiet_gate_db (default: the prior's).")
FLAGS = flags.FLAGS

GAPS_PER_UTTERANCE = 4
FAMILIES = ('synthetic', 'recorded')
flags.register_validator('families', lambda v: v and set(v) <= set(FAMILIES),
                         f'--families takes some of {",".join(FAMILIES)}.')
METRIC_NAME = {'gap': 'gap SNR dB (+)', 'bw': 'high-band LSD dB (-)',
               'clip': 'SDR improvement dB (+)'}


def held_out_speech(sample_rate, count, voice, first=0):
  """count utterances of test sentences by `voice` (float32 [L] each),
  after the first `first` of them."""
  texts = sentences.split_sentences(0, 200, flite_speech.DATA_SEED)['test']
  texts = texts[len(texts) - first - count:len(texts) - first]
  return list(flite_speech.render(texts, sample_rate, voice=voice))


def active_gaps(clean, sample_rate, gap_ms):
  """GAPS_PER_UTTERANCE gaps of gap_ms where the speech is loudest, at least
  0.3 s apart and 0.1 s inside the edges: [(start_s, end_s)]."""
  length = int(gap_ms * 1e-3 * sample_rate)
  hop = length // 2 or 1
  energy = np.array([np.mean(clean[s:s + length] ** 2)
                     for s in range(0, len(clean) - length, hop)])
  chosen = []
  for index in np.argsort(energy)[::-1]:
    start = index * hop
    if start < 0.1 * sample_rate or start + length > len(clean) - 0.1 * sample_rate:
      continue
    if all(abs(start - other) > 0.3 * sample_rate for other in chosen):
      chosen.append(start)
    if len(chosen) == GAPS_PER_UTTERANCE:
      break
  return sorted((s / sample_rate, (s + length) / sample_rate) for s in chosen)


def degraded_case(condition, clean, sample_rate, settings):
  """(settings for the condition, degraded signal) of one utterance."""
  settings = ml_collections.ConfigDict(settings.to_dict())
  if condition.startswith('gap'):
    gaps = active_gaps(clean, sample_rate, float(condition[3:]))
    settings.task, settings.taper_ms = 'inpaint', 0.0
    settings.gaps = ','.join(f'{a:.6f}-{b:.6f}' for a, b in gaps)
    return settings, restore.degrade('inpaint', clean, sample_rate,
                                     gaps=operators.parse_gaps(settings.gaps))
  if condition.startswith('bw'):
    settings.task, settings.cutoff_hz = 'bandwidth', float(condition[2:-1]) * 1000
    return settings, restore.degrade('bandwidth', clean, sample_rate,
                                     cutoff_hz=settings.cutoff_hz)
  settings.task = 'declip'
  settings.clip_level = restore.clip_level_for_sdr(clean, float(condition[4:]))
  return settings, restore.degrade('declip', clean, sample_rate,
                                   clip_level=settings.clip_level)


# Beside the main metric, what a listener hears (restore.quality).
EXTRA_METRICS = {'inpaint': ('gap_lsd_db', None),
                 'bandwidth': ('active_high_band_lsd_db', 'silent_high_band_excess_db'),
                 'declip': (None, None)}


def score(clean, estimate, measurement):
  """(the condition's main metric, its two extra metrics (nan if none), SI-SDR)."""
  result = restore.quality(measurement, clean, estimate)
  extra = [result[k] if k else np.nan for k in EXTRA_METRICS[measurement.task]]
  return (result[restore.MAIN_METRIC[measurement.task]], *extra, result['si_sdr_db'])


def condition_rows(trained, condition, speech, seconds):
  """Prints a row per method (and the degraded input) of one condition."""
  rate, config = trained.sample_rate, trained.config
  kind = next(k for k in ('gap', 'bw', 'clip') if condition.startswith(k))
  rows = {}
  gate = config.restore.quiet_gate_db if FLAGS.quiet_gate_db is None else FLAGS.quiet_gate_db
  cases = [degraded_case(condition, clean, rate, config.restore) for clean in speech]
  measurements = [restore.measure(s.task, d, s, rate) for s, d in cases]
  rows['input'] = [score(c, m.degraded, m) for c, m in zip(speech, measurements)]
  for method in FLAGS.methods:
    settings = ml_collections.ConfigDict(cases[0][0].to_dict())
    settings.method, settings.guidance = ('' if method == 'default' else method), FLAGS.guidance
    settings.resample = FLAGS.resample
    if method != 'default':   # the recipe sets its own start
      settings.start, settings.start_level = FLAGS.start, FLAGS.start_level
      settings.start_order = FLAGS.start_order
      settings.low_band_hz, settings.center_gain = FLAGS.low_band_hz, FLAGS.center_gain
      settings.envelope_hz, settings.refine_min_gap_ms = FLAGS.envelope_hz, FLAGS.refine_min_gap_ms
    settings.average = FLAGS.average
    settings.quiet_gate_db = gate
    restorer = restore.Restorer(trained, settings)
    if method != 'baseline':   # compile outside the timing, on one window
      restorer(restore.measure(settings.task, cases[0][1][:restorer.window], settings,
                               rate) if condition.startswith('bw') else measurements[0])
    values, elapsed = [], 0.0
    for i, (clean, measurement) in enumerate(zip(speech, measurements)):
      start = time.perf_counter()
      estimate = restorer(measurement, seed=i)
      elapsed += time.perf_counter() - start
      values.append(score(clean, estimate, measurement))
    rows[method] = values
    rows[method + '_time'] = (restorer.num_evals, elapsed / seconds)
  for method in ['input'] + FLAGS.methods:
    main_metric, first, second, si = np.nanmean(np.asarray(rows[method], float), axis=0)
    passes, per_second = rows.get(method + '_time', (0, 0.0))
    label = 'degraded input' if method == 'input' else method
    if method == 'default':
      label += f' ({restore.recipe_words(measurements[0].task)})'
    elif FLAGS.start == 'baseline' and method not in ('input', 'baseline'):
      order = f' (AR order {FLAGS.start_order})' if FLAGS.start_order else ''
      label += f' from baseline{order} at {FLAGS.start_level:g}'
      if FLAGS.low_band_hz:
        inside = gap_bands.HOLD_MS + gap_bands.RAMP_MS
        label += f' below {FLAGS.low_band_hz:g} Hz x{FLAGS.center_gain:g} past {inside:g} ms in'
      if FLAGS.refine_min_gap_ms:
        envelope = f', envelope above {FLAGS.envelope_hz:g} Hz' if FLAGS.envelope_hz else ''
        label += f', Janssen\'s fill below {FLAGS.refine_min_gap_ms:g} ms{envelope}'
    if FLAGS.average > 1 and method not in ('input', 'baseline'):
      label += f', mean of {FLAGS.average}'
    if kind == 'bw' and method not in ('input', 'baseline') and gate:
      label += f', quiet gate {gate:g} dB'
    extras = ' | '.join('-' if np.isnan(v) else f'{v:.2f}' for v in (first, second))
    print(f'| {condition} ({METRIC_NAME[kind]}) | {label} | {main_metric:.2f} | {extras} '
          f'| {si:.2f} | {passes} | {per_second:.2f} |', flush=True)


def family_table(trained, family, speech):
  """Prints one family's table: every condition, every method."""
  seconds = sum(len(s) for s in speech) / trained.sample_rate
  source = f'voice {FLAGS.voice}' if family == 'synthetic' else f'speaker {real_speech.UNSEEN_SPEAKER}'
  print(f'\n## Held-out family: {family}\n')
  print(f'{len(speech)} held-out utterances of {source}, {seconds:.1f} s.\n')
  print('| condition | method | main metric | in-gap LSD dB (-) / active-frame high-band '
        'LSD dB (-) | silent-frame high-band excess dB (-) | SI-SDR dB | passes/window '
        '| s per s audio |')
  print('|---|---|---|---|---|---|---|---|')
  for condition in FLAGS.conditions:
    condition_rows(trained, condition, speech, seconds)


def main(argv):
  del argv
  config = api.check_task(FLAGS.prior, ('generate',), 'an audio prior')
  known = posterior.METHODS + ('baseline', 'default')
  unknown = [m for m in FLAGS.methods if m not in known]
  if unknown:
    raise UserError(f'--methods: {", ".join(unknown)} unknown; give some of '
                    f'{", ".join(known)}.')
  if 'synthetic' in FLAGS.families:
    flite_speech.check_flite(FLAGS.voice)
  if FLAGS.steps:
    config.sampler.num_steps = FLAGS.steps
  if FLAGS.sampler:
    config.sampler.name, config.sampler.eta = FLAGS.sampler, FLAGS.eta
  trained = audiodiff.load(FLAGS.prior, config)
  print(f'Prior {FLAGS.prior} (step {trained.step}, sampler {config.sampler.name} '
        f'{config.sampler.num_steps} steps); {jax.device_count()} {jax.default_backend()} '
        'device(s).')
  for family in FLAGS.families:
    if family == 'synthetic':
      speech = held_out_speech(trained.sample_rate, FLAGS.utterances, FLAGS.voice, FLAGS.first)
    else:
      speech = real_speech.unseen_speaker_utterances(
          config, FLAGS.first + FLAGS.utterances)[FLAGS.first:]
    family_table(trained, family, speech)


if __name__ == '__main__':
  run_script(main)
