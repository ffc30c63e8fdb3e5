"""The sentence generator and the flite speech corpus (8 utterances, 22.05 kHz).

Tests that render speech skip when the `flite` binary is not installed
(Debian/Ubuntu: `apt-get install flite`); the sentence tests always run.
"""

import math
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from audiodiff.data import audio_folder
from audiodiff.data import flite_speech
from audiodiff.data import pipeline
from audiodiff.data import sentences
from experiments.configs import tiny

SAMPLE_RATE = 22050
NUM_TRAIN = 6
NUM_TEST = 2
SEED = 0



@pytest.fixture(scope='module')
def corpus(tmp_path_factory, flite):
  """(data_dir, builder) with the tiny corpus rendered once for the module."""
  data_dir = tmp_path_factory.mktemp('tfds')
  builder = flite_speech.prepare(data_dir, SAMPLE_RATE, NUM_TRAIN, NUM_TEST,
                                 SEED)
  return data_dir, builder


def _read(corpus, split):
  """All examples of a split via tfds.data_source, in id order."""
  data_dir, builder = corpus
  source = tfds.data_source(f'flite_speech/{builder.builder_config.name}',
                            split=split, data_dir=os.fspath(data_dir))
  examples = [source[i] for i in range(len(source))]
  return sorted(examples, key=lambda e: e['id'])


# ----------------------------------------------------------------------------
# Sentences (pure Python, no flite).


def test_sentences_are_deterministic_from_seed():
  assert sentences.sentences(50, seed=3) == sentences.sentences(50, seed=3)
  assert sentences.sentences(50, seed=3) != sentences.sentences(50, seed=4)
  # A longer draw extends a shorter one.
  assert sentences.sentences(80, seed=3)[:50] == sentences.sentences(50, 3)


def test_sentences_are_varied():
  texts = sentences.sentences(3000, seed=SEED)
  assert len(set(texts)) == 3000
  counts = [sentences.num_words(t) for t in texts]
  assert min(counts) == sentences.MIN_WORDS
  assert max(counts) == sentences.MAX_WORDS
  assert all(t[0].isupper() and t[-1] in '.?' for t in texts)
  questions = sum(t.endswith('?') for t in texts) / len(texts)
  assert 0.15 < questions < 0.6
  vocabulary = {w.strip('.,?').lower() for t in texts for w in t.split()}
  assert len(vocabulary) > 250
  # Many sentence shapes, not one template with swapped words.
  assert len({t.split()[0] for t in texts}) > 40
  assert not any(ch.isdigit() for t in texts for ch in t)  # spelled out


def test_number_words():
  assert sentences.number_words(7) == 'seven'
  assert sentences.number_words(40) == 'forty'
  assert sentences.number_words(73) == 'seventy three'
  assert sentences.number_words(105) == 'one hundred and five'
  with pytest.raises(ValueError):
    sentences.number_words(1000)


def test_split_sentences_disjoint_and_stable():
  small = sentences.split_sentences(30, 5, SEED)
  large = sentences.split_sentences(300, 5, SEED)
  assert len(large['train']) == 300 and len(large['test']) == 5
  assert not set(large['train']) & set(large['test'])
  # More training sentences leave the held-out texts unchanged.
  assert small['test'] == large['test']
  assert large['train'][:30] == small['train']
  assert all(sentences.split_of(t) == 'test' for t in large['test'])


# ----------------------------------------------------------------------------
# The rendered corpus.


def test_missing_flite_says_how_to_install(monkeypatch, tmp_path):
  monkeypatch.setattr(flite_speech.shutil, 'which', lambda name: None)
  with pytest.raises(flite_speech.FliteError, match='apt-get install flite'):
    flite_speech.prepare(tmp_path, SAMPLE_RATE, 2, 1)
  assert not list(tmp_path.glob('**/*.array_record*'))


def test_texts_and_ids(corpus):
  expected = sentences.split_sentences(NUM_TRAIN, NUM_TEST, SEED)
  for split, num in (('train', NUM_TRAIN), ('test', NUM_TEST)):
    examples = _read(corpus, split)
    assert [e['id'].decode() for e in examples] == [
        f'slt_{split}_{i:05d}' for i in range(num)]
    # Index i speaks the i-th sentence of its split.
    assert [e['text'].decode() for e in examples] == expected[split]
    assert all(int(e['label']) == 0 for e in examples)
  _, builder = corpus
  assert builder.info.features['label'].names == ['slt']


def test_train_and_test_texts_disjoint(corpus):
  train = {e['text'] for e in _read(corpus, 'train')}
  test = {e['text'] for e in _read(corpus, 'test')}
  assert len(train) == NUM_TRAIN and len(test) == NUM_TEST
  assert not train & test


def test_audio_is_speech_like(corpus):
  examples = _read(corpus, 'train') + _read(corpus, 'test')
  seconds, words = [], []
  for e in examples:
    audio = e['audio']
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.all(np.isfinite(audio))
    assert np.sqrt(np.mean(np.square(audio))) > 1e-3
    assert np.max(np.abs(audio)) <= 1.0
    seconds.append(len(audio) / SAMPLE_RATE)
    words.append(sentences.num_words(e['text'].decode()))
  seconds, words = np.array(seconds), np.array(words)
  assert np.all(seconds > 0.3)
  # slt speaks ~0.28 s per word plus ~0.5 s of pauses (fit over 420
  # utterances; every one was within 1 s of it).
  assert np.all(seconds > 0.15 * words)
  assert np.all(seconds < 1.0 + 0.6 * words)


def test_sample_rate_consistent(corpus, tmp_path):
  _, builder = corpus
  assert builder.info.metadata['sample_rate'] == SAMPLE_RATE
  assert builder.info.metadata['voices'] == ['slt']
  example = _read(corpus, 'test')[0]
  text = example['text'].decode()
  # The same sentence at flite's own rate: the stored length is its
  # polyphase-resampled length, so the stored audio lasts as long.
  native = flite_speech.render_utterance(text, 16000, tmp_path / 'u.wav',
                                         flite_speech.find_flite())
  assert len(example['audio']) == math.ceil(len(native) * SAMPLE_RATE / 16000)
  assert not (tmp_path / 'u.wav').exists()  # scratch file removed


def test_write_ljspeech(corpus, tmp_path):
  _, builder = corpus
  out = tmp_path / 'slt'
  assert flite_speech.write_ljspeech(builder, out) == NUM_TRAIN + NUM_TEST
  transcripts = audio_folder.read_transcripts(out)
  assert len(transcripts) == NUM_TRAIN + NUM_TEST
  example = _read(corpus, 'train')[1]
  utterance_id = example['id'].decode()
  assert transcripts[utterance_id] == example['text'].decode()
  audio, rate = sf.read(out / 'wavs' / f'{utterance_id}.wav', dtype='float32')
  assert rate == SAMPLE_RATE and len(audio) == len(example['audio'])


def test_pipeline_dispatch(corpus, tmp_path):
  del corpus  # only to skip without flite
  config = tiny.get_config()
  config.data.name = 'flite_speech'
  config.data.data_dir = str(tmp_path)
  config.data.num_examples = 3
  config.data.segment_length = 4096
  config.audio.sample_rate = 16000
  config.train.batch_size = 2
  builder = pipeline.get_builder(config)
  assert isinstance(builder, flite_speech.FliteSpeech)
  assert builder.builder_config.num_test == 1
  assert pipeline.num_classes(config) == 1
  batch = next(iter(pipeline.get_dataset(config, 'train')))
  assert batch['audio'].shape == (2, 4096)
  assert np.all(batch['label'] == 0)


def test_pipeline_text_is_the_transcript(corpus, tmp_path):
  del corpus  # only to skip without flite
  config = tiny.get_config()
  config.data.name = 'flite_speech'
  config.data.data_dir = str(tmp_path)
  config.data.num_examples = 2  # and 1 test utterance
  config.data.max_text_length = 128  # the sentences are < 100 characters
  config.train.batch_size = 3
  batch = next(iter(pipeline.get_dataset(
      config, 'train+test', features=('audio', 'text', 'text_length'),
      shuffle=False)))
  assert batch['text'].shape == (3, 128) and batch['text'].dtype == np.int32
  assert batch['text_length'].dtype == np.int32
  texts = [bytes(t[:n].astype(np.uint8)).decode('utf-8')
           for t, n in zip(batch['text'], batch['text_length'])]
  expected = sentences.split_sentences(2, 1, flite_speech.DATA_SEED)
  assert sorted(texts) == sorted(expected['train'] + expected['test'])
  assert not np.any(np.concatenate(
      [t[n:] for t, n in zip(batch['text'], batch['text_length'])]))


def test_several_voices_speak_their_own_sentences(tmp_path, flite):
  builder = flite_speech.prepare(tmp_path, 16000, 2, 1, SEED, voices=('slt', 'rms'))
  assert builder.builder_config.name == 'slt-rms_sr16000_train2_test1_seed0'
  source = builder.as_data_source('train')
  examples = sorted((source[i] for i in range(len(source))), key=lambda e: e['id'])
  ids = [e['id'].decode() for e in examples]
  assert ids == ['rms_train_00000', 'rms_train_00001', 'slt_train_00000', 'slt_train_00001']
  assert [int(e['label']) for e in examples] == [1, 1, 0, 0]
  texts = [e['text'] for e in examples]
  assert len(set(texts)) == 4   # no sentence twice
  single = flite_speech.speech_config(16000, 2, 1, SEED)
  assert single.name == 'slt_sr16000_train2_test1_seed0'   # one voice: the old name


def test_unknown_voice_is_a_clear_error():
  with pytest.raises(ValueError, match='config.data.voices'):
    flite_speech.speech_config(16000, 2, 1, SEED, voices=('nobody',))


# ----------------------------------------------------------------------------
# espeak-ng voices.


def test_espeak_voices_vary_prosody_by_text_and_render(tmp_path, espeak_ng):
  texts = sentences.sentences(12, seed=0)
  prosody = [flite_speech.espeak_prosody(t) for t in texts]
  assert prosody == [flite_speech.espeak_prosody(t) for t in texts]  # a function of the text
  assert len(set(prosody)) > 6
  for pitch, rate in prosody:
    assert flite_speech.ESPEAK_PITCH[0] <= pitch <= flite_speech.ESPEAK_PITCH[1]
    assert flite_speech.ESPEAK_RATE[0] <= rate <= flite_speech.ESPEAK_RATE[1]
  audio = list(flite_speech.render(texts[:2], 16000, voice='espeak_gb_f'))
  assert len(audio) == 2 and all(0.5 * 16000 < len(a) < 8 * 16000 for a in audio)
  assert all(np.sqrt(np.mean(a**2)) > 0.01 for a in audio)
  with pytest.raises(ValueError, match='espeak_us_f'):
    flite_speech.check_voices(('espeak_nope',))
