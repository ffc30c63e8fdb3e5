"""AudioFolder: a TFDS builder over the user's own directory of audio files.

Expected layout (any sample rate, mono or multichannel, wav/flac/ogg):

  folder/
    metadata.csv          optional, LJSpeech style: `id|text|normalized text`,
                          id = file stem; gives each file a transcript
    piano/a.wav           optional sub-folders: one class each (label)
    voice/b.flac
    c.ogg                 files at the top level get the folder's own name

Paired recordings for enhancement (the VoiceBank-DEMAND layout) have two
sub-folders with the same file names:

  folder/clean/p232_001.wav    the 'audio' feature (the target)
  folder/noisy/p232_001.wav    the 'noisy' feature, same length

Splits, the first layout that applies:
  folder/train/..., folder/test/... (and optionally folder/valid/...): each
      top folder is a split, laid out inside as above (VoiceBank-DEMAND:
      train/clean, train/noisy, test/clean, test/noisy);
  folder/train.txt, folder/test.txt (optionally valid.txt): lists of the
      files' paths relative to the folder, one per line;
  otherwise about 5% of the files (at least one) form the 'test' split,
      chosen by a hash of the file's path so the choice survives adding
      other files.
Training reads 'train', evaluation and the benchmarks 'test'.

Audio is mixed to mono and resampled to the configured rate once, at prepare
time.
"""

import dataclasses
import hashlib
import os
import re

from absl import logging
import tensorflow_datasets as tfds

from audiodiff.audio import audio_io
from audiodiff.data import builder
from audiodiff.data import pipeline
from audiodiff.errors import UserError

METADATA_FILE = 'metadata.csv'
SPLITS = ('train', 'valid', 'test')
TEST_PERCENT = 5

_LAYOUT_HINT = (
    'Expected a directory of audio files (.wav, .flac, .ogg), optionally in one '
    'sub-folder per class, with an optional LJSpeech-style metadata.csv '
    '(`id|text|normalized text`); set it with --config.data.folder=/path.')


@dataclasses.dataclass
class AudioFolderConfig(builder.AudioBuilderConfig):
  """Build with `folder_config` so the name tracks the folder and rate."""
  folder: str = ''
  skip_bad_files: bool = False


def scan_folder(folder):
  """Audio files under `folder`, relative posix paths, sorted.

  Raises:
    ValueError: the folder is missing or holds no audio file.
  """
  folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
  if not folder or not os.path.isdir(folder):
    raise UserError(f'Audio folder {folder!r} does not exist or is not a '
                     f'directory. {_LAYOUT_HINT}')
  files = []
  for root, dirs, names in os.walk(folder, followlinks=True):
    dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
    for name in names:
      if (not name.startswith('.')
          and name.lower().endswith(audio_io.AUDIO_EXTENSIONS)):
        rel = os.path.relpath(os.path.join(root, name), folder)
        files.append(rel.replace(os.sep, '/'))
  if not files:
    raise UserError(f'Audio folder {folder!r} contains no audio files. '
                     f'{_LAYOUT_HINT}')
  return sorted(files)


def _fingerprint(folder, sample_rate, files, skip_bad_files):
  """Hash of folder, rate, every setting that changes the prepared examples
  (skip_bad_files) and the file listing: any change means a new subfolder."""
  h = hashlib.sha1()
  h.update(f'{folder}\0{int(sample_rate)}\0{bool(skip_bad_files)}\0'.encode())
  # Sizes and mtimes catch edited files without reading them.
  for rel in files + [METADATA_FILE] + [f'{split}.txt' for split in SPLITS]:
    path = os.path.join(folder, rel)
    if os.path.exists(path):
      st = os.stat(path)
      h.update(f'{rel}\0{st.st_size}\0{st.st_mtime_ns}\0'.encode())
  return h.hexdigest()[:12]


def folder_config(folder, sample_rate, skip_bad_files=False):
  """A config named `<folder basename>_sr<rate>_<hash>`, unique per setting."""
  folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
  files = scan_folder(folder)
  base = re.sub(r'[^\w\-]', '_', os.path.basename(folder.rstrip('/'))) or 'root'
  name = f'{base}_sr{int(sample_rate)}_{_fingerprint(folder, sample_rate, files, skip_bad_files)}'
  return AudioFolderConfig(
      name=name, folder=folder, sample_rate=int(sample_rate),
      skip_bad_files=bool(skip_bad_files),
      description=f'Audio files in {folder} at {sample_rate} Hz')


PAIRED = ('clean', 'noisy')


def split_folders(folder):
  """The split sub-folders (train/ with test/, valid/ optional), or ()."""
  present = tuple(s for s in SPLITS if os.path.isdir(os.path.join(folder, s)))
  return present if 'train' in present and 'test' in present else ()


def _split_prefix(rel_path, folder):
  """'train/' for train/clean/a.wav in a folder split by sub-folders, else ''."""
  first = rel_path.split('/')[0]
  return first + '/' if '/' in rel_path and first in split_folders(folder) else ''


def is_paired(folder):
  """Whether `folder` (or its train/ split) holds clean/ and noisy/ sub-folders."""
  root = os.path.join(folder, 'train') if split_folders(folder) else folder
  return all(os.path.isdir(os.path.join(root, sub)) for sub in PAIRED)


def paired_files(folder, files, available=None):
  """The clean files (as '[split/]clean/<name>') among `files` of a paired
  folder; every one needs its noisy twin among `available` (default: files)."""
  clean = [f for f in files if f[len(_split_prefix(f, folder)):].startswith('clean/')]
  noisy = set(files if available is None else available)
  missing = [f for f in clean if _noisy_path(f, folder) not in noisy]
  if missing or not clean:
    raise UserError(f'Paired audio folder {folder!r}: {len(missing)} of {len(clean)} clean '
                    f'files have no noisy/ file of the same name (e.g. {missing[:1]}). '
                    'Each clean/<name> needs noisy/<name>.')
  return clean


def _noisy_path(clean_rel, folder):
  prefix = _split_prefix(clean_rel, folder)
  return prefix + 'noisy/' + clean_rel[len(prefix) + len('clean/'):]


def label_of(rel_path, folder):
  """Class name: the top-level sub-folder (below a split folder), or the
  folder's name at top level."""
  parts = rel_path[len(_split_prefix(rel_path, folder)):].split('/')
  return parts[0] if len(parts) > 1 else os.path.basename(folder.rstrip('/'))


def read_transcripts(folder):
  """{file stem: text} from metadata.csv ({} without one).

  The normalised column (3rd) wins when present and non-empty. No csv quoting:
  LJSpeech texts contain bare quotes.
  """
  path = os.path.join(folder, METADATA_FILE)
  if not os.path.isfile(path):
    return {}
  transcripts = {}
  with open(path, encoding='utf-8') as f:
    for line in f:
      parts = line.rstrip('\r\n').split('|')
      if len(parts) < 2 or not parts[0].strip():
        continue
      text = parts[2] if len(parts) > 2 and parts[2].strip() else parts[1]
      transcripts[parts[0].strip()] = text.strip()
  return transcripts


def _split_hash(rel_path):
  return int(hashlib.md5(rel_path.encode()).hexdigest(), 16)


def read_split_lists(folder, files, skipped=frozenset()):
  """{split: files} from folder/<split>.txt lists (train and test needed,
  valid optional), or None without them; entries in `skipped` (bad files
  skip_bad_files dropped) are left out."""
  paths = {s: os.path.join(folder, f'{s}.txt') for s in SPLITS}
  present = [s for s in SPLITS if os.path.isfile(paths[s])]
  if not present:
    return None
  if 'train' not in present or 'test' not in present:
    missing = 'test' if 'train' in present else 'train'
    raise UserError(f'{folder} has {" and ".join(p + ".txt" for p in present)} but no '
                    f'{missing}.txt: split lists need both train.txt and test.txt (or remove '
                    'the lists for a split by hash).')
  known, owner, splits = set(files), {}, {}
  for split in present:
    with open(paths[split], encoding='utf-8') as f:
      entries = [(number, line.strip().replace(os.sep, '/').removeprefix('./'))
                 for number, line in enumerate(f, 1)
                 if line.strip() and not line.startswith('#')]
    if not entries and split != 'valid':
      raise UserError(f'{paths[split]} lists no file; list the {split} files, paths relative '
                      f'to {folder}, one per line.')
    for number, entry in entries:
      if entry in skipped:
        continue
      if entry not in known:
        raise UserError(f'{paths[split]} line {number}: {entry!r} is not an audio file in '
                        f'{folder}; list paths relative to the folder, one per line.')
      if entry in owner:
        raise UserError(f'{entry!r} is listed in both {owner[entry]}.txt and {split}.txt in '
                        f'{folder}; a file belongs to one split.')
      owner[entry] = split
    splits[split] = [entry for _, entry in entries if entry not in skipped]
  return splits


def assign_splits(folder, files, skipped=frozenset()):
  """{split: files}: split folders, else split lists, else the path hash
  (skipped: bad files already left out of `files`)."""
  tops = split_folders(folder)
  if tops:
    splits = {s: [f for f in files if f.startswith(s + '/')] for s in tops}
    empty = [s for s, members in splits.items() if not members]
    if empty:
      raise UserError(f'Audio folder {folder!r}: the split folder {empty[0]}/ holds no audio '
                      'file.')
    return splits
  lists = read_split_lists(folder, files, skipped)
  if lists is not None:
    return lists
  train, test = split_files(files)
  return {'train': train, 'test': test}


def split_files(files):
  """(train, test) lists: ~TEST_PERCENT% by path hash, test never empty."""
  test = [f for f in files if _split_hash(f) % 100 < TEST_PERCENT]
  if not test:
    test = [min(files, key=_split_hash)]
  train = [f for f in files if f not in set(test)]
  if not train:
    # One file: training still needs data; evaluation on it is then optimistic.
    logging.warning('Audio folder has a single file; it is used for both the '
                    'train and the test split.')
    train = list(test)
  return train, test


class AudioFolder(builder.AudioBuilder):
  """The user's audio files as a TFDS dataset (see the module docstring).

  `AudioFolder(folder=..., sample_rate=..., skip_bad_files=..., data_dir=...)`
  or `AudioFolder(config=folder_config(...), data_dir=...)`.
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Mono, resampled, labels from sub-folders.'}

  def __init__(self, *, config=None, folder=None, sample_rate=None,
               skip_bad_files=False, **kwargs):
    if config is None:
      if folder is None or sample_rate is None:
        raise UserError('AudioFolder needs `folder` and `sample_rate` (or a '
                         'config from folder_config).')
      config = folder_config(folder, sample_rate, skip_bad_files)
    super().__init__(config=config, **kwargs)

  def _features(self):
    folder = self.builder_config.folder
    if is_paired(folder):
      return {
          'audio': builder.audio_feature(),
          'noisy': builder.audio_feature(),
          'label': tfds.features.ClassLabel(names=['clean']),
          'id': tfds.features.Text(),
          'path': tfds.features.Text(),
          'text': tfds.features.Text(),
      }
    names = sorted({label_of(f, folder) for f in scan_folder(folder)})
    return {
        'audio': builder.audio_feature(),
        'label': tfds.features.ClassLabel(names=names),
        'id': tfds.features.Text(),    # file stem (metadata.csv key)
        'path': tfds.features.Text(),  # relative to the folder
        'text': tfds.features.Text(),  # '' without a transcript
    }

  def _metadata(self):
    return {'folder': self.builder_config.folder}

  def _split_generators(self, dl_manager):
    del dl_manager  # local files only
    cfg = self.builder_config
    files = scan_folder(cfg.folder)
    usable = files
    if cfg.skip_bad_files:
      # Dropped before splitting (a second read of each file): a hashed test
      # split whose only file is bad would otherwise end up empty.
      usable = [f for f in files if self._usable(f)]
    skipped = set(files) - set(usable)
    paired = is_paired(cfg.folder)
    if paired and not (split_folders(cfg.folder)
                       or read_split_lists(cfg.folder, usable, skipped)):
      usable = paired_files(cfg.folder, usable)  # the hash then splits the pairs
    splits = assign_splits(cfg.folder, usable, skipped)
    empty = [s for s, members in splits.items() if not members]
    if empty:
      raise UserError(f'Audio folder {cfg.folder!r} has no usable audio file in its '
                      f'{empty[0]!r} split (all were skipped as bad). {_LAYOUT_HINT}')
    if paired:
      splits = {s: paired_files(cfg.folder, members, available=files)
                for s, members in splits.items()}
    return {split: self._generate_examples(members) for split, members in splits.items()}

  def _usable(self, rel):
    try:
      audio_io.read_audio(os.path.join(self.builder_config.folder, rel))
    except audio_io.AudioFileError as e:
      logging.warning('Skipping bad audio file (skip_bad_files=True): %s', e)
      return False
    return True

  def _generate_examples(self, files):
    cfg = self.builder_config
    transcripts = read_transcripts(cfg.folder)
    num_skipped = 0
    for rel in files:
      try:
        audio = audio_io.load_audio(os.path.join(cfg.folder, rel),
                                    cfg.sample_rate)
      except audio_io.AudioFileError as e:
        if not cfg.skip_bad_files:
          raise
        num_skipped += 1  # only if it changed since _split_generators
        logging.warning('Skipping bad audio file (skip_bad_files=True): %s', e)
        continue
      stem = os.path.splitext(os.path.basename(rel))[0]
      if is_paired(cfg.folder):
        yield rel, self._pair(rel, audio, stem, transcripts)
        continue
      yield rel, {
          'audio': audio,
          'label': label_of(rel, cfg.folder),
          'id': stem,
          'path': rel,
          'text': transcripts.get(stem, ''),
      }
    if num_skipped:
      logging.warning('Skipped %d of %d audio files in %s.', num_skipped,
                      len(files), cfg.folder)


  def _pair(self, rel, clean, stem, transcripts):
    """The example of clean/<name> with its noisy/<name>, cut to one length."""
    cfg = self.builder_config
    noisy_rel = _noisy_path(rel, cfg.folder)
    noisy = audio_io.load_audio(os.path.join(cfg.folder, noisy_rel), cfg.sample_rate)
    if abs(len(noisy) - len(clean)) > 0.01 * len(clean) + 1:
      raise UserError(f'{cfg.folder}/{rel} and {noisy_rel} differ in length ({len(clean)} '
                      f'and {len(noisy)} samples at {cfg.sample_rate} Hz): a pair must be '
                      'the same recording.')
    length = min(len(clean), len(noisy))
    return {'audio': clean[:length], 'noisy': noisy[:length], 'label': 'clean',
            'id': stem, 'path': rel, 'text': transcripts.get(stem, '')}


@pipeline.DATASETS.register('audio_folder')
def make_builder(config, data_dir):
  """The pipeline's factory for config.data.name == 'audio_folder'.

  Reads config.data.folder, config.data.skip_bad_files and
  config.audio.sample_rate. Not prepared yet.
  """
  if not config.data.folder:
    raise UserError(
        "config.data.name='audio_folder' needs config.data.folder, a directory "
        'of .wav/.flac/.ogg files (one sub-folder per class optional): '
        '--config.data.folder=/path/to/audio')
  return AudioFolder(folder=config.data.folder,
                     sample_rate=config.audio.sample_rate,
                     skip_bad_files=config.data.skip_bad_files,
                     data_dir=data_dir)
