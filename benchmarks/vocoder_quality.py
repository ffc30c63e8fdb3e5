"""A vocoder against Griffin-Lim on held-out sentences: quality vs training time.

  python benchmarks/vocoder_quality.py --model=pretrained/vocoder_cpu
      [--matmul_dtypes=compute,bfloat16]
  python benchmarks/vocoder_quality.py --model=WORKDIR --curve [--checkpoints=1000,2000]
      [--utterances=20] [--families=synthetic,unseen_voices,recorded]
      [--sampler_steps=1,2,4]

Three held-out families, a table each (--families picks them):
  synthetic      the first --utterances whole sentences of the test split of
                 the model's own corpus (its voices, text never trained on);
  unseen_voices  test sentences of the synthetic voices no shipped speech
                 model trains on (rms, espeak_gb_f, espeak_rp_f), in turn;
  recorded       the first --utterances test prompts of june (Asterisk's
                 studio recordings, `real_speech`): a real speaker no shipped
                 model was trained on.
Each utterance is resynthesised from its log mel with the vocoder (chunked,
as `--mode=vocode`) and with Griffin-Lim (32 fast iterations) from the same
mel; prints PESQ-WB, MR-STFT distance, mel L1 and SI-SDR (means).
--matmul_dtypes scores the same vocoder with each config.train.matmul_dtype
(bfloat16 operands in DiffWave's matrix products, or the compute dtype's).
--curve scores every checkpoint kept in a work directory, with the wall
minutes since the run started (checkpoint file time - first configs/
stamp; other work on the machine at the time counts too). --sampler_steps
scores the same model with each config.sampler.num_steps. Last, the
real-time factor: seconds to vocode a 10 s utterance (held-out sentences
joined) over 10, best of 3, on this machine; with --reference_src (a checkout of
lmnt-com/diffwave) and --reference_python (a Python with torch), the PyTorch
DiffWave BASE reference's 6-step fast inference of the same length is timed
in the same run (benchmarks/diffwave_reference.py, as diffwave_speed.py does).
"""

import copy
import datetime
import os
import sys
import time

from absl import flags
import jax.numpy as jnp
import numpy as np

from audiodiff import data, defaults, models
from audiodiff.errors import UserError, run_script
from audiodiff.run import api
from audiodiff.metrics import audio_metrics
from audiodiff.audio import spectral
from audiodiff.data import real_speech

flags.DEFINE_string('model', 'pretrained/vocoder_cpu', 'A trained vocoder (export or workdir).')
flags.DEFINE_bool('curve', False, 'Score every kept checkpoint of a work directory.')
flags.DEFINE_list('checkpoints', [], 'With --curve: only these steps (default: all kept).')
flags.DEFINE_integer('utterances', 20, 'Held-out utterances per family.', lower_bound=1)
flags.DEFINE_list('matmul_dtypes', ['compute'], 'config.train.matmul_dtype values to score.')
flags.DEFINE_list('families', ['synthetic', 'unseen_voices', 'recorded'],
                  'Held-out families to score.')
flags.DEFINE_list('sampler_steps', [], 'config.sampler.num_steps values to score '
                  '(default: the model\'s).')
flags.DEFINE_string('reference_src', None,
                    'Checkout of lmnt-com/diffwave: time the PyTorch reference in the same run.')
flags.DEFINE_string('reference_python', sys.executable,
                    'Python with torch for --reference_src.')
FLAGS = flags.FLAGS

FAMILIES = ('synthetic', 'unseen_voices', 'recorded')
UNSEEN_VOICES = ('rms', 'espeak_gb_f', 'espeak_rp_f')
flags.register_validator('families', lambda v: v and set(v) <= set(FAMILIES),
                         f'--families takes some of {",".join(FAMILIES)}.')
flags.register_validator('matmul_dtypes', lambda v: v and set(v) <= set(models.MATMUL_DTYPES),
                         f'--matmul_dtypes takes some of {",".join(models.MATMUL_DTYPES)}.')
for _name in ('sampler_steps', 'checkpoints'):
  flags.register_validator(_name, lambda v: all(s.isdigit() and int(s) >= 1 for s in v),
                           f'--{_name} takes whole numbers >= 1, e.g. 1,2,4.')

METRICS = (('pesq', 'PESQ-WB'), ('mrstft', 'MR-STFT'), ('mel_l1', 'mel L1'),
           ('si_sdr', 'SI-SDR dB'))


def held_out(config, family, count):
  """The family's first `count` test utterances, cut to whole hops."""
  if family == 'recorded':
    utterances = real_speech.unseen_speaker_utterances(config, count)
  elif family == 'unseen_voices':
    utterances = []
    for index, voice in enumerate(UNSEEN_VOICES):
      voice_config = copy.deepcopy(config)
      voice_config.data.name, voice_config.data.voices = 'flite_speech', (voice,)
      share = count // len(UNSEEN_VOICES) + (index < count % len(UNSEEN_VOICES))
      utterances += data.load_utterances(voice_config, 'test', share)
  else:
    utterances = data.load_utterances(config, 'test', count)
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
    for trained, label in variants(config, step):
      trained.vocode(audio=references[0][:8 * hop])  # compiles outside the timing
      start = time.perf_counter()
      vocoded = [trained.vocode(audio=u, seed=i) for i, u in enumerate(references)]
      row(f'diffusion, step {trained.step}{label}', minutes,
          score(config, references, vocoded), time.perf_counter() - start)


def variants(config, step):
  """(the model loaded with each --matmul_dtypes x --sampler_steps, its label)."""
  for matmul_dtype in FLAGS.matmul_dtypes:
    for num_steps in FLAGS.sampler_steps or [None]:
      config.train.matmul_dtype = matmul_dtype
      if num_steps is not None:
        config.sampler.num_steps = int(num_steps)
      label = '' if matmul_dtype == 'compute' else f', {matmul_dtype} products'
      label += '' if num_steps is None else f', {num_steps} sampler steps'
      yield api.load(FLAGS.model, config, checkpoint_step=step), label


def real_time_factor(config, references, seconds=10.0):
  """Prints the seconds to vocode `seconds` of held-out speech over `seconds`."""
  utterance = np.concatenate(references)
  hop, rate = config.audio.hop_length, config.audio.sample_rate
  utterance = np.resize(utterance, int(seconds * rate) // hop * hop)
  print(f'\n## Real-time factor: a {seconds:.0f} s utterance, best of 3\n')
  for trained, label in variants(config, None):
    trained.vocode(audio=utterance)  # compiles outside the timing
    times = []
    for _ in range(3):
      start = time.perf_counter()
      trained.vocode(audio=utterance)
      times.append(time.perf_counter() - start)
    best = min(times)
    print(f'- vocoder, step {trained.step}{label}: {best / seconds:.4f}')
  griffin_lim(config, [utterance])  # compiles
  start = time.perf_counter()
  griffin_lim(config, [utterance])
  print(f'- Griffin-Lim (32 iters, compiled): {(time.perf_counter() - start) / seconds:.4f}',
        flush=True)
  if FLAGS.reference_src:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_reference import Reference  # pylint: disable=import-outside-toplevel
    frames = len(utterance) // hop
    reference = Reference(FLAGS.reference_src, FLAGS.reference_python, defaults.get_config(),
                          1, frames)
    run = reference.runner(op='infer', batch=1, frames=frames)
    run()  # warm up
    reference_seconds = min(run() for _ in range(3))
    reference.close()
    print(f'- PyTorch DiffWave BASE reference (torch {reference.info["torch"]}, '
          f'{reference.info["threads"]} threads, 6-step fast sampling), same run: '
          f'{reference_seconds / seconds:.4f}; reference / vocoder (last row above): '
          f'{reference_seconds / best:.1f}x', flush=True)


def main(argv):
  del argv
  config = api.check_task(FLAGS.model, ('vocoder', 'frame_vocoder'), 'a vocoder')
  if FLAGS.curve and not os.path.isdir(os.path.join(FLAGS.model, 'checkpoints')):
    raise UserError(f'--curve scores the checkpoints of a training run; {FLAGS.model} has '
                    'none (an export?): give --model=<the run\'s work directory>.')
  references = None
  for family in FLAGS.families:
    references = held_out(config, family, FLAGS.utterances)
    family_table(config, family, references)
  real_time_factor(config, references)


if __name__ == '__main__':
  run_script(main)
