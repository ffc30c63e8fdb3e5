"""audio_folder splits: train/valid/test sub-folders, split lists, the hash."""

import numpy as np
import pytest
import soundfile as sf

from audiodiff.data import audio_folder
from audiodiff.errors import UserError

RATE = 8000


def _tone(path, hz=300.0, seconds=0.2):
  path.parent.mkdir(parents=True, exist_ok=True)
  t = np.arange(int(RATE * seconds)) / RATE
  sf.write(path, 0.3 * np.sin(2 * np.pi * hz * t), RATE)


def _prepared_splits(folder, tmp_path):
  builder = audio_folder.AudioFolder(folder=str(folder), sample_rate=RATE,
                                     data_dir=str(tmp_path / 'tfds'))
  builder.download_and_prepare(file_format='array_record')
  return builder, {split: sorted(source[i]['path'].decode() for i in range(len(source)))
                   for split, source in builder.as_data_source().items()}


def test_split_folders_with_classes_inside(tmp_path):
  root = tmp_path / 'corpus'
  for split, count in (('train', 3), ('valid', 1), ('test', 2)):
    for i in range(count):
      _tone(root / split / 'piano' / f'p{i}.wav', 440)
      _tone(root / split / 'voice' / f'v{i}.wav', 300)
  builder, splits = _prepared_splits(root, tmp_path)
  assert set(splits) == {'train', 'valid', 'test'}
  assert splits['test'] == ['test/piano/p0.wav', 'test/piano/p1.wav', 'test/voice/v0.wav',
                            'test/voice/v1.wav']
  assert len(splits['train']) == 6 and len(splits['valid']) == 2
  assert builder.info.features['label'].names == ['piano', 'voice']


def test_paired_split_folders_are_the_voicebank_layout(tmp_path):
  root = tmp_path / 'vb'
  for split, names in (('train', ('p226_001', 'p226_002', 'p227_001')), ('test', ('p232_001',))):
    for name in names:
      _tone(root / split / 'clean' / f'{name}.wav', 300)
      _tone(root / split / 'noisy' / f'{name}.wav', 310)
  builder, splits = _prepared_splits(root, tmp_path)
  assert splits == {'train': ['train/clean/p226_001.wav', 'train/clean/p226_002.wav',
                              'train/clean/p227_001.wav'],
                    'test': ['test/clean/p232_001.wav']}
  example = builder.as_data_source()['test'][0]
  assert example['noisy'].shape == example['audio'].shape


def test_split_lists(tmp_path):
  root = tmp_path / 'listed'
  for i in range(5):
    _tone(root / f'a{i}.wav')
  (root / 'train.txt').write_text('a0.wav\n./a1.wav\n\n# a comment\na2.wav\n')
  (root / 'test.txt').write_text('a3.wav\n')
  _, splits = _prepared_splits(root, tmp_path)
  assert splits == {'train': ['a0.wav', 'a1.wav', 'a2.wav'], 'test': ['a3.wav']}


@pytest.mark.parametrize('train, test, message', [
    ('a0.wav\nmissing.wav\n', 'a1.wav\n', r'train.txt line 2: .missing.wav. is not an audio'),
    ('# mine\n\na0.wav\nmissing.wav\n', 'a1.wav\n', r'train.txt line 4: .missing.wav.'),
    ('a0.wav\n', 'a0.wav\n', r'listed in both train.txt and test.txt'),
    ('a0.wav\n', None, r'has train.txt but no test.txt'),
    (None, 'a0.wav\n', r'has test.txt but no train.txt'),
    ('# nothing yet\n', 'a1.wav\n', r'train.txt lists no file'),
])
def test_bad_split_lists_are_named(tmp_path, train, test, message):
  root = tmp_path / 'listed'
  for i in range(2):
    _tone(root / f'a{i}.wav')
  for name, text in (('train.txt', train), ('test.txt', test)):
    if text is not None:
      (root / name).write_text(text)
  with pytest.raises(UserError, match=message):
    audio_folder.assign_splits(str(root), audio_folder.scan_folder(root))


def test_without_splits_the_hash_decides_and_a_lone_train_folder_is_a_class(tmp_path):
  root = tmp_path / 'plain'
  for i in range(20):
    _tone(root / 'train' / f'a{i}.wav')  # no test/: 'train' is a class name here
  splits = audio_folder.assign_splits(str(root), audio_folder.scan_folder(root))
  assert set(splits) == {'train', 'test'} and len(splits['test']) >= 1
  assert audio_folder.label_of('train/a0.wav', str(root)) == 'train'


def test_an_empty_split_folder_fails_and_leaves_no_empty_folders(tmp_path):
  from experiments.configs import tiny  # pylint: disable=g-import-not-at-top
  from audiodiff.data import pipeline  # pylint: disable=g-import-not-at-top
  root = tmp_path / 'corpus'
  for i in range(2):
    _tone(root / 'train' / f'a{i}.wav')
  (root / 'test').mkdir()
  (tmp_path / 'tfds').mkdir()
  (tmp_path / 'tfds' / 'mine.txt').write_text('a file of the user')
  config = tiny.get_config()
  config.data.name, config.data.folder = 'audio_folder', str(root)
  config.data.data_dir = str(tmp_path / 'tfds')
  with pytest.raises(UserError, match='test/ holds no audio file'):
    pipeline._prepare(pipeline.get_builder(config))  # pylint: disable=protected-access
  assert sorted(p.name for p in (tmp_path / 'tfds').iterdir()) == ['mine.txt']
