"""Text-to-speech on held-out sentences: intelligibility (WER of an offline
recogniser), durations, mel L1 and speed, against flite's own rendering.

  python benchmarks/tts_intelligibility.py [--model=pretrained/tts_cpu]
      [--utterances=40] [--vocoder=DIR] [--first=40 --temperature=0.5 --num_steps=20]

The sentences are the first --utterances of the corpus's test split (text
never trained on; past its stored sentences, the split's own stream continues,
spoken by flite here), after skipping --first of them (settings are chosen on
sentences 41-80, --first=40, and reported on 1-40); --temperature and
--num_steps replace the model's config.sampler.temperature and num_steps. pocketsphinx (bundled US English model) transcribes:
  - flite: the corpus recording itself (the reference voice);
  - flite -> Griffin-Lim / -> vocoder: its log mel resynthesised (what each
    waveform stage costs on its own);
  - TTS + Griffin-Lim / TTS + vocoder: text -> model -> waveform.
WER is corpus-level (jiwer); its ratio to flite's comes with a 95% paired
bootstrap interval over the sentences (how far the ratio could move on
other sentences of the same kind). Durations: the model's predicted frames per
token against the alignment MAS finds between its encoder and the
recording (mean absolute error, frames), and the total length error. Mel L1
(log mel in [0, 1]) is measured with those aligned durations, so the frames
correspond. RTF: wall seconds per second of speech (this machine, all its
cores; compilation excluded).
"""

import time

from absl import flags
import jax.numpy as jnp
import numpy as np

from audiodiff import data
from audiodiff.errors import UserError, run_script
from audiodiff.run import api
from audiodiff.audio import spectral
from audiodiff.data import flite_speech, pipeline, sentences
from audiodiff.tasks import tts
from audiodiff.tts import intelligibility

flags.DEFINE_string('model', 'pretrained/tts_cpu', 'A trained TTS model (export or workdir).')
flags.DEFINE_string('vocoder', '', 'A vocoder (default: the model\'s config.tts.vocoder_workdir).')
flags.DEFINE_integer('utterances', 40, 'Held-out sentences.')
flags.DEFINE_integer('first', 0, 'Test sentences to skip (40: the tuning sentences 41-80).')
flags.DEFINE_float('temperature', None, "The sampler's temperature (default: the model's).")
flags.DEFINE_integer('num_steps', None, "The sampler's steps (default: the model's).")
flags.DEFINE_bool('resynthesis', True, "Also score flite's own mels through Griffin-Lim and the "
                  'vocoder (False: only the TTS rows, for tuning).')
FLAGS = flags.FLAGS


def held_out(config, count, first=0):
  """(texts, recordings [L_i]) of `count` test sentences after the first `first`.

  Past the stored test split, the split's own sentence stream continues
  (`sentences.split_sentences`: text never trained on), spoken by the same
  flite voice here."""
  if count < 1 or first < 0:
    raise UserError(f'--utterances={count} --first={first}: give at least one sentence, '
                    'after first >= 0 others.')
  recordings = data.load_utterances(config, 'test', first + count)[first:]  # prepares them
  builder = pipeline.get_builder(config)
  source = builder.as_data_source(split='test')
  texts = [source[i]['text'].decode('utf-8')
           for i in range(first, min(first + count, len(source)))]
  if first + count > len(source):
    texts, recordings = _beyond_the_split(builder.builder_config, config, first, count,
                                          len(source), texts, recordings)
  hop = config.audio.hop_length
  audios = [u[:len(u) // hop * hop] for u in recordings]
  return texts, audios


def _beyond_the_split(corpus, config, first, count, stored, texts, recordings):
  """texts and recordings extended with the test stream's sentences stored..first+count."""
  if len(corpus.voices) != 1:
    raise UserError(f'--first={first} --utterances={count} reaches past the {stored} stored '
                    f'test sentences, which only a one-voice corpus can extend '
                    f'(this one has {len(corpus.voices)}).')
  stream = sentences.split_sentences(corpus.num_train, first + count, corpus.seed)['test']
  extra = stream[max(first, stored):]
  spoken = flite_speech.render(extra, corpus.sample_rate, voice=corpus.voices[0])
  return texts + extra, recordings + [
      pipeline.stored_to_mono(a, corpus.sample_rate, config.audio.sample_rate) for a in spoken]


def teacher_forced_mel_l1(trained, aligned):
  """Mean |log mel - model log mel| with the MAS durations (frames match)."""
  return float(np.mean([
      np.mean(np.abs(trained.task.teacher_forced_mel(trained, a['mu_y'], seed=i)
                     - a['log_mel']))
      for i, a in enumerate(aligned)]))


def synthesize_timed(trained, texts):
  trained.synthesize(texts[:1])  # compiles outside the timing
  start = time.perf_counter()
  audios = [r['audio'] for r in trained.synthesize(texts)]
  seconds = time.perf_counter() - start
  return audios, seconds / (sum(len(a) for a in audios) / trained.sample_rate)


def resynthesize(config, recordings, vocoder, add):
  """Scores flite's own mels through Griffin-Lim and the vocoder (what each
  waveform stage costs on its own): add(name, audios)."""
  # Mels padded with silence to a multiple of FRAME_BUCKET (few compiled
  # shapes), resynthesised, then cut back to each recording's length.
  hop, bucket = config.audio.hop_length, tts.FRAME_BUCKET
  mels = [np.asarray(spectral.log_mel(jnp.asarray(a[None]), config.audio))[0]
          for a in recordings]
  padded = [np.pad(m, ((0, -len(m) % bucket), (0, 0))) for m in mels]
  add('flite -> Griffin-Lim', [np.asarray(spectral.griffin_lim(p[None], config.audio))[0,
                                                                  :len(m) * hop]
                               for m, p in zip(mels, padded)])
  if vocoder is not None:
    add('flite -> vocoder', [vocoder.vocode(mel=p)[:len(m) * hop]
                             for m, p in zip(mels, padded)])


def main(argv):
  del argv
  config = api.check_task(FLAGS.model, ('tts',), 'a text-to-speech model')
  if FLAGS.vocoder:
    api.check_task(FLAGS.vocoder, ('vocoder', 'frame_vocoder'), 'a vocoder')
  if FLAGS.temperature is not None:
    config.sampler.temperature = FLAGS.temperature
  if FLAGS.num_steps is not None:
    config.sampler.num_steps = FLAGS.num_steps
  trained = api.load(FLAGS.model, config)
  rate = trained.sample_rate
  vocoder = api.load(FLAGS.vocoder) if FLAGS.vocoder else trained.task.vocoder
  texts, recordings = held_out(config, FLAGS.utterances, FLAGS.first)
  seconds = sum(len(a) for a in recordings) / rate
  print(f'{len(texts)} held-out sentences ({seconds:.0f} s of flite speech); model step '
        f'{trained.step}, sampler {trained.exp.sampler.name} '
        f'({trained.exp.sampler.num_evals} network calls).\n')
  rows = []

  def add(name, audios, rtf=None):
    result = intelligibility.score(audios, rate, texts)
    rows.append((name, result['wer'], result['per_utterance_wer'], rtf))
    print(f'  {name}: WER {result["wer"]:.3f}', flush=True)

  add('flite (reference)', recordings)
  if FLAGS.resynthesis:
    resynthesize(config, recordings, vocoder, add)
  trained.task.vocoder = None
  audios, rtf = synthesize_timed(trained, texts)
  add('TTS + Griffin-Lim', audios, rtf)
  if vocoder is not None:
    trained.task.vocoder = vocoder
    audios, rtf = synthesize_timed(trained, texts)
    add('TTS + vocoder', audios, rtf)

  reference = rows[0][2]
  print('\n| system | WER | WER / flite | 95% interval | RTF |')
  print('|---|---|---|---|---|')
  for name, wer, per_utterance, rtf in rows:
    ratio, low, high = intelligibility.wer_ratio_interval(texts, per_utterance, reference)
    print(f'| {name} | {wer:.3f} | {ratio:.2f} | {low:.2f}-{high:.2f} | '
          f'{"-" if rtf is None else f"{rtf:.2f}"} |')
  if vocoder is not None:   # the "no worse than through Griffin-Lim", paired
    ratio, low, high = intelligibility.wer_ratio_interval(texts, rows[-1][2], rows[-2][2])
    print(f'\nTTS + vocoder / TTS + Griffin-Lim: {ratio:.2f} (95% interval {low:.2f}-{high:.2f})')

  aligned = [trained.task.align(trained, text, audio) for text, audio in zip(texts, recordings)]
  token_error = np.mean(np.concatenate([np.abs(a['predicted'] - a['durations'])
                                        for a in aligned]))
  length_error = np.mean([abs(a['predicted'].sum() - a['durations'].sum())
                          / a['durations'].sum() for a in aligned])
  print('\n| durations: mean abs error per token (frames) | total length error | '
        'mel L1 (MAS durations) |')
  print('|---|---|---|')
  print(f'| {token_error:.2f} | {100 * length_error:.1f}% | '
        f'{teacher_forced_mel_l1(trained, aligned):.4f} |')


if __name__ == '__main__':
  run_script(main)
