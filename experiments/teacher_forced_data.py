"""A TTS model's teacher-forced mels, as a paired folder a vocoder fine-tunes on.

  python experiments/teacher_forced_data.py --model=pretrained/tts_cpu
      --output=DIR [--utterances=800]

For each of the first --utterances recordings of the model's training corpus
(its 'train' split: the benchmarks' test sentences stay out), the model's
mel at the recording's own durations (`TextToSpeech.teacher_forced_mel`) is
rendered to a waveform by Griffin-Lim and written beside the recording, in
the paired layout of data/audio_folder.py:

  DIR/clean/<id>.wav   the recording (what the vocoder must produce)
  DIR/noisy/<id>.wav   the rendering (its mel is what the vocoder reads)

A vocoder then fine-tunes on it with experiments/configs/frame_vocoder_tts_cpu.py
(--config.data.folder=DIR; config.vocoder.mel_input='noisy').
"""

import os
import sys

from absl import app, flags
import jax.numpy as jnp
import numpy as np

from audiodiff.audio import audio_io, spectral
from audiodiff.data import pipeline
from audiodiff.errors import UserError
from audiodiff.run import api
from audiodiff.tasks import tts

flags.DEFINE_string('model', 'pretrained/tts_cpu', 'A trained TTS model (export or workdir).')
flags.DEFINE_string('output', None, 'A new or empty folder for the pairs.')
flags.DEFINE_integer('utterances', 800, 'Training recordings to render.')
flags.DEFINE_integer('griffin_lim_iters', 64, 'Griffin-Lim iterations of each rendering.')
flags.DEFINE_integer('seed', 0, "The decoder's noise.")
flags.mark_flag_as_required('output')
FLAGS = flags.FLAGS


def training_pairs(config, count):
  """(transcripts, recordings float32 [L_i], L_i a multiple of the hop) of
  the first `count` examples of the corpus's 'train' split."""
  source = pipeline.get_builder(config).as_data_source(split='train')
  count = min(int(count), len(source))
  texts = [bytes(source[i]['text']).decode('utf-8') for i in range(count)]
  hop = config.audio.hop_length
  audios = [u[:len(u) // hop * hop] for u in pipeline.load_utterances(config, 'train', count)]
  return texts, audios


def main(argv):
  del argv
  try:
    write_pairs()
  except UserError as error:
    sys.exit(f'error: {error}')


def write_pairs():
  if os.path.isdir(FLAGS.output) and os.listdir(FLAGS.output):
    raise UserError(f'--output={FLAGS.output} is not empty; give a new or empty folder.')
  trained = api.load(FLAGS.model)
  if trained.task.name != 'tts':
    raise UserError(f'--model={FLAGS.model} is a {trained.task.name!r} model; give a TTS '
                    'model (e.g. pretrained/tts_cpu).')
  config, rate = trained.config, trained.sample_rate
  texts, audios = training_pairs(config, FLAGS.utterances)
  for folder in ('clean', 'noisy'):
    os.makedirs(os.path.join(FLAGS.output, folder), exist_ok=True)
  gaps = []
  for i, (text, audio) in enumerate(zip(texts, audios)):
    aligned = trained.task.align(trained, text, audio)
    mel = trained.task.teacher_forced_mel(trained, aligned['mu_y'], seed=FLAGS.seed + i)
    # Padded with silence to a bucket of frames (few compiles), then cut.
    mel_padded = np.pad(mel, ((0, -len(mel) % tts.FRAME_BUCKET), (0, 0)))
    rendering = np.asarray(spectral.griffin_lim(jnp.asarray(mel_padded[None]), config.audio,
                                                num_iters=FLAGS.griffin_lim_iters))[0]
    rendered_mel = np.asarray(spectral.log_mel(jnp.asarray(rendering[None]), config.audio))[0]
    rendering = rendering[:len(audio)]
    rendered_mel = rendered_mel[:len(mel)]
    gaps.append(np.mean(np.abs(rendered_mel - mel)))
    name = f'{i:05d}.wav'
    audio_io.save_audio(os.path.join(FLAGS.output, 'clean', name), audio, rate)
    audio_io.save_audio(os.path.join(FLAGS.output, 'noisy', name), rendering, rate)
    if (i + 1) % 100 == 0:
      print(f'{i + 1} of {len(texts)} written', flush=True)
  print(f'Wrote {len(texts)} pairs to {FLAGS.output}. Mel L1 between each teacher-forced '
        f'mel and its rendering: {np.mean(gaps):.4f} (log mel in [0, 1]).')


if __name__ == '__main__':
  app.run(main)
