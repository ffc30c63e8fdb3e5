"""RealSpeech: recorded speakers (Asterisk's studio prompts), optionally
beside synthetic voices, in one corpus.

Voices (config.data.voices) are any of the recorded speakers
`asterisk.SPEAKERS` (allison, june, carlo, ivr_ru) and the flite/espeak-ng
voices of `flite_speech.SPEAKERS`; each example is labelled with its voice's
index there. A recorded prompt is decoded from G.722 (`asterisk.py`),
resampled to the configured rate, and trimmed of leading and trailing
silence. The split is by prompt: a prompt whose id hashes (crc32) to one of
TEST_SHARE_PERCENT buckets out of 100 is 'test', every other one 'train', so
the split is fixed and does not depend on which other speakers are in the
corpus. Whole speakers are held out by leaving them out of the training
corpus (the shipped enhancer never hears june). Synthetic voices are rendered
exactly as `flite_speech` renders them (num_train / num_test sentences each).

Each example: {'audio': float32 [L], 'text': the prompt's id (synthetic: the
sentence), 'id': '<voice>_<split>_<index>', 'label': the voice's index}.
Preparing needs the Debian packages `asterisk-core-sounds-<lang>-g722` of the
recorded voices; reading a prepared corpus does not.
"""

import copy
import dataclasses
import os
import zlib

import numpy as np
import tensorflow_datasets as tfds

from audiodiff.audio import audio_io
from audiodiff.data import asterisk
from audiodiff.data import builder
from audiodiff.data import flite_speech
from audiodiff.data import pipeline
from audiodiff.errors import UserError

TEST_SHARE_PERCENT = 10
# The recorded speaker no shipped model trains on: every speech benchmark's
# 'recorded' family.
UNSEEN_SPEAKER = 'june'
# Trimmed prompts shorter than this are single syllables ("a", "is").
MIN_SECONDS = 0.3


def is_recorded(voice):
  return voice in asterisk.SPEAKERS


def prompt_split(prompt_id):
  """'test' or 'train' for a recorded prompt id: a fixed hash, not a draw."""
  bucket = zlib.crc32(prompt_id.encode('utf-8')) % 100
  return 'test' if bucket < TEST_SHARE_PERCENT else 'train'


def check_voices(voices):
  """The voices as a tuple; a UserError names the known ones otherwise."""
  voices = tuple(voices)
  known = tuple(asterisk.SPEAKERS) + flite_speech.SPEAKERS
  unknown = [v for v in voices if v not in known]
  if not voices or unknown or len(set(voices)) != len(voices):
    raise UserError(f'config.data.voices must name distinct voices from {known}; got '
                    f'{voices}.')
  return voices


@dataclasses.dataclass
class RealSpeechConfig(builder.AudioBuilderConfig):
  """Corpus parameters; build with `speech_config` for a unique name."""
  voices: tuple = ('allison',)
  num_synthetic_train: int = flite_speech.DEFAULT_NUM_TRAIN
  sounds_dir: str = asterisk.SOUNDS_DIR


def speech_config(sample_rate, voices, num_synthetic_train=flite_speech.DEFAULT_NUM_TRAIN,
                  sounds_dir=asterisk.SOUNDS_DIR):
  """A config whose name encodes every setting (but the sounds folder)."""
  voices = check_voices(voices)
  name = f'{"-".join(voices)}_sr{int(sample_rate)}'
  if not all(is_recorded(v) for v in voices):  # the count matters to synthetic voices only
    name += f'_synth{int(num_synthetic_train)}'
  return RealSpeechConfig(
      name=name, sample_rate=int(sample_rate), voices=voices,
      num_synthetic_train=int(num_synthetic_train), sounds_dir=os.fspath(sounds_dir),
      description=f'voices {", ".join(voices)} at {sample_rate} Hz')


def recorded_utterances(speaker, split, sample_rate, sounds_dir=asterisk.SOUNDS_DIR):
  """[(prompt id, float32 [L])] of a speaker's prompts in `split`, trimmed."""
  out = []
  for prompt, path in asterisk.prompt_files(speaker, sounds_dir):
    if prompt_split(prompt) != split:
      continue
    audio = asterisk.trim_silence(asterisk.decode_g722(path), asterisk.G722_RATE)
    if len(audio) < MIN_SECONDS * asterisk.G722_RATE:
      continue
    out.append((prompt, audio_io.resample(audio, asterisk.G722_RATE, sample_rate)))
  return out


class RealSpeech(builder.AudioBuilder):
  """Recorded (and synthetic) speech; see the module docstring."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Asterisk prompts of four speakers, flite/espeak-ng voices.'}
  BUILDER_CONFIGS = []

  def _features(self):
    return {
        'audio': builder.audio_feature(),
        'text': tfds.features.Text(),
        'id': tfds.features.Text(),
        'label': tfds.features.ClassLabel(names=list(self.builder_config.voices)),
    }

  def _metadata(self):
    return {'voices': list(self.builder_config.voices), 'test_share_percent': TEST_SHARE_PERCENT}

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    cfg = self.builder_config
    for voice in cfg.voices:  # fail before TFDS starts writing
      if is_recorded(voice):
        asterisk.prompt_files(voice, cfg.sounds_dir)
    return {split: self._generate_examples(split) for split in ('train', 'test')}

  def _synthetic(self, split):
    """{voice: [(text, audio)]} of the corpus's synthetic voices, rendered
    (and cached) by flite_speech with the same sentences it would speak."""
    cfg = self.builder_config
    voices = tuple(v for v in cfg.voices if not is_recorded(v))
    if not voices:
      return {}
    corpus = flite_speech.prepare(os.fspath(self.data_dir_root), cfg.sample_rate, cfg.num_synthetic_train,
                                  voices=voices)
    source = corpus.as_data_source(split)
    out = {voice: [] for voice in voices}
    for index in range(len(source)):
      example = source[index]
      out[voices[int(example['label'])]].append((example['text'].decode(), example['audio']))
    return out

  def _generate_examples(self, split):
    cfg = self.builder_config
    synthetic = self._synthetic(split)
    for voice in cfg.voices:
      if is_recorded(voice):
        utterances = recorded_utterances(voice, split, cfg.sample_rate, cfg.sounds_dir)
      else:
        utterances = sorted(synthetic[voice], key=lambda pair: pair[0])
      for index, (text, audio) in enumerate(utterances):
        key = f'{voice}_{split}_{index:05d}'
        yield key, {'audio': np.asarray(audio, np.float32), 'text': text, 'id': key,
                    'label': voice}


def unseen_speaker_utterances(config, count):
  """The first `count` test prompts of UNSEEN_SPEAKER as float32 [L_i] at
  config.audio.sample_rate (the corpus is prepared in config.data.data_dir)."""
  config = copy.deepcopy(config)
  with config.unlocked():
    config.data.name, config.data.voices = 'real_speech', (UNSEEN_SPEAKER,)
  return pipeline.load_utterances(config, 'test', count)


@pipeline.DATASETS.register('real_speech')
def make_builder(config, data_dir):
  """The pipeline's factory for config.data.name == 'real_speech': reads
  config.audio.sample_rate, config.data.voices and config.data.num_examples
  (train sentences per synthetic voice)."""
  cfg = speech_config(config.audio.sample_rate, tuple(config.data.voices),
                      config.data.num_examples)
  return RealSpeech(config=cfg, data_dir=data_dir)
