"""Sampler accuracy against exact answers, by network calls.

  python benchmarks/sampler_accuracy.py [--calls=5,10,20,50] [--draws=100000]
      [--trained_notes=pretrained/notes] [--trained_vocoder=pretrained/vocoder_cpu]

Part 1, analytic: the exact denoisers of three 1-D data distributions drive
every sampler x grid x schedule, and each row prints the error against the
exact answer at each call budget:
  atoms     a sharp discrete distribution: atoms at -0.5, 0, 0.5 with weights
            0.45, 0.1, 0.45 (a small atom between two large ones); the error
            is the largest |mass on an atom - its weight| in percentage
            points, each draw counted at its nearest atom;
  mixture   0.3 N(-0.6, 0.1^2) + 0.7 N(0.5, 0.15^2): the same mass error of
            the two modes, in points;
  gaussian  N(0.3, 0.5^2): |std / 0.5 - 1| in percent.
Schedules: linear (DDPM's betas 1e-4 .. 0.02 for T = 1000, scaled by
1000 / T, so T = 50 also ends in noise) and cosine, each at T = 50 and 1000.

Part 2, trained models (when their exports are given): the distance of
few-call samples to the same model's 200-call samples from the same noise:
the vocoder's mel L1, the notes' log-spectral distance (dB).
"""

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

import audiodiff
from audiodiff.diffusion import analytic, samplers, schedules
from audiodiff.errors import UserError, run_script
from audiodiff.run import api, evaluation, experiment
from audiodiff.metrics import audio_metrics

flags.DEFINE_list('calls', ['5', '10', '20', '50'], 'Network-call budgets.')
flags.DEFINE_integer('draws', 100_000, 'Samples per measurement.', lower_bound=1)
flags.DEFINE_list('only', [], 'Rows to run, by label: before, ddim, dpm2m, dpm3m, heun '
                  '(default: all).')
flags.DEFINE_string('trained_notes', '', 'An exported generate model (e.g. pretrained/notes).')
flags.DEFINE_string('trained_vocoder', '', 'An exported vocoder (e.g. pretrained/vocoder_cpu).')
flags.DEFINE_bool('skip_analytic', False, 'Only the trained-model tables.')
FLAGS = flags.FLAGS

ATOMS = (np.array([-0.5, 0.0, 0.5]), np.array([0.45, 0.1, 0.45]))
MIXTURE = (np.array([-0.6, 0.5]), np.array([0.3, 0.7]), np.array([0.1, 0.15]))
GAUSSIAN = (0.3, 0.5)
# (label, sampler name, options): the rows of the table. 'before' is
# DPM-Solver++(2M) as it was: lambda-uniform over the schedule's whole range.
ROWS = (
    [('before', 'dpm_solver', {'order': 2, 'grid': 'log_snr_full'})]
    + [('ddim', 'ddim', {'grid': g}) for g in ('uniform_t', 'log_snr', 'karras')]
    + [('dpm2m', 'dpm_solver', {'order': 2, 'grid': g}) for g in ('uniform_t', 'log_snr', 'karras')]
    + [('dpm3m', 'dpm_solver', {'order': 3, 'grid': g}) for g in ('uniform_t', 'log_snr', 'karras')]
    + [('heun', 'heun', {'grid': g}) for g in ('uniform_t', 'log_snr', 'karras')]
)


def make_schedules():
  out = {}
  for steps in (50, 1000):
    scale = 1000 / steps
    out[f'linear T={steps}'] = schedules.linear_betas(steps, 1e-4 * scale, 0.02 * scale)
    out[f'cosine T={steps}'] = schedules.cosine_betas(steps)
  return {k: schedules.Schedule(jnp.asarray(v, jnp.float32)) for k, v in out.items()}


def mass_error_points(x, centres, weights):
  """max_k |share of draws nearest centre k - weight k| * 100."""
  nearest = np.argmin(np.abs(x[:, None] - centres[None, :]), axis=1)
  shares = np.bincount(nearest, minlength=len(centres)) / len(x)
  return float(np.max(np.abs(shares - weights)) * 100)


def measure(schedule, name, options, calls, draws):
  """(atoms points, mixture points, gaussian %) at this budget, or None."""
  options = dict(options)
  if name == 'heun' and calls % 2 == 0:
    calls -= 1   # Heun makes an odd number of calls
  try:
    sample = samplers.get_sampler(name, schedule, num_steps=calls, **options)
  except ValueError:
    return None
  errors = []
  for kind in ('atoms', 'mixture', 'gaussian'):
    if kind == 'atoms':
      fn = analytic.gaussian_mixture_eps(schedule, ATOMS[1], ATOMS[0], np.zeros(3))
    elif kind == 'mixture':
      fn = analytic.gaussian_mixture_eps(schedule, MIXTURE[1], MIXTURE[0], MIXTURE[2])
    else:
      fn = analytic.gaussian_mixture_eps(schedule, [1.0], [GAUSSIAN[0]], [GAUSSIAN[1]])
    x = np.asarray(jax.jit(lambda r: sample(fn, r, (draws, 1)))(jax.random.PRNGKey(0)))[:, 0]
    if kind == 'atoms':
      errors.append(mass_error_points(x, *ATOMS))
    elif kind == 'mixture':
      errors.append(mass_error_points(x, MIXTURE[0], MIXTURE[1]))
    else:
      errors.append(abs(x.std() / GAUSSIAN[1] - 1) * 100)
  return errors


def analytic_table(calls, draws):
  print('\n## Analytic: error vs network calls '
        '(atoms / mixture: worst mass error, points; gaussian: std error, %)\n')
  header = '| sampler | grid | schedule | ' + ' | '.join(f'{c} calls' for c in calls) + ' |'
  print(header)
  print('|' + ' --- |' * (3 + len(calls)))
  for (label, name, options), (schedule_name, schedule) in itertools.product(
      ROWS, make_schedules().items()):
    if FLAGS.only and label not in FLAGS.only:
      continue
    cells = []
    for c in calls:
      errors = measure(schedule, name, options, c, draws)
      cells.append('n/a' if errors is None else ' / '.join(f'{e:.1f}' for e in errors))
    print(f'| {label} | {options["grid"]} | {schedule_name} | ' + ' | '.join(cells) + ' |',
          flush=True)


def _with_sampler(directory, **sampler):
  """The exported model at `directory`, sampling with these config.sampler values."""
  config = experiment.read_config(directory)
  with config.unlocked():
    config.sampler.update(sampler)
  return audiodiff.load(directory, config)


TRAINED_ROWS = (('dpm3m', dict(name='dpm_solver', order=3, grid='log_snr')),
                ('dpm2m', dict(name='dpm_solver', order=2, grid='log_snr')),
                ('ddim', dict(name='ddim', grid='uniform_t')))


def trained_table(directory, calls, kind):
  """Distance of few-call samples to the same model's 200-call DPM-Solver++(3M)
  samples from the same noise; for a vocoder also each one's mel L1 to the
  original clips."""
  reference_model = _with_sampler(directory, name='dpm_solver', order=3, grid='log_snr',
                                  num_steps=200)
  batch = (evaluation.reference_batches(reference_model.exp, 1)[0]
           if reference_model.task.needs_reference() else None)
  reference, request = reference_model.sample(4, seed=0, reference_batch=batch)
  audio_config = reference_model.config.audio
  rate = audio_config.sample_rate

  def distance(audio):
    if kind == 'vocoder':
      return np.mean([audio_metrics.mel_l1(r, a, audio_config) for r, a in zip(reference, audio)])
    return np.mean([audio_metrics.log_spectral_distance(r, a, n_fft=256, hop_length=64)
                    for r, a in zip(reference, audio)])

  unit = 'mel L1' if kind == 'vocoder' else 'LSD dB'
  print(f'\n## {directory}: {unit} to its 200-call samples'
        + (' (and mel L1 to the original clips)' if kind == 'vocoder' else '') + '\n')
  print('| sampler | ' + ' | '.join(f'{c} calls' for c in calls) + ' |')
  print('|' + ' --- |' * (1 + len(calls)))
  rows = list(TRAINED_ROWS)
  if kind == 'vocoder':
    rows.append(('fast (DiffWave 6-step list), 6 calls', dict(name='fast')))
    rows.append((f'ddpm (ancestral, all T = {reference_model.exp.schedule.num_steps} calls)',
                 dict(name='ddpm')))
  for label, sampler in rows:
    cells = []
    for c in ([6] if sampler['name'] in ('fast', 'ddpm') else calls):
      model = _with_sampler(directory, num_steps=c, **sampler)
      audio, _ = model.sample(4, seed=0, reference_batch=batch)
      cell = f'{distance(audio):.3f}'
      if kind == 'vocoder':
        cell += f' ({np.mean([audio_metrics.mel_l1(r, a, audio_config) for r, a in zip(request.reference, audio)]):.3f})'
      cells.append(cell)
    print(f'| {label} | ' + ' | '.join(cells) + ' |', flush=True)
  if kind == 'vocoder':
    own = np.mean([audio_metrics.mel_l1(r, a, audio_config)
                   for r, a in zip(request.reference, reference)])
    print(f'\n200-call samples: mel L1 {own:.3f} to the original clips ({rate} Hz).')


def main(argv):
  del argv
  if not all(c.isdigit() and int(c) >= 1 for c in FLAGS.calls):
    raise UserError(f'--calls={",".join(FLAGS.calls)}: give whole numbers >= 1 (e.g. '
                    '--calls=5,10,20).')
  calls = [int(c) for c in FLAGS.calls]
  if FLAGS.trained_notes:
    api.check_task(FLAGS.trained_notes, ('generate',), 'a generate model (e.g. pretrained/notes)')
  if FLAGS.trained_vocoder:
    api.check_task(FLAGS.trained_vocoder, ('vocoder', 'frame_vocoder'),
                   'a vocoder')
  labels = list(dict.fromkeys(label for label, _, _ in ROWS))
  unknown = sorted(set(FLAGS.only) - set(labels))
  if unknown:
    raise UserError(f'--only: {", ".join(unknown)} unknown; give some of {", ".join(labels)}.')
  start = time.time()
  if not FLAGS.skip_analytic:
    analytic_table(calls, FLAGS.draws)
  if FLAGS.trained_notes:
    trained_table(FLAGS.trained_notes, calls, 'notes')
  if FLAGS.trained_vocoder:
    trained_table(FLAGS.trained_vocoder, calls, 'vocoder')
  print(f'\n({time.time() - start:.0f} s)')


if __name__ == '__main__':
  run_script(main)
