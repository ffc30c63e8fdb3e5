"""Data: audio I/O, the TFDS builders, the Grain pipeline and its state.

Everything is tiny (16 clips of 0.25 s at 8 kHz) and offline.
"""

import importlib
import importlib.util
import os

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from audiodiff.audio import audio_io
from audiodiff.errors import UserError
from audiodiff.data import audio_folder
from audiodiff.data import builder
from audiodiff.data import pipeline
from audiodiff.data import synthetic_notes
from experiments.configs import tiny

SAMPLE_RATE = 8000
CLIP = 2000  # 0.25 s
NUM_CLIPS = 16


def tiny_config(data_dir, **data):
  config = tiny.get_config()
  config.audio.sample_rate = SAMPLE_RATE
  config.data.data_dir = str(data_dir)
  config.data.segment_length = CLIP
  config.data.num_examples = NUM_CLIPS
  config.train.batch_size = 4
  config.data.update(data)
  return config


@pytest.fixture(scope='module')
def notes_dir(tmp_path_factory):
  """A data_dir with the tiny synthetic notes prepared once for the module."""
  data_dir = tmp_path_factory.mktemp('tfds')
  pipeline.get_builder(tiny_config(data_dir)).download_and_prepare()
  return data_dir


def _notes_source(data_dir, split='train'):
  builder = pipeline.get_builder(tiny_config(data_dir))
  builder.download_and_prepare()
  return builder.as_data_source(split=split)


def _write(path, audio, rate, subtype='PCM_16'):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  sf.write(path, audio, rate, subtype=subtype)


def _peak_hz(audio, rate):
  spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
  return np.fft.rfftfreq(len(audio), 1.0 / rate)[np.argmax(spectrum)]


def test_a_split_larger_than_the_in_memory_shuffle_is_one_line(tmp_path, monkeypatch):
  """TFDS shuffles a split in memory up to a limit and past it through
  TensorFlow, which is not installed: audiodiff raises the limit, and names
  the fix where even that is too little."""
  from tensorflow_datasets.core import shuffle  # pylint: disable=g-import-not-at-top
  # Raised on import, for whatever prepares a corpus (TFDS's own is 1 GB).
  assert shuffle.MAX_MEM_BUFFER_SIZE == pipeline.in_memory_shuffle_bytes() >= 1000 << 20
  if importlib.util.find_spec('tensorflow') is not None:
    return
  monkeypatch.setattr(shuffle, 'MAX_MEM_BUFFER_SIZE', 1000)   # made tiny: TFDS spills
  with pytest.raises(UserError, match='config.data.num_examples') as caught:
    pipeline._prepare(pipeline.get_builder(tiny_config(tmp_path / 'small')))
  assert '\n' not in str(caught.value)
  assert not (tmp_path / 'small').exists() or not any((tmp_path / 'small').rglob('*.array_record*'))


# ---------------------------------------------------------------------------
# audio_io


def test_load_audio_missing_file_names_it(tmp_path):
  path = tmp_path / 'nope.wav'
  with pytest.raises(audio_io.AudioFileError, match='nope.wav.*does not exist'):
    audio_io.load_audio(path, SAMPLE_RATE)


def test_load_audio_unreadable_file(tmp_path):
  path = tmp_path / 'garbage.wav'
  path.write_bytes(b'this is not audio')
  with pytest.raises(audio_io.AudioFileError, match='garbage.wav.*decoded'):
    audio_io.load_audio(path, SAMPLE_RATE)


def test_save_load_round_trip_resamples_to_mono(tmp_path):
  t = np.arange(4410) / 44100
  stereo = np.stack([0.5 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1)
  path = tmp_path / 'a' / 'b' / 'x.wav'
  audio_io.save_audio(path, stereo, 44100)  # creates a/b/
  audio = audio_io.load_audio(path, 16000)
  assert audio.dtype == np.float32 and audio.shape == (1600,)
  assert abs(_peak_hz(audio, 16000) - 440) < 15


def test_normalize_and_crop():
  rng = np.random.default_rng(0)
  x = (0.1 * rng.standard_normal(1000)).astype(np.float32)
  assert np.isclose(np.abs(audio_io.normalize(x, 'peak')).max(), 0.95)
  y = audio_io.normalize(x, 'loudness')
  assert np.isclose(20 * np.log10(np.sqrt(np.mean(y**2))), -20.0, atol=0.01)
  spike = np.zeros(1000, np.float32)
  spike[0] = 1.0  # -20 dBFS RMS would put this spike far above full scale
  assert np.abs(audio_io.normalize(spike, 'loudness')).max() <= 1.0
  assert np.array_equal(audio_io.normalize(x, 'none'), x)
  assert not np.any(audio_io.normalize(np.zeros(8, np.float32), 'peak'))
  with pytest.raises(ValueError, match='loudness'):
    audio_io.normalize(x, 'rms')


# ---------------------------------------------------------------------------
# synthetic_notes


def test_synthetic_notes_deterministic_and_labelled(notes_dir, tmp_path):
  source = _notes_source(notes_dir)
  again = _notes_source(tmp_path)  # generated from scratch elsewhere
  assert len(source) == NUM_CLIPS
  assert len(_notes_source(notes_dir, 'test')) == NUM_CLIPS // 8
  labels = set()
  for i in range(len(source)):
    a, b = source[i], again[i]
    assert a['audio'].dtype == np.float32 and a['audio'].shape == (CLIP,)
    np.testing.assert_array_equal(a['audio'], b['audio'])
    assert a['label'] == b['label'] and a['pitch'] == b['pitch']
    assert 48 <= a['pitch'] <= 72
    labels.add(int(a['label']))
  assert labels == set(range(len(synthetic_notes.INSTRUMENTS)))
  assert pipeline.class_names(tiny_config(notes_dir)) == (
      synthetic_notes.INSTRUMENTS)


def test_synthetic_notes_have_harmonic_peaks_at_pitch(notes_dir):
  source = _notes_source(notes_dir)
  for i in range(len(source)):
    ex = source[i]
    f0 = float(synthetic_notes.midi_to_hz(ex['pitch']))
    power = np.abs(np.fft.rfft(ex['audio'] * np.hanning(CLIP)))**2
    freqs = np.fft.rfftfreq(CLIP, 1.0 / SAMPLE_RATE)
    tolerance = max(0.03 * f0, 2 * SAMPLE_RATE / CLIP)  # 3% or 2 bins
    harmonic = np.round(freqs / f0)
    near = (harmonic >= 1) & (np.abs(freqs - harmonic * f0) <= tolerance)
    # Nearly all energy sits on multiples of the note's f0 ...
    assert power[near].sum() / power.sum() > 0.9, (i, ex['label'], f0)
    # ... and the fundamental itself is a clear peak.
    fundamental = power[np.abs(freqs - f0) <= tolerance].max()
    assert fundamental > 1e3 * np.median(power), (i, ex['label'], f0)


# ---------------------------------------------------------------------------
# audio_folder


@pytest.fixture
def music_folder(tmp_path):
  """piano/: 44.1 kHz stereo 440 Hz; voice/: 8 kHz mono 300 Hz; metadata."""
  root = tmp_path / 'music'
  rng = np.random.default_rng(0)
  for i in range(3):
    t = np.arange(int(44100 * (0.3 + 0.1 * i))) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    _write(str(root / 'piano' / f'p{i}.wav'),
           np.stack([tone, tone + 0.01 * rng.standard_normal(len(t))], 1),
           44100)
    t = np.arange(int(8000 * 0.5)) / 8000
    _write(str(root / 'voice' / f'v{i}.wav'),
           0.5 * np.sin(2 * np.pi * 300 * t), 8000)
  (root / 'metadata.csv').write_text(
      'v0|Hello "world"|hello world\nv1|Doctor Who|\np0|a note|a note\n')
  return root


def test_audio_folder_resamples_labels_and_transcripts(music_folder, tmp_path):
  builder = audio_folder.AudioFolder(folder=str(music_folder), sample_rate=16000,
                                     data_dir=str(tmp_path / 'tfds'))
  builder.download_and_prepare(file_format='array_record')
  names = builder.info.features['label'].names
  assert names == ['piano', 'voice']
  splits = builder.as_data_source()
  assert len(splits['test']) >= 1
  examples = [s[i] for s in splits.values() for i in range(len(s))]
  assert sorted(e['path'].decode() for e in examples) == [
      f'{c}/{c[0]}{i}.wav' for c in ('piano', 'voice') for i in range(3)]
  for e in examples:
    path, audio = e['path'].decode(), e['audio']
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert names[e['label']] == path.split('/')[0]
    if path.startswith('piano'):
      i = int(path[-5])
      assert len(audio) == round(16000 * (0.3 + 0.1 * i))
      assert abs(_peak_hz(audio, 16000) - 440) < 20
    else:
      assert len(audio) == 8000
      assert abs(_peak_hz(audio, 16000) - 300) < 20
  text = {e['id'].decode(): e['text'].decode() for e in examples}
  # The normalized column wins; an empty one falls back to the raw text.
  assert text == {'v0': 'hello world', 'v1': 'Doctor Who', 'v2': '',
                  'p0': 'a note', 'p1': '', 'p2': ''}


def test_audio_folder_subfolder_is_keyed_by_path_and_rate(music_folder):
  a = audio_folder.folder_config(music_folder, 16000).name
  assert a == audio_folder.folder_config(music_folder, 16000).name
  assert a != audio_folder.folder_config(music_folder, 22050).name
  assert a.startswith('music_sr16000_')


def test_a_resumed_run_is_told_when_its_audio_folder_changed(music_folder, tmp_path):
  from audiodiff import defaults  # pylint: disable=g-import-not-at-top
  from audiodiff.run import model_card  # pylint: disable=g-import-not-at-top
  config = defaults.get_config()
  config.data.name, config.data.folder = 'audio_folder', str(music_folder)
  config.data.data_dir = str(tmp_path / 'tfds')
  version = lambda: pipeline.data_version(pipeline.get_builder(config))
  before = version()
  assert before.startswith('audio_folder/music_sr') and before == version()
  clock = model_card.TrainingClock(str(tmp_path), before)
  clock.record(1)
  _write(str(music_folder / 'voice' / 'v9.wav'), np.zeros(800), 8000)
  after = version()
  assert after != before
  clock = model_card.TrainingClock(str(tmp_path), after)
  assert clock.earlier_data == before and clock.info['data_version'] == after


def test_audio_folder_missing_or_empty(tmp_path):
  with pytest.raises(ValueError, match='does not exist.*Expected a directory'):
    audio_folder.AudioFolder(folder=str(tmp_path / 'absent'), sample_rate=8000,
                             data_dir=str(tmp_path / 'tfds'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ValueError, match='contains no audio files'):
    audio_folder.AudioFolder(folder=str(tmp_path / 'empty'), sample_rate=8000,
                             data_dir=str(tmp_path / 'tfds'))
  config = tiny_config(tmp_path, name='audio_folder')
  with pytest.raises(ValueError, match='config.data.folder'):
    pipeline.get_dataset(config, 'train')


@pytest.mark.parametrize('bad_name, problem', [
    ('nan.wav', 'NaN'),
    ('empty.wav', 'no samples'),
])
def test_audio_folder_bad_files(tmp_path, bad_name, problem):
  root = tmp_path / 'data'
  for i in range(4):
    _write(str(root / f'ok{i}.wav'), 0.1 * np.ones(800), 8000)
  bad = np.full(800, np.nan) if bad_name == 'nan.wav' else np.zeros(0)
  _write(str(root / bad_name), bad, 8000, subtype='FLOAT')

  builder = audio_folder.AudioFolder(folder=str(root), sample_rate=8000,
                                     data_dir=str(tmp_path / 'strict'))
  with pytest.raises(audio_io.AudioFileError, match=f'{bad_name}.*{problem}'):
    builder.download_and_prepare(file_format='array_record')

  builder = audio_folder.AudioFolder(folder=str(root), sample_rate=8000,
                                     skip_bad_files=True,
                                     data_dir=str(tmp_path / 'lenient'))
  builder.download_and_prepare(file_format='array_record')
  paths = [s[i]['path'].decode() for s in builder.as_data_source().values()
           for i in range(len(s))]
  assert sorted(paths) == [f'ok{i}.wav' for i in range(4)]


def test_audio_folder_skipped_test_file_leaves_test_split_nonempty(tmp_path):
  root = tmp_path / 'data'
  names = [f'f{i}.wav' for i in range(5)]
  _, (test_file,) = audio_folder.split_files(names)
  for name in names:
    bad = name == test_file  # the only file the hash puts in 'test'
    _write(str(root / name), np.full(800, np.nan if bad else 0.1), 8000,
           subtype='FLOAT')
  builder = audio_folder.AudioFolder(folder=str(root), sample_rate=8000,
                                     skip_bad_files=True,
                                     data_dir=str(tmp_path / 'tfds'))
  builder.download_and_prepare(file_format='array_record')
  splits = builder.as_data_source()
  assert len(splits['test']) == 1 and len(splits['train']) == 3


# ---------------------------------------------------------------------------
# pipeline


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def _assert_same_batches(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x['audio'], y['audio'])
    np.testing.assert_array_equal(x['label'], y['label'])


def test_pipeline_batches(notes_dir):
  config = tiny_config(notes_dir, segment_length=1500)
  batch = next(iter(pipeline.get_dataset(config, 'train')))
  assert set(batch) == {'audio', 'label'}
  assert batch['audio'].shape == (4, 1500) and batch['audio'].dtype == np.float32
  assert batch['label'].shape == (4,) and batch['label'].dtype == np.int32
  # 'peak' normalisation: every cropped example peaks at 0.95.
  np.testing.assert_allclose(np.abs(batch['audio']).max(axis=1), 0.95,
                             rtol=1e-5)
  assert pipeline.num_classes(config) == 4
  # One finite pass without shuffling: the whole split, in order.
  config = tiny_config(notes_dir)
  batches = list(pipeline.get_dataset(config, 'train', shuffle=False,
                                      num_epochs=1))
  assert len(batches) == NUM_CLIPS // 4
  source = _notes_source(notes_dir)
  assert [int(l) for b in batches for l in b['label']] == [
      int(source[i]['label']) for i in range(NUM_CLIPS)]


def test_pipeline_seed_controls_order(notes_dir):
  config = tiny_config(notes_dir)
  first = _take(iter(pipeline.get_dataset(config, 'train')), 2)
  _assert_same_batches(first,
                       _take(iter(pipeline.get_dataset(config, 'train')), 2))
  other = _take(iter(pipeline.get_dataset(config, 'train', seed=1)), 2)
  assert not np.array_equal(first[0]['audio'], other[0]['audio'])


def test_pipeline_errors(notes_dir):
  with pytest.raises(ValueError, match="'nope'.*audio_folder.*synthetic_notes"):
    pipeline.get_dataset(tiny_config(notes_dir, name='nope'), 'train')
  config = tiny_config(notes_dir)
  config.train.batch_size = 32  # more than the 16 clips
  with pytest.raises(ValueError, match='fewer than the per-process batch'):
    pipeline.get_dataset(config, 'train', num_epochs=1)
  # Repeated forever, a small split (2 test clips) still fills batches.
  batch = next(iter(pipeline.get_dataset(config, 'test', shuffle=False)))
  assert batch['audio'].shape == (32, CLIP)


def test_iterator_state_restores_identical_batches(notes_dir):
  config = tiny_config(notes_dir, segment_length=1000)  # random crops
  iterator = iter(pipeline.get_dataset(config, 'train'))
  _take(iterator, 3)
  state = iterator.get_state()
  # 5 more batches cross the epoch boundary (4 batches per epoch).
  expected = _take(iterator, 5)
  resumed = iter(pipeline.get_dataset(config, 'train'))
  resumed.set_state(state)
  _assert_same_batches(expected, _take(resumed, 5))


def test_iterator_state_through_orbax(notes_dir, tmp_path):
  """The exact calls the training loop makes: Composite + grain handler."""
  import grain  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  config = tiny_config(notes_dir, segment_length=1000)
  iterator = iter(pipeline.get_dataset(config, 'train'))
  _take(iterator, 2)
  with ocp.CheckpointManager(tmp_path / 'ckpt') as manager:
    manager.save(2, args=ocp.args.Composite(
        data_iter=grain.checkpoint.CheckpointSave(iterator)))
    manager.wait_until_finished()
  expected = _take(iterator, 3)

  resumed = iter(pipeline.get_dataset(config, 'train'))
  with ocp.CheckpointManager(tmp_path / 'ckpt') as manager:
    restored = manager.restore(manager.latest_step(), args=ocp.args.Composite(
        data_iter=grain.checkpoint.CheckpointRestore(resumed)))
  assert restored['data_iter'] is resumed
  _assert_same_batches(expected, _take(resumed, 3))


def test_pipeline_over_audio_folder(music_folder, tmp_path):
  config = tiny_config(tmp_path / 'tfds', name='audio_folder',
                       folder=str(music_folder), normalize='loudness')
  config.train.batch_size = 2
  batch = next(iter(pipeline.get_dataset(config, 'train')))
  assert batch['audio'].shape == (2, CLIP)
  assert pipeline.class_names(config) == ('piano', 'voice')


# ---------------------------------------------------------------------------
# Builders: one base class, one registration


def test_builtin_datasets_register_themselves(music_folder, tmp_path):
  built_in = ('audio_folder', 'flite_speech', 'midi_music', 'real_speech', 'synthetic_notes')
  assert set(built_in) <= set(pipeline.DATASETS.names())
  for name in built_in:
    config = tiny_config(tmp_path, name=name, folder=str(music_folder))
    made = pipeline.get_builder(config)  # imports the module on first use
    module = importlib.import_module(f'audiodiff.data.{name}')
    assert isinstance(made, builder.AudioBuilder)
    assert str(type(made).code_path) == module.__file__
    assert made.info.metadata['sample_rate'] == SAMPLE_RATE


def test_builder_reuses_the_listed_config(tmp_path):
  # A new config object named like the class's default one: TFDS would refuse
  # it, the base class swaps in the listed object.
  notes = synthetic_notes.SyntheticNotes(
      config=synthetic_notes.notes_config(16000, 16000, 512),
      data_dir=str(tmp_path))
  assert notes.builder_config is synthetic_notes.DEFAULT_CONFIG


# ---------------------------------------------------------------------------
# Features


class PairedClips(builder.AudioBuilder):
  """Noise clips of 500 to 5000 samples, 'noisy' = 0.5 * 'audio' beside each."""

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [builder.AudioBuilderConfig(name=f'sr{SAMPLE_RATE}',
                                                sample_rate=SAMPLE_RATE)]

  def _features(self):
    return {
        'audio': builder.audio_feature(),
        'noisy': builder.audio_feature(),
        'speaker': tfds.features.Scalar(dtype=np.int32),
        'index': tfds.features.Scalar(dtype=np.int32),  # not audio
    }

  def _split_generators(self, dl_manager):
    del dl_manager
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    rng = np.random.default_rng(0)
    for i in range(8):
      audio = rng.uniform(-0.5, 0.5, int(rng.integers(500, 5000)))
      yield i, {'audio': audio.astype(np.float32),
                'noisy': (0.5 * audio).astype(np.float32),
                'speaker': i % 3, 'index': i}


@pipeline.DATASETS.register('paired_clips')
def _paired_clips(config, data_dir):
  del config
  return PairedClips(data_dir=data_dir)


@pytest.fixture(scope='module')
def paired_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('paired')
  PairedClips(data_dir=str(data_dir)).download_and_prepare()
  return data_dir


def test_paired_audio_shares_crop_and_gain(paired_dir):
  config = tiny_config(paired_dir, name='paired_clips')
  config.train.batch_size = 8
  features = ('audio', 'noisy', 'audio_mask', 'speaker')
  batch = next(iter(pipeline.get_dataset(config, 'train', features=features)))
  assert set(batch) == set(features)
  assert batch['noisy'].shape == (8, CLIP)
  assert batch['noisy'].dtype == np.float32
  assert batch['speaker'].dtype == np.int32
  assert set(batch['speaker']) == {0, 1, 2}
  # Noise has no self-similarity: a crop at another offset, or a gain of its
  # own (peak 0.95 instead of 0.475), would break the 1:2 ratio.
  np.testing.assert_allclose(batch['noisy'], 0.5 * batch['audio'], atol=1e-6)
  np.testing.assert_allclose(np.abs(batch['audio']).max(axis=1), 0.95,
                             rtol=1e-5)
  padded = batch['audio_mask'] == 0
  assert padded.any() and (batch['audio_mask'] == 1).any()
  assert not np.any(batch['noisy'][padded])


def test_crops_are_deterministic_and_feature_independent(paired_dir):
  config = tiny_config(paired_dir, name='paired_clips')
  features = ('audio', 'noisy', 'audio_mask')
  a = _take(iter(pipeline.get_dataset(config, 'train', features=features)), 3)
  b = _take(iter(pipeline.get_dataset(config, 'train', features=features)), 3)
  # Asking for fewer features leaves the crops of 'audio' as they were.
  c = _take(iter(pipeline.get_dataset(config, 'train', features=('audio',))),
            3)
  for x, y, z in zip(a, b, c):
    for key in features:
      np.testing.assert_array_equal(x[key], y[key])
    np.testing.assert_array_equal(x['audio'], z['audio'])


@pytest.fixture
def short_folder(tmp_path):
  """Clips of 500, 1200 and 3000 samples at 8 kHz with UTF-8 transcripts."""
  root = tmp_path / 'short'
  lengths = {'a': 500, 'b': 1200, 'c': 3000}
  texts = {'a': 'Café au lait.', 'b': 'Über zwölf Boxkämpfer.', 'c': 'Plain.'}
  rng = np.random.default_rng(1)
  for stem, n in lengths.items():
    # Never zero: the padding is then the only place 'audio' is zero.
    _write(str(root / f'{stem}.wav'), rng.uniform(0.1, 0.5, n), SAMPLE_RATE)
  (root / 'metadata.csv').write_text(
      ''.join(f'{s}|{t}|{t}\n' for s, t in texts.items()), encoding='utf-8')
  return root, lengths, texts


def test_features_over_audio_folder(short_folder, tmp_path):
  root, lengths, texts = short_folder
  config = tiny_config(tmp_path / 'tfds', name='audio_folder', folder=str(root))
  config.train.batch_size = 3
  config.data.max_text_length = 16
  batch = next(iter(pipeline.get_dataset(
      config, 'train+test', features=pipeline.FEATURES, shuffle=False)))
  shapes = {'audio': ((3, CLIP), np.float32),
            'audio_mask': ((3, CLIP), np.float32),
            'label': ((3,), np.int32), 'text': ((3, 16), np.int32),
            'text_length': ((3,), np.int32), 'speaker': ((3,), np.int32)}
  assert {k: (v.shape, v.dtype) for k, v in batch.items()} == shapes
  assert not np.any(batch['speaker'])  # no stored speaker
  by_text = {t.encode(): s for s, t in texts.items()}
  seen = set()
  for i in range(3):
    size = batch['text_length'][i]
    data = bytes(batch['text'][i].astype(np.uint8))
    assert not any(data[size:])  # zero-padded
    # Transcripts longer than 16 bytes are cut at a byte, not a character.
    (full,) = [t for t in by_text if t[:16] == data[:size]]
    assert size == min(len(full), 16)
    stem = by_text[full]
    seen.add(stem)
    mask, audio = batch['audio_mask'][i], batch['audio'][i]
    assert set(np.unique(mask)) <= {0.0, 1.0}
    real = min(lengths[stem], CLIP)
    np.testing.assert_array_equal(mask[:real], 1.0)
    np.testing.assert_array_equal(mask[real:], 0.0)
    assert np.all(audio[:real] != 0) and not np.any(audio[real:])
  assert seen == set(texts)


def test_text_round_trips_through_the_pipeline(short_folder, tmp_path):
  root, _, texts = short_folder
  config = tiny_config(tmp_path / 'tfds', name='audio_folder', folder=str(root))
  config.train.batch_size = 3
  batch = next(iter(pipeline.get_dataset(
      config, 'train+test', features=('text', 'text_length'), shuffle=False)))
  assert set(batch) == {'text', 'text_length'}
  decoded = {bytes(t[:n].astype(np.uint8)).decode('utf-8')
             for t, n in zip(batch['text'], batch['text_length'])}
  assert decoded == set(texts.values())


def test_feature_errors(notes_dir, paired_dir):
  config = tiny_config(notes_dir)
  with pytest.raises(ValueError,
                     match="Unknown feature 'nope'.*valid features: audio, "
                           'audio_mask, label, text, text_length, speaker'):
    pipeline.get_dataset(config, 'train', features=('audio', 'nope'))
  # 'text' is a known feature, but synthetic notes store no transcript.
  with pytest.raises(ValueError, match=(
      r"'text_length' needs a stored 'text'.*'synthetic_notes' stores "
      r"\['audio', 'id', 'label', 'pitch'\]")):
    pipeline.get_dataset(config, 'train', features=('text_length',))
  with pytest.raises(TypeError, match='not the string'):
    pipeline.get_dataset(config, 'train', features='audio')
  # A stored string is neither audio nor a number per example.
  with pytest.raises(ValueError, match="Unknown feature 'id'.*speaker, pitch"):
    pipeline.get_dataset(config, 'train', features=('audio', 'id'))
  # A stored number per example (midi_music's key and tempo) comes as int32.
  config = tiny_config(paired_dir, name='paired_clips')
  batch = next(iter(pipeline.get_dataset(config, 'train', features=('audio', 'index'))))
  assert batch['index'].dtype == np.int32 and batch['index'].shape == batch['audio'].shape[:1]


def test_notes_features(notes_dir):
  config = tiny_config(notes_dir)
  batch = next(iter(pipeline.get_dataset(
      config, 'train', features=('label', 'audio_mask', 'speaker'))))
  assert set(batch) == {'label', 'audio_mask', 'speaker'}
  # Notes are made at the segment length: nothing is padded.
  assert batch['audio_mask'].shape == (4, CLIP)
  assert np.all(batch['audio_mask'] == 1.0)
  assert batch['speaker'].dtype == np.int32 and not np.any(batch['speaker'])
