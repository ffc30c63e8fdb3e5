"""FliteSpeech: a read-speech corpus rendered offline with flite.

The scripts come from `sentences.split_sentences` (deterministic from a seed,
train and test texts disjoint); each one is spoken by the `flite` command-line
synthesiser with one of its built-in voices (default `slt`, US English,
female; also `rms`, `awb`, `kal16`), a 16 kHz wav that is resampled to the
configured rate; or by espeak-ng (`espeak_*` voices, ESPEAK_VOICES, each
utterance at its own pitch and rate). With several voices each speaks its
own sentences. No network: only the `flite` binary (Debian/Ubuntu: `apt-get
install flite`; `espeak-ng` for its voices) is needed, and only to prepare
the dataset; reading a prepared one does not need it.

Each example: {'audio': float32 [L], 'text': the transcript, 'id':
'<voice>_<split>_<index>', 'label': the voice's index in the corpus's
voices}; utterances last about 1 to 5 s.

    builder = prepare(data_dir, sample_rate=22050, num_train=400, num_test=20)
    source = builder.as_data_source('train')      # or tfds.data_source(...)
    write_ljspeech(builder, '/tmp/slt')           # wavs/ + metadata.csv
"""

import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import tempfile
import zlib

import tensorflow_datasets as tfds

from audiodiff.audio import audio_io
from audiodiff.data import builder
from audiodiff.data import pipeline
from audiodiff.data import sentences
from audiodiff.errors import UserError

VOICE = 'slt'
# Every 16 kHz voice the Debian flite package builds in; a corpus speaks a
# subset (config.data.voices) and labels each utterance with its index there.
FLITE_VOICES = ('slt', 'rms', 'awb', 'kal16')
# espeak-ng voices (formant synthesis, a different sound from flite's): the
# name -> the `espeak-ng -v` voice+variant. Each utterance gets its own pitch
# and rate (a function of its text), so one voice covers a range of speakers.
ESPEAK_VOICES = {
    'espeak_us_f': 'en-us+f3',
    'espeak_us_m': 'en-us+m3',
    'espeak_gb_f': 'en-gb+f2',
    'espeak_gb_m': 'en-gb+m1',
    'espeak_scot_m': 'en-gb-scotland+m4',
    'espeak_rp_f': 'en-gb-x-rp+f4',
}
SPEAKERS = FLITE_VOICES + tuple(ESPEAK_VOICES)
ESPEAK_PITCH = (30, 70)   # espeak-ng -p, 0..99 (50 is the voice's own)
ESPEAK_RATE = (140, 200)  # espeak-ng -s, words per minute
# As in synthetic_notes: the corpus is part of the dataset's definition, so
# config.seed changes model init and data order, not the sentences.
DATA_SEED = 0
DEFAULT_NUM_TRAIN = 400
DEFAULT_NUM_TEST = 20
# Rendering runs flite as child processes (threads only wait on them): one
# per core, 2 to 4; a corpus of hundreds of short utterances needs no more.
DEFAULT_NUM_WORKERS = max(2, min(4, os.cpu_count() or 2))
_FLITE_TIMEOUT_S = 120

_INSTALL_HINT = ('Install it with `apt-get install flite` (Debian/Ubuntu) or '
                 'from http://cmuflite.org, and make sure it is on PATH.')


class FliteError(UserError, RuntimeError):
  """flite is missing, lacks the voice, or failed on an utterance (a
  UserError: the message says what to install or which voices there are)."""


def find_flite():
  """Path of the flite binary.

  Raises:
    FliteError: not installed; the message says how to install it.
  """
  path = shutil.which('flite')
  if path is None:
    raise FliteError(f'The `flite` speech synthesiser was not found. '
                     f'{_INSTALL_HINT}')
  return path


def flite_voices(flite=None):
  """Voice names the installed flite lists with `flite -lv`."""
  out = subprocess.run([flite or find_flite(), '-lv'], capture_output=True,
                       text=True, check=False, timeout=_FLITE_TIMEOUT_S)
  listing = out.stdout + out.stderr
  # "Voices available: kal awb_time kal16 awb rms slt"
  _, _, names = listing.partition(':')
  return tuple(names.split())


def flite_version(flite=None):
  """The version line of `flite --version` (recorded in the dataset info)."""
  out = subprocess.run([flite or find_flite(), '--version'],
                       capture_output=True, text=True, check=False,
                       timeout=_FLITE_TIMEOUT_S)
  for line in (out.stdout + out.stderr).splitlines():
    if 'version' in line:
      return line.strip().removeprefix('version:').strip()
  return 'unknown'


def check_flite(voice=VOICE):
  """Path of a flite binary that has `voice`; raises FliteError otherwise."""
  flite = find_flite()
  voices = flite_voices(flite)
  if voice not in voices:
    raise FliteError(
        f'flite at {flite} has no voice {voice!r} (it lists {voices}). The '
        f"Debian/Ubuntu package builds 'slt' in: `apt-get install flite`.")
  return flite


def render_utterance(text, sample_rate, path, flite='flite', voice=VOICE):
  """Speaks `text` into the wav file `path` and reads it back.

  Args:
    text: the sentence; passed as one argument (no shell, no quoting issues).
    sample_rate: output rate in Hz (flite writes 16 kHz; resampled here).
    path: a scratch wav file name; removed afterwards.
    flite: the flite binary.
    voice: a flite voice name.

  Returns:
    float32 [L], L ~ duration * sample_rate.

  Raises:
    FliteError: flite failed or wrote an unusable file.
  """
  command = [flite, '-voice', voice, '-t', text, '-o', os.fspath(path)]
  return _synthesize(command, 'flite', text, sample_rate, path)


def _synthesize(command, program, text, sample_rate, path):
  """Runs a synthesiser `command` that writes the wav `path`; returns it as
  float32 [L] at sample_rate and removes the file."""
  try:
    result = subprocess.run(command, capture_output=True, text=True,
                            check=False, timeout=_FLITE_TIMEOUT_S)
  except subprocess.TimeoutExpired as e:
    raise FliteError(
        f'{program} took over {_FLITE_TIMEOUT_S} s on {text!r}.') from e
  if result.returncode != 0:
    raise FliteError(f'{program} exited with status {result.returncode} on '
                     f'{text!r}: {result.stderr.strip()}')
  try:
    # load_audio validates (empty / NaN / unreadable) and resamples.
    audio = audio_io.load_audio(path, sample_rate)
  except audio_io.AudioFileError as e:
    raise FliteError(f'{program} wrote an unusable wav for {text!r}: {e}') from e
  finally:
    if os.path.exists(path):
      os.remove(path)
  return audio


def find_espeak():
  """Path of the espeak-ng binary; FliteError with the install line otherwise."""
  path = shutil.which('espeak-ng')
  if path is None:
    raise FliteError('The `espeak-ng` speech synthesiser was not found (the espeak_* '
                     'voices need it). Install it with `apt-get install espeak-ng`.')
  return path


def espeak_prosody(text):
  """(pitch, rate) of an espeak-ng utterance: a function of its text."""
  code = zlib.crc32(text.encode('utf-8'))
  pitch = ESPEAK_PITCH[0] + code % (ESPEAK_PITCH[1] - ESPEAK_PITCH[0] + 1)
  code //= ESPEAK_PITCH[1] - ESPEAK_PITCH[0] + 1
  rate = ESPEAK_RATE[0] + code % (ESPEAK_RATE[1] - ESPEAK_RATE[0] + 1)
  return pitch, rate


def render_espeak_utterance(text, sample_rate, path, espeak, voice):
  """Like render_utterance, with espeak-ng voice `voice` (a key of
  ESPEAK_VOICES) at the text's own pitch and rate."""
  pitch, rate = espeak_prosody(text)
  command = [espeak, '-v', ESPEAK_VOICES[voice], '-p', str(pitch), '-s', str(rate),
             '-w', os.fspath(path), text]
  return _synthesize(command, 'espeak-ng', text, sample_rate, path)


def render(texts, sample_rate, num_workers=DEFAULT_NUM_WORKERS, voice=VOICE):
  """Speaks every text, `num_workers` flite processes at a time.

  Args:
    texts: sequence of N sentences.
    sample_rate: output rate in Hz.
    num_workers: concurrent flite processes.
    voice: a flite voice name.

  Yields:
    float32 [L_i] for i = 0..N-1, in order; scratch files live in a temporary
    directory that is removed when the generator finishes or is closed.
  """
  if voice in ESPEAK_VOICES:
    render_one, binary = render_espeak_utterance, find_espeak()
  else:
    render_one, binary = render_utterance, check_flite(voice)
  with tempfile.TemporaryDirectory(prefix='flite_speech_') as scratch, \
      concurrent.futures.ThreadPoolExecutor(max(1, num_workers)) as pool:
    futures = [
        pool.submit(render_one, text, sample_rate,
                    os.path.join(scratch, f'{i:06d}.wav'), binary, voice)
        for i, text in enumerate(texts)]
    try:
      for future in futures:
        yield future.result()
    finally:  # an error or an early close: do not start the rest
      for future in futures:
        future.cancel()


@dataclasses.dataclass
class FliteSpeechConfig(builder.AudioBuilderConfig):
  """Corpus parameters; build with `speech_config` to get a unique name."""
  sample_rate: int = 22050
  num_train: int = DEFAULT_NUM_TRAIN
  num_test: int = DEFAULT_NUM_TEST
  seed: int = DATA_SEED
  voices: tuple = (VOICE,)


def check_voices(voices):
  """The voices as a tuple; a ValueError names the known ones otherwise."""
  voices = tuple(voices)
  unknown = [v for v in voices if v not in SPEAKERS]
  if not voices or unknown or len(set(voices)) != len(voices):
    raise ValueError(
        f'config.data.voices must name distinct voices from {SPEAKERS}; '
        f'got {voices}.')
  return voices


def speech_config(sample_rate, num_train=DEFAULT_NUM_TRAIN, num_test=None,
                  seed=DATA_SEED, voices=(VOICE,)):
  """A config whose name encodes every parameter, so settings never collide.

  `num_test` defaults to num_train // 20 (at least 1): a small held-out split.
  With several voices, each one speaks num_train / num_test sentences of its
  own (the sentence streams are split between voices, never shared).
  """
  voices = check_voices(voices)
  if num_test is None:
    num_test = max(1, int(num_train) // 20)
  name = (f'{"-".join(voices)}_sr{int(sample_rate)}_train{int(num_train)}'
          f'_test{int(num_test)}_seed{int(seed)}')
  return FliteSpeechConfig(
      name=name, sample_rate=int(sample_rate), num_train=int(num_train),
      num_test=int(num_test), seed=int(seed), voices=voices,
      description=(f'{num_train}/{num_test} utterances per voice of flite '
                   f'voices {", ".join(voices)} at {sample_rate} Hz'))


DEFAULT_CONFIG = speech_config(22050, DEFAULT_NUM_TRAIN, DEFAULT_NUM_TEST)


class FliteSpeech(builder.AudioBuilder):
  """Single-speaker flite speech (see the module docstring).

  Build with `FliteSpeech(config=speech_config(...), data_dir=...)` or the
  shorthand `FliteSpeech(sample_rate=..., num_train=..., num_test=...,
  data_dir=...)`. The default config (22.05 kHz, 400 train / 20 test) is
  registered, so `tfds.data_source('flite_speech', data_dir=...)` also works
  once prepared. `num_workers` sets the parallel flite processes; it does not
  change the data.
  """

  VERSION = tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.0.0': 'flite slt voice, template sentences.',
                   '1.1.0': 'Several voices (config.data.voices).'}
  BUILDER_CONFIGS = [DEFAULT_CONFIG]

  def __init__(self, *, config=None, sample_rate=None, num_train=None,
               num_test=None, seed=DATA_SEED, voices=(VOICE,),
               num_workers=DEFAULT_NUM_WORKERS, **kwargs):
    if config is None and sample_rate is not None:
      config = speech_config(sample_rate, num_train or DEFAULT_NUM_TRAIN,
                             num_test, seed, voices)
    self._num_workers = int(num_workers)
    super().__init__(config=config, **kwargs)

  def _features(self):
    return {
        'audio': builder.audio_feature(),
        'text': tfds.features.Text(),
        'id': tfds.features.Text(),
        'label': tfds.features.ClassLabel(
            names=list(self.builder_config.voices)),
    }

  def _metadata(self):
    # flite_version is filled in at prepare time (see _split_generators).
    return {'voices': list(self.builder_config.voices),
            'seed': self.builder_config.seed}

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    cfg = self.builder_config
    # Fail before TFDS starts writing if flite or its voice is missing.
    for voice in cfg.voices:
      if voice in ESPEAK_VOICES:
        find_espeak()
      else:
        check_flite(voice)
    # Another flite build may speak slightly differently: keep a record.
    self.info.metadata['flite_version'] = (flite_version(find_flite())
                                           if shutil.which('flite') else 'not installed')
    count = len(cfg.voices)
    texts = sentences.split_sentences(cfg.num_train * count,
                                      cfg.num_test * count, cfg.seed)
    return {split: self._generate_examples(split, texts[split])
            for split in ('train', 'test')}

  def _generate_examples(self, split, texts):
    cfg = self.builder_config
    for v, voice in enumerate(cfg.voices):
      # Voice v speaks every count-th sentence: no sentence is heard twice.
      own = texts[v::len(cfg.voices)]
      audios = render(own, cfg.sample_rate, self._num_workers, voice)
      for index, (text, audio) in enumerate(zip(own, audios)):
        key = f'{voice}_{split}_{index:05d}'
        yield key, {'audio': audio, 'text': text, 'id': key, 'label': voice}


def prepare(data_dir, sample_rate, num_train=DEFAULT_NUM_TRAIN, num_test=None,
            seed=DATA_SEED, num_workers=DEFAULT_NUM_WORKERS, voices=(VOICE,)):
  """Renders the corpus (once; a no-op when already there) and returns it.

  Args:
    data_dir: TFDS data directory; the corpus lands in
      data_dir/flite_speech/<config name>/1.0.0.
    sample_rate: Hz.
    num_train, num_test: utterances per split (num_test default:
      num_train // 20, at least 1).
    seed: sentence seed.
    num_workers: parallel flite processes.
    voices: flite voice names (SPEAKERS), each speaking its own sentences.

  Returns:
    The prepared FliteSpeech builder (`.as_data_source(split)` to read).
  """
  corpus = FliteSpeech(
      config=speech_config(sample_rate, num_train, num_test, seed, voices),
      num_workers=num_workers, data_dir=os.fspath(data_dir))
  corpus.download_and_prepare()
  return corpus


@pipeline.DATASETS.register('flite_speech')
def make_builder(config, data_dir):
  """The pipeline's factory for config.data.name == 'flite_speech'.

  Reads config.audio.sample_rate, config.data.num_examples (train
  utterances per voice; test gets num_examples // 20, at least 1) and
  config.data.voices. Not prepared yet.
  """
  cfg = speech_config(sample_rate=config.audio.sample_rate,
                      num_train=config.data.num_examples,
                      voices=tuple(config.data.voices))
  return FliteSpeech(config=cfg, data_dir=data_dir)


def write_ljspeech(corpus, out_dir, splits=('train', 'test')):
  """Writes a prepared corpus as an LJSpeech-style folder.

  out_dir/wavs/<id>.wav (16-bit PCM at the corpus rate) and
  out_dir/metadata.csv with lines `id|text|text`, the layout that
  `audio_folder.AudioFolder` and most TTS recipes read.

  Args:
    corpus: a prepared FliteSpeech builder (e.g. from `prepare`).
    out_dir: output folder (created).
    splits: which splits to write, all into the one folder.

  Returns:
    The number of utterances written.
  """
  sample_rate = int(corpus.info.metadata['sample_rate'])
  wavs = os.path.join(os.fspath(out_dir), 'wavs')
  os.makedirs(wavs, exist_ok=True)
  lines = []  # (id, line): sorted by id, as TFDS stores examples shuffled
  for split in splits:
    source = corpus.as_data_source(split=split)
    for i in range(len(source)):
      example = source[i]
      utterance_id, text = example['id'].decode(), example['text'].decode()
      audio_io.save_audio(os.path.join(wavs, f'{utterance_id}.wav'),
                          example['audio'], sample_rate)
      lines.append((utterance_id, f'{utterance_id}|{text}|{text}\n'))
  with open(os.path.join(os.fspath(out_dir), 'metadata.csv'), 'w',
            encoding='utf-8') as f:
    f.writelines(line for _, line in sorted(lines))
  return len(lines)
