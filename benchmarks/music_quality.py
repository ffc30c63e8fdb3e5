"""Music generation quality without downloaded models: classifier and music metrics.

  python benchmarks/music_quality.py --model=pretrained/music_latent_cpu \
      [--model=runs/music_wave] [--num_per_class=16] [--classifier=runs/music_classifier] \
      [--guidance=2] [--part_guidance=key=3,tempo=2] [--num_steps=40]

A small classifier (audiodiff/metrics/classifier.py) is trained on the corpus's
training clips (lead family and key; cached in --classifier) and reads the 4 s
clips of each system; with several --classifier_seeds, one classifier per seed
(seed N > 0 cached in --classifier + '_seedN') reads them together: each head's
probabilities averaged, FD and KID the mean of theirs, so that a figure owes
less to one classifier's draw (benchmarks/README.md, "Music"). Each model
generates --num_per_class clips per family in batches of --batch (wall and
process CPU time per clip printed beside). Per system, against the
even-numbered held-out test clips: the Fréchet distance (FD) and KID of
classifier embeddings (in units of the reference embeddings' std), the
Inception Score of the family head and the share of clips classified
as the family asked for; then, without the classifier's embeddings
(`metrics/music_metrics.py`), the median in-key share (the chroma energy in
the best-fitting major key's seven pitch classes).

Key and tempo: real clips are read against their labels; a model that learned
them is asked for keys in turn and tempos spread over the corpus's range, and
read against those: the key head's accuracy, the share whose best-fitting
chroma key is the one asked for, and the share of tempos within 5% (onset
autocorrelation within the corpus's range). Such a model also makes --batch
clips of --long_seconds (timed), and the spectral jump at its window joins is
compared with that between any two neighbouring frames (1.00: a join is no
jump).

Floors: "real held-out clips" (the odd-numbered ones, which the classifier
never saw either) is real audio against real audio; a latent model's export
is also read on those clips passed through its own autoencoder, what a
perfect latent model would score.
"""

import functools
import os
import time

import jax
import numpy as np
from absl import flags, logging

from audiodiff.metrics import classifier as classifier_lib
from audiodiff.errors import UserError, run_script
from audiodiff.run import api, experiment
from audiodiff.audio import audio_io
from audiodiff.metrics import generative_metrics
from audiodiff.data import pipeline
from audiodiff.data.midi_music import FAMILIES, TEMPO_RANGE
from audiodiff.metrics import music_metrics
from audiodiff.tasks.autoencoder import autoencoder_hop
from experiments.configs import music_autoencoder_cpu

flags.DEFINE_multi_string('model', [], 'Trained runs or exports to evaluate (task latent or '
                          'generate, class-conditional, on the midi_music corpus).')
flags.DEFINE_integer('num_train', 0, 'Training clips of the corpus (0: the config\'s).')
flags.DEFINE_string('classifier', 'runs/music_classifier', 'Where the classifier is cached.')
flags.DEFINE_integer('classifier_steps', 800, 'Training steps of a new classifier.')
flags.DEFINE_list('classifier_seeds', ['0'], 'Seeds of the classifiers that read the clips '
                  '(initialisation, batches, dropout); seed N > 0 is cached in the directory '
                  '--classifier with _seedN appended.')
flags.DEFINE_integer('num_per_class', 16, 'Generated clips per family.', lower_bound=1)
flags.DEFINE_integer('batch', 16, 'Generation batch.', lower_bound=1)
flags.DEFINE_multi_integer('checkpoint_step', [], 'Per --model: checkpoint step (-1: latest).')
flags.DEFINE_integer('seed', 0, 'Generation seed.')
flags.DEFINE_float('guidance', 0.0, 'config.sampler.guidance_scale (0: each model\'s own).')
flags.DEFINE_integer('num_steps', 0, "config.sampler.num_steps (0: each model's own).",
                     lower_bound=0)
flags.DEFINE_list('part_guidance', [], 'config.latent.guidance per part, e.g. key=3,tempo=2 '
                  '(guidance on that part alone; a latent model\'s own where not given).')
flags.DEFINE_string('listening_dir', '', 'If set, writes one clip per family of each system '
                    '(and of the real held-out clips) there as <system>_<family>.wav.')
flags.DEFINE_bool('autoencoder_floor', True, 'For a latent model exported with its '
                  'autoencoder: also score the odd held-out clips reconstructed by it.')
flags.DEFINE_float('long_seconds', 10.0, 'Clip length for the long-clip row (models with '
                   'key and tempo; 0: none).')
FLAGS = flags.FLAGS
RATE = music_autoencoder_cpu.get_config().audio.sample_rate


def load_split(config, split):
  """All clips of a split, levelled as training saw them (config.data.normalize):
  audio [N, L], family [N], key [N], tempo [N] (beats per minute)."""
  source = pipeline.get_builder(config)
  source.download_and_prepare()
  examples = source.as_data_source(split)
  audio = np.stack([audio_io.normalize(examples[i]['audio'], config.data.normalize)
                    for i in range(len(examples))])
  family = np.array([examples[i]['label'] for i in range(len(examples))])
  key = np.array([examples[i]['key'] for i in range(len(examples))])
  tempo = np.array([examples[i]['tempo'] for i in range(len(examples))])
  return audio, family, key, tempo


def scores(classifier, reference, audio, intended=None, key=None, tempo=None):
  """classifier: a classifier_lib.Ensemble (of one or more); reference: its output
  on the reference clips. -> the table's row for `audio` [N, L]."""
  out = classifier(audio)
  # Embeddings in units of the reference set's overall std, so FD and KID do
  # not depend on the classifier's arbitrary feature scale. Each member gives
  # its own set of embeddings: FD and KID per set, averaged.
  fd, kid = [], []
  for real, fake in zip(reference['embedding'], out['embedding']):
    unit = float(np.std(real))
    fd.append(generative_metrics.frechet_distance(real / unit, fake / unit))
    kid.append(generative_metrics.kernel_inception_distance(real / unit, fake / unit))
  row = {'FD': float(np.mean(fd)), 'KID': float(np.mean(kid)),
         'IS': generative_metrics.inception_score(out['label'])}
  # The chroma share of the best-fitting major key, median over clips
  # (metrics/music_metrics.py), and the tempo read off the onsets.
  in_key = [music_metrics.in_key_share(a, RATE) for a in audio]
  row['in-key'] = float(np.median([share for share, _ in in_key]))
  if intended is not None:
    row['family acc'] = generative_metrics.accuracy(out['label'], intended)
  if key is not None:
    row['key acc'] = generative_metrics.accuracy(out['key'], key)
    # The best-fitting major key of the chroma (no classifier).
    row['key (chroma)'] = float(np.mean([best == k for (_, best), k in zip(in_key, key)]))
  if tempo is not None:
    estimates = np.array([music_metrics.tempo_bpm(a, RATE, TEMPO_RANGE) for a in audio])
    row['tempo ±5%'] = float(np.mean(np.abs(estimates - tempo) <= 0.05 * tempo))
  return row


def load(model_dir, step=None):
  """The model at `model_dir` (step None or -1: latest), with --guidance,
  --part_guidance and --num_steps."""
  config = None
  if FLAGS.guidance or FLAGS.part_guidance or FLAGS.num_steps:
    config = experiment.read_config(model_dir)
  if FLAGS.guidance:
    config.sampler.guidance_scale = FLAGS.guidance
  if FLAGS.num_steps:
    config.sampler.num_steps = FLAGS.num_steps
  for part, scale in part_guidance().items():
    if config.task == 'latent':
      config.latent.guidance[part] = scale
  return api.load(model_dir, config, checkpoint_step=None if step in (None, -1) else step)


def part_guidance():
  """--part_guidance as {part: scale}, or a UserError naming the flag."""
  scales = {}
  for item in FLAGS.part_guidance:
    part, _, value = item.partition('=')
    try:
      scales[part.strip()] = float(value)
    except ValueError:
      scales[part.strip()] = float('nan')
    if not 0 < scales[part.strip()] < float('inf'):
      raise UserError(f'--part_guidance={",".join(FLAGS.part_guidance)}: give part=scale '
                      'pairs with finite scales > 0, e.g. key=3,tempo=2 (parts: family, key, '
                      'tempo).')
    if part.strip() not in ('family', 'key', 'tempo'):
      raise UserError(f'--part_guidance: {part!r} is not a part; give family, key or tempo.')
  return scales


def generate(model_dir, step, num_per_class, batch, seed):
  """Clips [N, L], intended families [N], the keys [N] and tempos [N] asked
  for (None where the model learned none), wall and CPU seconds per clip."""
  trained = load(model_dir, step)
  classes = trained.task.num_classes
  labels = np.repeat(np.arange(classes), num_per_class)
  learned = trained.config.latent.attributes if trained.task.name == 'latent' else ()
  # Keys in turn and tempos evenly over the corpus's range, decorrelated
  # from the families.
  keys = (np.arange(len(labels)) * 5) % 12 if 'key' in learned else None
  tempos = (np.linspace(TEMPO_RANGE[0], TEMPO_RANGE[1], len(labels))[
      np.random.default_rng(seed).permutation(len(labels))] if 'tempo' in learned else None)
  clips, wall, cpu = [], 0.0, 0.0
  for start in range(0, len(labels), batch):
    part = slice(start, start + batch)
    options = {}
    if keys is not None:
      options['key'] = [int(k) for k in keys[part]]
    if tempos is not None:
      options['tempo'] = [float(t) for t in tempos[part]]
    request = trained.task.sample_request(len(labels[part]), labels=labels[part], **options)
    if start == 0:  # compile outside the timing
      trained.run(request, jax.random.PRNGKey(seed))
    t0, c0 = time.perf_counter(), time.process_time()
    audio = trained.run(request, jax.random.PRNGKey(seed + start + 1))
    wall += time.perf_counter() - t0
    cpu += time.process_time() - c0
    clips.append(np.asarray(audio))
  return (np.concatenate(clips), labels, keys, tempos, wall / len(labels), cpu / len(labels),
          trained.step)


def reconstruct(autoencoder_dir, audio, batch=8):
  """Clips [N, L] through an autoencoder (latent means), zero-padded back to L."""
  model = api.load(autoencoder_dir)
  hop = autoencoder_hop(model.config)
  clips = audio[:, :audio.shape[1] // hop * hop]
  out = np.concatenate([
      np.asarray(model.exp.model.apply({'params': model.params}, clips[i:i + batch]))
      for i in range(0, len(clips), batch)])
  return np.pad(out, ((0, 0), (0, audio.shape[1] - out.shape[1])))


def long_clips(model_dir, seconds, count, seed):
  """count clips of `seconds` (windows continuing each other): audio [count,
  L], the join positions in samples, CPU seconds per clip."""
  trained = load(model_dir)
  task = trained.task
  learned = trained.config.latent.attributes
  options = {}   # keys in turn and a middle tempo, where the model learned them
  if 'key' in learned:
    options['key'] = [int(k) for k in (np.arange(count) * 5) % 12]
  if 'tempo' in learned:
    options['tempo'] = [120.0] * count
  request = task.sample_request(count, seconds=seconds, **options)
  trained.run(request, jax.random.PRNGKey(seed))  # compile
  c0 = time.process_time()
  audio = trained.run(request, jax.random.PRNGKey(seed + 1))
  cpu = (time.process_time() - c0) / count
  hop = task.hop
  window = trained.config.data.segment_length // hop
  overlap = round(trained.config.latent.overlap_seconds * trained.config.audio.sample_rate / hop)
  joins = [window * hop]
  while joins[-1] + (window - overlap) * hop < audio.shape[1]:
    joins.append(joins[-1] + (window - overlap) * hop)
  return np.asarray(audio), joins, cpu


def continuity(audio, joins, n_fft=1024, hop=256):
  """How much the spectrum jumps across the window joins relative to
  anywhere else: the mean log-spectral change between the frames just before
  and after each join over its mean between neighbouring frames everywhere
  (1: a join is heard no more than any other moment)."""
  ratios = []
  for clip in audio:
    frames = np.stack([clip[s:s + n_fft] * np.hanning(n_fft)
                       for s in range(0, len(clip) - n_fft, hop)])
    log_spec = np.log(np.abs(np.fft.rfft(frames, axis=-1)) + 1e-5)
    change = np.sqrt(np.mean(np.square(np.diff(log_spec, axis=0)), axis=-1))
    # The frame pair straddling each join (the new window's content starts there).
    at_joins = [change[min(j // hop, len(change) - 1)] for j in joins if j // hop < len(change)]
    ratios.append(np.mean(at_joins) / np.mean(change))
  return float(np.mean(ratios))


def write_examples(directory, system, audio, families, sample_rate):
  """The first clip of each family as directory/<system>_<family>.wav."""
  os.makedirs(directory, exist_ok=True)
  for family in sorted(set(families.tolist())):
    index = int(np.flatnonzero(families == family)[0])
    audio_io.save_audio(os.path.join(directory, f'{system}_{FAMILIES[family]}.wav'),
                        audio[index], sample_rate)


def cached_classifier(config, seed, train_split):
  """The classifier of `seed` from its cache directory, trained and saved there if absent.

  train_split: a function returning the training clips (load_split's tuple), called only
  when a classifier has to be trained.
  """
  directory = FLAGS.classifier + (f'_seed{seed}' if seed else '')
  if os.path.exists(os.path.join(directory, classifier_lib.INFO_FILE)):
    classifier = classifier_lib.Classifier.load(directory)
    if classifier.seed != seed:
      raise UserError(f'{directory} holds a classifier trained with seed {classifier.seed}, not '
                      f'{seed}: move it away or give another --classifier.')
    return classifier
  t0 = time.perf_counter()
  train_audio, train_family, train_key, _ = train_split()
  classifier = classifier_lib.train_classifier(
      train_audio, {'label': train_family, 'key': train_key}, config.audio,
      steps=FLAGS.classifier_steps, seed=seed)
  classifier.save(directory)
  print(f'classifier (seed {seed}) trained in {time.perf_counter() - t0:.0f} s, '
        f'saved to {directory}')
  return classifier


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  part_guidance()
  if not FLAGS.classifier_seeds or not all(s.isdigit() for s in FLAGS.classifier_seeds):
    raise UserError(f'--classifier_seeds={",".join(FLAGS.classifier_seeds)}: give whole numbers '
                    '>= 0, e.g. --classifier_seeds=0,1,2.')
  seeds = [int(s) for s in FLAGS.classifier_seeds]
  for model_dir in FLAGS.model:   # before the corpus is rendered and the classifier trained
    trained_on = api.check_task(model_dir, ('latent', 'generate'), 'a music model').data.name
    if trained_on != 'midi_music':
      raise UserError(f'{model_dir} was trained on {trained_on!r}, not the midi_music corpus '
                      'this benchmark reads generated clips against.')
  config = music_autoencoder_cpu.get_config()
  if FLAGS.num_train:
    config.data.num_examples = FLAGS.num_train
  test_audio, test_family, test_key, test_tempo = load_split(config, 'test')
  train_split = functools.cache(lambda: load_split(config, 'train'))   # decoded once, if at all
  members = [cached_classifier(config, seed, train_split) for seed in seeds]
  classifier = classifier_lib.Ensemble(members)   # one member: that classifier's own reading
  # Half the held-out clips are the reference; the other half, real audio
  # the classifier never saw, is the floor every system is read against.
  reference = classifier(test_audio[0::2])
  rate = config.audio.sample_rate
  if FLAGS.listening_dir:
    write_examples(FLAGS.listening_dir, 'real', test_audio[1::2], test_family[1::2], rate)
  rows = [('real held-out clips (the floor)',
           scores(classifier, reference, test_audio[1::2], test_family[1::2], test_key[1::2],
                  test_tempo[1::2]),
           '')]
  steps = FLAGS.checkpoint_step + [None] * (len(FLAGS.model) - len(FLAGS.checkpoint_step))
  for model_dir, step in zip(FLAGS.model, steps):
    audio, intended, keys, tempos, wall, cpu, trained_step = generate(
        model_dir, step, FLAGS.num_per_class, FLAGS.batch, FLAGS.seed)
    if FLAGS.listening_dir:
      write_examples(FLAGS.listening_dir, os.path.basename(os.path.normpath(model_dir)), audio,
                     intended, rate)
    timing = f'{wall:.2f} s wall, {cpu:.2f} s CPU per clip (batch {FLAGS.batch})'
    if FLAGS.long_seconds and keys is not None:
      long_audio, joins, long_cpu = long_clips(model_dir, FLAGS.long_seconds, FLAGS.batch,
                                               FLAGS.seed)
      timing += (f'; {FLAGS.long_seconds:g} s clips: {long_cpu:.2f} s CPU each, join jump '
                 f'{continuity(long_audio, joins):.2f}x a neighbouring frame\'s')
    rows.append((f'{model_dir} (step {trained_step})',
                 scores(classifier, reference, audio, intended, keys, tempos), timing))
    if FLAGS.autoencoder_floor and os.path.isdir(os.path.join(model_dir, 'autoencoder')):
      floor = reconstruct(os.path.join(model_dir, 'autoencoder'), test_audio[1::2])
      rows.append(('  real clips through its autoencoder (its floor)',
                   scores(classifier, reference, floor, test_family[1::2], test_key[1::2],
                          test_tempo[1::2]), ''))
  columns = ['FD', 'KID', 'IS', 'family acc', 'in-key', 'key acc', 'key (chroma)', 'tempo ±5%']
  print('| system | ' + ' | '.join(columns) + ' | generation |')
  # "key acc" and "tempo ±5%": of generated clips against the key and tempo
  # asked for; of real clips against their labels.
  print('|' + ' --- |' * (len(columns) + 2))
  for name, row, timing in rows:
    cells = [f'{row[c]:.3f}' if c in row else '-' for c in columns]
    print(f'| {name} | ' + ' | '.join(cells) + f' | {timing} |')


if __name__ == '__main__':
  run_script(main)
