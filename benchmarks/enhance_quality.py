"""Speech enhancement on the held-out set: the model against the noisy input,
the Wiener filter and (StoRM) its predictor alone.

  python benchmarks/enhance_quality.py [--model=pretrained/enhance_cpu]
      [--test_voices=june,rms,espeak_gb_f,espeak_rp_f] [--test_utterances=2]
      [--recorded_test_utterances=8] [--steps=8] [--snrs=0,5,10]

The held-out set is the task's own (`tasks.enhance.Enhance.test_set`): test
utterances of voices never trained on (config.enhance.test_voices) mixed
with every noise type at each SNR, babble from those voices, music from a
track training never heard, noise seeds training never drew. Each family is
its own table: 'recorded' (a real speaker never trained on) and 'synthetic'
(flite/espeak-ng voices never trained on). Prints PESQ-WB, ESTOI and SI-SDR
per system: overall, per SNR and per noise type, then the model's network
calls and wall-clock seconds per second of audio (this machine, all its
cores; compilation included in the first window only).
"""

import time

from absl import flags

import audiodiff
from audiodiff.errors import UserError, run_script
from audiodiff.run import api
from audiodiff.data import noise

flags.DEFINE_string('model', 'pretrained/enhance_cpu', 'A trained enhancer (export or workdir).')
flags.DEFINE_list('test_voices', [], 'Held-out voices (empty: the config\'s).')
flags.DEFINE_integer('test_utterances', 0, 'Utterances per held-out synthetic voice (0: the config\'s).')
flags.DEFINE_integer('recorded_test_utterances', 0,
                     'Utterances per held-out recorded speaker (0: the config\'s).')
flags.DEFINE_integer('steps', 0, 'config.sampler.num_steps (0: the model\'s).')
flags.DEFINE_list('snrs', [], 'Test SNRs in dB (empty: the config\'s).')
FLAGS = flags.FLAGS

METRICS = (('pesq_wb', 'PESQ-WB'), ('estoi', 'ESTOI'), ('si_sdr', 'SI-SDR dB'))


def table(title, summary, groups):
  """One markdown table: a row per (group, system)."""
  print(f'\n{title}\n')
  print('| group | system | ' + ' | '.join(name for _, name in METRICS) + ' |')
  print('|---|---|' + '---|' * len(METRICS))
  for group in groups:
    for system, rows in summary.items():
      if group in rows:
        values = ' | '.join(f'{rows[group][key]:.2f}' for key, _ in METRICS)
        print(f'| {group} | {system} | {values} |')


def _number(flag, value) -> float:
  try:
    return float(value)
  except ValueError:
    raise UserError(f'--{flag}: {value!r} is not a number (e.g. --{flag}=-5,0,5).') from None


def main(argv):
  del argv
  config = api.check_task(FLAGS.model, ('enhance',), 'an enhancer')
  if FLAGS.test_voices:
    config.enhance.test_voices = tuple(FLAGS.test_voices)
  if FLAGS.test_utterances:
    config.enhance.test_utterances = FLAGS.test_utterances
  if FLAGS.recorded_test_utterances:
    config.enhance.recorded_test_utterances = FLAGS.recorded_test_utterances
  if FLAGS.steps:
    config.sampler.num_steps = FLAGS.steps
  if FLAGS.snrs:
    config.enhance.test_snr_db = tuple(_number('snrs', v) for v in FLAGS.snrs)
  trained = audiodiff.load(FLAGS.model, config)
  start = time.perf_counter()
  results = trained.task.held_out_metrics(trained)
  families, cost = results['held_out'], results['held_out_cost']
  settings = trained.config.enhance
  print(f'Model {FLAGS.model} ({settings.method}, step {trained.step}); held-out voices '
        f'{", ".join(settings.test_voices)}, {cost["num_mixtures"]} mixtures')
  for family, summary in families.items():
    print(f'\n## Held-out family: {family}')
    table('Overall', summary, ['all'])
    table('Per SNR', summary, [f'snr_{float(v):g}' for v in settings.test_snr_db])
    types = [t for t in noise.NOISE_TYPES if t in next(iter(summary.values()))]
    table('Per noise type', summary, types)
    table('Per noise type and SNR', summary,
          [f'{t}@{float(v):g}' for t in types for v in settings.test_snr_db])
  print(f'\n{settings.method}: {cost["network_calls_per_window"]} network calls per window, '
        f'{cost["seconds_per_audio_second"]:.3f} s per second of audio; benchmark took '
        f'{time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  run_script(main)
