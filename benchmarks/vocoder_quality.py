"""A vocoder against Griffin-Lim on held-out sentences: quality vs training time.

  python benchmarks/vocoder_quality.py --model=pretrained/vocoder_cpu
      [--matmul_dtypes=compute,bfloat16]
  python benchmarks/vocoder_quality.py --model=WORKDIR --curve [--checkpoints=1000,2000]
      [--utterances=20] [--families=synthetic,recorded]

Two held-out families, a table each (--families picks them):
  synthetic  the first --utterances whole sentences of the test split of the
             model's own corpus (its voices, text never trained on);
  recorded   the first --utterances test prompts of june (Asterisk's studio
             recordings, `real_speech`): a real speaker no shipped model
             was trained on.
Each utterance is resynthesised from its log mel with the vocoder (chunked,
as `--mode=vocode`) and with Griffin-Lim (32 fast iterations) from the same
mel; prints PESQ-WB, MR-STFT distance, mel L1 and SI-SDR (means).
--matmul_dtypes scores the same vocoder with each config.train.matmul_dtype
(bfloat16 operands in DiffWave's matrix products, or the compute dtype's).
--curve scores every checkpoint kept in a work directory, with the wall
minutes since the run started (checkpoint file time - first configs/
stamp; other work on the machine at the time counts too).
"""

import datetime
import os
import time

from absl import app, flags
import jax.numpy as jnp
import numpy as np

from audiodiff import data
from audiodiff.run import api, experiment
from audiodiff.metrics import audio_metrics
from audiodiff.audio import spectral
from audiodiff.data import real_speech

flags.DEFINE_string('model', 'pretrained/vocoder_cpu', 'A trained vocoder (export or workdir).')
flags.DEFINE_bool('curve', False, 'Score every kept checkpoint of a work directory.')
flags.DEFINE_list('checkpoints', [], 'With --curve: only these steps (default: all kept).')
flags.DEFINE_integer('utterances', 20, 'Held-out utterances per family.')
flags.DEFINE_list('matmul_dtypes', ['compute'], 'config.train.matmul_dtype values to score.')
flags.DEFINE_list('families', ['synthetic', 'recorded'], 'Held-out families to score.')
FLAGS = flags.FLAGS

FAMILIES = ('synthetic', 'recorded')
flags.register_validator('families', lambda v: v and set(v) <= set(FAMILIES),
                         f'--families takes some of {",".join(FAMILIES)}.')

METRICS = (('pesq', 'PESQ-WB'), ('mrstft', 'MR-STFT'), ('mel_l1', 'mel L1'),
           ('si_sdr', 'SI-SDR dB'))


def held_out(config, family, count):
  """The family's first `count` test utterances, cut to whole hops."""
  utterances = (real_speech.unseen_speaker_utterances(config, count) if family == 'recorded'
                else data.load_utterances(config, 'test', count))
  hop = config.audio.hop_length
  return [u[:len(u) // hop * hop] for u in utterances]


def score(config, references, estimates):
  rows = [audio_metrics.evaluate_pair(r, e, config.audio.sample_rate, config.audio)
          for r, e in zip(references, estimates)]
  return audio_metrics.average(rows)


def griffin_lim(config, references):
  out = []
  for audio in references:
    mel = spectral.log_mel(jnp.asarray(audio[None]), config.audio)
    out.append(np.asarray(spectral.griffin_lim(mel, config.audio))[0])
  return out


def row(name, minutes, values, seconds):
  cells = ' | '.join(f'{values[key]:.3f}' for key, _ in METRICS)
  print(f'| {name} | {minutes} | {cells} | {seconds:.1f} |', flush=True)


def _run_start(workdir):
  stamps = sorted(os.listdir(os.path.join(workdir, 'configs')))
  stamp = datetime.datetime.strptime(stamps[0], '%Y%m%dT%H%M%S.%fZ.json')
  return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def checkpoints():
  """[(step, training minutes)] to score: the export's or latest ([(None, '-')]);
  with --curve every kept checkpoint of the work directory."""
  if not FLAGS.curve:
    return [(None, '-')]
  directory = os.path.join(FLAGS.model, 'checkpoints')
  steps = sorted(int(s) for s in os.listdir(directory) if s.isdigit()
                 and (not FLAGS.checkpoints or s in FLAGS.checkpoints))
  began = _run_start(FLAGS.model)
  return [(step, f'{(os.path.getmtime(os.path.join(directory, str(step))) - began) / 60:.0f}')
          for step in steps]


def family_table(config, family, references):
  """Prints one family's table: Griffin-Lim, then the vocoder per checkpoint
  and matmul dtype."""
  hop = config.audio.hop_length
  seconds_of_audio = sum(len(u) for u in references) / config.audio.sample_rate
  print(f'\n## Held-out family: {family}\n')
  print(f'{len(references)} held-out utterances, {seconds_of_audio:.1f} s of audio; '
        f'time column: seconds to vocode them on this machine.\n')
  print('| system | training min | ' + ' | '.join(n for _, n in METRICS) + ' | seconds |')
  print('|---|---|' + '---|' * len(METRICS) + '---|')
  start = time.perf_counter()
  gl = griffin_lim(config, references)
  row('Griffin-Lim (32 iters)', '-', score(config, references, gl), time.perf_counter() - start)
  for step, minutes in checkpoints():
    for matmul_dtype in FLAGS.matmul_dtypes:
      config.train.matmul_dtype = matmul_dtype
      trained = api.load(FLAGS.model, config, checkpoint_step=step)
      trained.vocode(audio=references[0][:8 * hop])  # compiles outside the timing
      start = time.perf_counter()
      vocoded = [trained.vocode(audio=u, seed=i) for i, u in enumerate(references)]
      products = '' if matmul_dtype == 'compute' else f', {matmul_dtype} products'
      row(f'diffusion, step {trained.step}{products}', minutes,
          score(config, references, vocoded), time.perf_counter() - start)


def main(argv):
  del argv
  config = experiment.read_config(FLAGS.model)
  for family in FLAGS.families:
    family_table(config, family, held_out(config, family, FLAGS.utterances))


if __name__ == '__main__':
  app.run(main)
