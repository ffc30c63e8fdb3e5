"""From config to batches: TFDS data source -> Grain pipeline -> sharded arrays.

    ds = get_dataset(config, 'train', mesh=mesh)   # a grain.IterDataset
    it = iter(ds)                                  # a grain.DatasetIterator
    batch = make_global_batch(next(it), mesh)      # {'audio': [B, T], 'label': [B]}

A task picks the features it reads: `get_dataset(config, 'train',
features=('audio', 'text', 'text_length'))` (see FEATURES).

The iterator position is checkpointable: `it.get_state()` / `it.set_state()`
(a small JSON-able dict), or with Orbax inside a Composite:
`grain.checkpoint.CheckpointSave(it)` / `grain.checkpoint.CheckpointRestore(it)`.
Every random choice (shuffle order, crop offsets) is a function of the seed and
the element's index, so a restored iterator yields exactly the batches the
original would have, and the batches do not depend on config.data.num_workers.
The state's format does: restore with the same num_workers that saved it.
"""

import dataclasses
import errno
import os

from absl import flags
from absl import logging
import grain
import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import shuffle as tfds_shuffle

from audiodiff.audio import audio_io
from audiodiff.errors import UserError
from audiodiff.registry import Registry

DEFAULT_DATA_DIR = '~/.cache/audiodiff/tfds'
TFDS_PREFIX = 'tfds:'
# Batches are assembled inside the MapDataset, so the read-ahead counts whole
# batches: a few hide the latency without holding hundreds of them in memory.
_PREFETCH_BATCHES = 4
_READ_THREADS = 4

# Features any dataset gives (see Preprocess); a dataset's other stored audio
# features (paired signals such as 'noisy') and numbers per example (such
# as 'key', 'tempo') can be named too.
FEATURES = ('audio', 'audio_mask', 'label', 'text', 'text_length', 'speaker')

# name -> factory(config, data_dir) returning an (unprepared) TFDS builder:
# `@pipeline.DATASETS.register('<name>')` on the factory in
# audiodiff/data/<name>.py, imported the first time config.data.name names it.
DATASETS = Registry('config.data.name', package='audiodiff.data',
                    also=(TFDS_PREFIX + '<catalog name>',))


def data_dir_of(config):
  return os.path.expanduser(config.data.data_dir or DEFAULT_DATA_DIR)


def _feature_keys(config):
  """(audio key, label key) in the stored examples."""
  if config.data.name.startswith(TFDS_PREFIX):
    return config.data.audio_key, config.data.label_key
  return 'audio', 'label'


def get_builder(config):
  """The TFDS builder named by config.data.name (not prepared yet)."""
  name = config.data.name
  data_dir = data_dir_of(config)
  if name.startswith(TFDS_PREFIX):
    try:
      return tfds.builder(name[len(TFDS_PREFIX):], data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
      raise UserError(f'config.data.name={name!r}: TFDS has no dataset '
                      f'{name[len(TFDS_PREFIX):]!r}; give a catalog name after '
                      f"'{TFDS_PREFIX}' (e.g. '{TFDS_PREFIX}speech_commands'), or one of "
                      f'audiodiff\'s own: {", ".join(sorted(DATASETS.names()))}.') from None
    except Exception as e:  # TFDS wraps the import error in its own
      if 'tensorflow' not in str(e).lower().replace('tensorflow_datasets', ''):
        raise
      raise ImportError(
          f'TFDS catalog dataset {name!r} needs TensorFlow: tfds.features.Audio '
          'imports it (tensorflow-datasets 4.9). Install tensorflow-cpu, or '
          'download the audio files yourself and use '
          "config.data.name='audio_folder' with config.data.folder.") from e
  return DATASETS.get(name)(config, data_dir)


def data_version(builder) -> str:
  """'<dataset>/<builder config>/<version>' of a builder (`get_builder`):
  changes when the prepared data would (an audio_folder's config name holds
  a digest of its file listing)."""
  named = getattr(builder, 'builder_config', None)
  return f'{builder.name}/{named.name if named else ""}/{builder.version}'


def in_memory_shuffle_bytes() -> int:
  """How much of a split TFDS may shuffle in memory: half this machine's
  memory (at least TFDS's own 1 GB). Past it TFDS spills to temporary files
  through TensorFlow, which audiodiff does not install."""
  try:
    memory = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  except (ValueError, OSError, AttributeError):
    memory = 0
  return max(memory // 2, 1000 << 20)


# Raised for every corpus prepared in a process that imports this module
# (a task's own side corpora and the benchmarks' renderings included).
tfds_shuffle.MAX_MEM_BUFFER_SIZE = max(tfds_shuffle.MAX_MEM_BUFFER_SIZE,
                                       in_memory_shuffle_bytes())


def _prepare(builder):
  """download_and_prepare, process 0 first so hosts sharing a disk don't race;
  a data_dir that cannot be written is a UserError naming it, as is a split
  too large to shuffle in memory without TensorFlow. A failed preparation
  (an empty split folder, a bad file) leaves no new empty folders in
  data_dir."""
  root = _data_root(builder)
  before = _folders(root)
  try:
    _prepare_once(builder)
  except ModuleNotFoundError as error:
    _remove_new_empty_folders(root, before)
    if error.name != 'tensorflow':
      raise
    raise UserError(
        f'Preparing {data_version(builder)}: a split holds over '
        f'{tfds_shuffle.MAX_MEM_BUFFER_SIZE / 2**30:.1f} GiB of audio, more than TFDS '
        'shuffles in memory here (half of this machine\'s memory); past that it needs '
        'TensorFlow. Lower config.data.num_examples, or pip install tensorflow-cpu.') from None
  except OSError as error:
    _remove_new_empty_folders(root, before)
    if error.errno == errno.ENOSPC:
      raise  # main reports a full disk
    raise UserError(f'The dataset cannot be written to {builder.data_dir} '
                    f'({error.strerror or error}); give a writable folder with '
                    '--config.data.data_dir=DIR.') from None
  except BaseException:
    _remove_new_empty_folders(root, before)
    raise


def _data_root(builder):
  """The data_dir the builder was given (builder.data_dir adds name/config/version)."""
  path = os.path.abspath(str(builder.data_dir))
  marker = os.sep + builder.name + os.sep
  return path.split(marker)[0] if marker in path else os.path.dirname(path)


def _folders(root):
  """Every folder under root (root included), or an empty set if it is absent."""
  if not os.path.isdir(root):
    return set()
  return {dirpath for dirpath, _, _ in os.walk(root)}


def _remove_new_empty_folders(root, before):
  """Removes folders under root made since `before` that hold nothing,
  deepest first; files and older folders are never touched."""
  for folder in sorted(_folders(root) - before, key=len, reverse=True):
    try:
      os.rmdir(folder)  # only succeeds when empty
    except OSError:
      pass


def _prepare_once(builder):
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    if jax.process_index() == 0:
      builder.download_and_prepare()
    multihost_utils.sync_global_devices('audiodiff_data_prepared')
    if jax.process_index() != 0:
      builder.download_and_prepare()  # a no-op on a shared filesystem
  else:
    builder.download_and_prepare()


def class_names(config):
  """Label names of the configured dataset; () if it has no label feature."""
  features = get_builder(config).info.features
  _, label_key = _feature_keys(config)
  if label_key not in features:
    return ()
  return tuple(getattr(features[label_key], 'names', None) or ())


def num_classes(config):
  """Number of labels (0: unlabelled; every batch then has label 0)."""
  return len(class_names(config))


def _source_sample_rate(config, builder):
  """The stored rate; catalog datasets may differ from config.audio."""
  metadata = builder.info.metadata or {}
  if 'sample_rate' in metadata:
    return int(metadata['sample_rate'])
  feature = builder.info.features[_feature_keys(config)[0]]
  return int(getattr(feature, 'sample_rate', None) or config.audio.sample_rate)


def stored_to_mono(audio, source_rate, sample_rate):
  """Stored audio [L] or [L, C] (float, or integer PCM) -> float32 [L'] at
  sample_rate."""
  audio = np.asarray(audio)
  if np.issubdtype(audio.dtype, np.integer):
    audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
  audio = audio.astype(np.float32)
  if audio.ndim == 2:  # [L, C] catalog audio
    audio = audio.mean(axis=-1)
  if source_rate != sample_rate:
    audio = audio_io.resample(audio, source_rate, sample_rate).astype(np.float32)
  return audio


def load_utterances(config, split, count, *, stored=None):
  """The first `count` whole examples of `split` as mono float32 [L_i]
  arrays at config.audio.sample_rate (a babble pool, a test set).
  stored: another stored audio feature to read instead of 'audio'."""
  builder = get_builder(config)
  _prepare(builder)
  source = builder.as_data_source(split=split)
  key = stored or _feature_keys(config)[0]
  rate, target = _source_sample_rate(config, builder), config.audio.sample_rate
  return [stored_to_mono(source[index][key], rate, target)
          for index in range(min(int(count), len(source)))]


def stores(config, feature):
  """Whether the configured dataset stores `feature` (e.g. paired 'noisy')."""
  return feature in get_builder(config).info.features


def _is_audio(feature):
  """A numeric [L] or [L, C] tensor: stored audio (tfds Audio is one too)."""
  return (isinstance(feature, tfds.features.Tensor)
          and len(feature.shape) in (1, 2)
          and np.issubdtype(feature.np_dtype, np.number))


def _is_number(feature):
  """A scalar label or number per example (midi_music's 'key', 'tempo')."""
  return isinstance(feature, tfds.features.ClassLabel) or (
      isinstance(feature, tfds.features.Tensor) and tuple(feature.shape) == ()
      and np.issubdtype(feature.np_dtype, np.number))


def _check_features(features, name, stored, audio_key):
  """Raises unless every feature is one get_dataset can give for `name`.

  Args:
    features: tuple of the requested feature names.
    name: config.data.name (for the messages).
    stored: the builder's FeaturesDict.
    audio_key: the stored feature behind 'audio'.
  """
  if audio_key not in stored:
    raise UserError(
        f'Dataset {name!r} has no feature {audio_key!r}; its features are '
        f'{sorted(stored.keys())} (set config.data.audio_key).')
  paired = sorted(k for k in stored.keys() if k != audio_key
                  and k not in FEATURES and _is_audio(stored[k]))
  numbers = sorted(k for k in stored.keys() if k not in FEATURES and _is_number(stored[k]))
  for feature in features:
    if feature not in FEATURES and feature not in paired and feature not in numbers:
      raise UserError(
          f'Unknown feature {feature!r} for dataset {name!r}; valid features: '
          f'{", ".join(FEATURES + tuple(paired) + tuple(numbers))}.')
    if feature in ('text', 'text_length') and 'text' not in stored:
      raise UserError(
          f"Feature {feature!r} needs a stored 'text' feature; dataset "
          f'{name!r} stores {sorted(stored.keys())}.')


def _crop_start(num_samples, length, rng):
  """A random window start; 0 when the clip is not longer than `length`."""
  if num_samples > length:
    return int(rng.integers(0, num_samples - length + 1))
  return 0


def _window(audio, start, length):
  """float32 [length]: audio[start:start + length], zero-padded at the end."""
  window = audio[start:start + length]
  return np.pad(window, (0, length - window.shape[0]))


def _text_bytes(text, max_length):
  """int32 [max_length] UTF-8 bytes of `text` (zero-padded) and their count."""
  if isinstance(text, str):
    text = text.encode('utf-8')
  data = np.frombuffer(bytes(text), dtype=np.uint8)[:max_length]
  return (np.pad(data.astype(np.int32), (0, max_length - data.shape[0])),
          np.int32(data.shape[0]))


@dataclasses.dataclass(frozen=True)
class Preprocess(grain.transforms.RandomMap):
  """One stored example -> {feature: array} for each name in `features`.

    'audio'        float32 [segment_length], a random crop (or zero-padded),
                   then normalised (config.data.normalize)
    'audio_mask'   float32 [segment_length], 1 on real audio, 0 on padding
    'label'        int32 [], 0 when the dataset has no label
    'text'         int32 [max_text_length], the transcript's UTF-8 bytes,
                   cut to max_text_length and zero-padded
    'text_length'  int32 [], how many of those bytes are real
    'speaker'      int32 [], the stored 'speaker' (0 when there is none)
    other names    stored audio features (e.g. 'noisy'): float32
                   [segment_length], cut with the offset of 'audio' and
                   scaled by its normalisation gain, so pairs stay aligned
                   and keep their relative level

  A RandomMap: Grain seeds `rng` from the pipeline seed and the element index,
  so crops do not depend on threads, workers or restarts.
  """
  features: tuple[str, ...]
  audio_key: str
  label_key: str
  segment_length: int
  normalize: str
  source_rate: int
  sample_rate: int
  max_text_length: int

  def _mono(self, audio):
    return stored_to_mono(audio, self.source_rate, self.sample_rate)

  def random_map(self, element, rng):
    length = self.segment_length
    audio = self._mono(element[self.audio_key])
    # One offset for every audio feature keeps paired signals aligned.
    start = _crop_start(audio.shape[0], length, rng)
    cropped = _window(audio, start, length)
    gain = audio_io.normalization_gain(cropped, self.normalize)
    normalized = (cropped * gain).astype(np.float32)
    text = text_length = None
    if 'text' in self.features or 'text_length' in self.features:
      text, text_length = _text_bytes(element['text'], self.max_text_length)
    out = {}
    for feature in self.features:
      if feature == 'audio':
        out[feature] = normalized
      elif feature == 'audio_mask':
        mask = np.zeros(length, dtype=np.float32)
        mask[:audio.shape[0] - start] = 1.0
        out[feature] = mask
      elif feature == 'label':
        out[feature] = np.int32(element.get(self.label_key, 0))
      elif feature == 'speaker':
        out[feature] = np.int32(element.get('speaker', 0))
      elif feature == 'text':
        out[feature] = text
      elif feature == 'text_length':
        out[feature] = text_length
      elif np.ndim(element[feature]) == 0:  # a stored number ('key', 'tempo')
        out[feature] = np.int32(element[feature])
      else:
        # The gain of 'audio', not the pair's own: a noisy/clean pair
        # normalised apart would no longer differ by the noise alone.
        paired = _window(self._mono(element[feature]), start, length)
        out[feature] = (paired * gain).astype(np.float32)
    return out


@dataclasses.dataclass(frozen=True)
class _Select(grain.transforms.Map):
  """Keeps exactly `features` (transforms may add bookkeeping ones)."""
  features: tuple[str, ...]

  def map(self, element):
    return {feature: element[feature] for feature in self.features}


def example_batch(config, features, batch_size: int = 1):
  """Zeros shaped like a batch of `features` ({name: [batch_size, ...]}),
  without touching the data: for model initialisation and shape checks."""
  length, text_length = config.data.segment_length, config.data.max_text_length
  batch = {}
  for feature in features:
    if feature in ('label', 'speaker', 'text_length'):
      batch[feature] = np.zeros((batch_size,), np.int32)
    elif feature == 'text':
      batch[feature] = np.zeros((batch_size, text_length), np.int32)
    else:  # audio, its mask and paired audio features
      batch[feature] = np.zeros((batch_size, length), np.float32)
  return batch


def _data_axis_size(mesh):
  if 'data' not in mesh.shape:
    raise UserError(f"The mesh needs a 'data' axis to shard the batch over; "
                     f'its axes are {tuple(mesh.shape)}.')
  return mesh.shape['data']


def per_process_batch_size(config, mesh=None):
  """config.train.batch_size // process_count, after checking it divides."""
  batch_size = config.train.batch_size
  num_shards = (_data_axis_size(mesh) if mesh is not None
                else jax.device_count())
  if batch_size % num_shards:
    raise UserError(
        f'config.train.batch_size={batch_size} is not divisible by the '
        f"{num_shards} devices of the 'data' mesh axis; use a multiple of "
        f'{num_shards}.')
  if batch_size % jax.process_count():
    raise UserError(
        f'config.train.batch_size={batch_size} is not divisible by the '
        f'{jax.process_count()} processes; use a multiple of it.')
  return batch_size // jax.process_count()


def get_dataset(config, split, *, features=('audio', 'label'), mesh=None,
                shuffle=True, seed=None, num_epochs=None, transforms=()):
  """A Grain dataset of per-process batches.

  Args:
    config: the full config (reads data, audio.sample_rate, train.batch_size,
      seed).
    split: 'train', 'test' or any TFDS split string ('train[:10%]').
    features: the names each batch holds: any of FEATURES ('audio',
      'audio_mask', 'label', 'text', 'text_length', 'speaker') and the
      dataset's other stored audio features (see Preprocess).
    mesh: the device mesh; its 'data' axis size must divide the batch size
      (default: all devices).
    shuffle: shuffle the examples (reshuffled every epoch).
    seed: pipeline seed, default config.seed.
    num_epochs: passes over the split; None repeats forever.
    transforms: Grain RandomMaps run after preprocessing (a task's noise
      mixing), each with a `produces` tuple of the features it adds; they
      see the dataset's features plus 'audio', and like the crops are a
      function of the seed and the element's index.

  Returns:
    grain.IterDataset of {feature: [B, ...]} for exactly `features`, e.g.
    'audio': float32 [B, segment_length], 'label': int32 [B], 'text': int32
    [B, max_text_length], with B = batch_size // process_count (the last
    incomplete batch is dropped). `iter()` it for a checkpointable iterator.

  Raises:
    ValueError: an unknown feature, or one the dataset does not store ('text'
      of synthetic_notes); a batch size the devices or the split cannot fill.
    TypeError: `features` is a string, not a sequence of names.
  """
  batch_size = per_process_batch_size(config, mesh)
  seed = config.seed if seed is None else seed
  builder = get_builder(config)
  name = config.data.name
  audio_key, label_key = _feature_keys(config)
  if isinstance(features, str):  # tuple('audio') would be five features
    raise TypeError(f'features is a sequence of names, not the string '
                    f'{features!r}; e.g. features=({features!r},).')
  features = tuple(features)
  produced = {name for transform in transforms for name in transform.produces}
  read = tuple(f for f in features if f not in produced)
  if 'audio' not in read and transforms:
    read = ('audio',) + read
  _check_features(read, name, builder.info.features, audio_key)
  if name.startswith(TFDS_PREFIX):
    # Catalog datasets: TFDS downloads and prepares them (network needed).
    source = tfds.data_source(name[len(TFDS_PREFIX):], split=split,
                              data_dir=data_dir_of(config))
  else:
    _prepare(builder)
    source = builder.as_data_source(split=split)
  if len(source) < jax.process_count():
    raise UserError(f'Split {split!r} of {name!r} has {len(source)} examples, '
                     f'fewer than the {jax.process_count()} processes.')

  ds = grain.MapDataset.source(source)
  # Each process reads a disjoint slice; together they cover the split.
  ds = ds[jax.process_index()::jax.process_count()]
  # Repeating forever fills batches from several epochs; a finite number of
  # epochs with drop_remainder could instead yield nothing at all.
  if num_epochs is not None and len(ds) * num_epochs < batch_size:
    raise UserError(
        f'Split {split!r} of {name!r} has {len(ds)} examples per process, '
        f'fewer than the per-process batch size {batch_size} over '
        f'{num_epochs} epoch(s): no batch would be produced. Use a smaller '
        'batch, more data, or num_epochs=None.')
  ds = ds.seed(seed)
  if shuffle:
    ds = ds.shuffle()
  ds = ds.repeat(num_epochs)
  ds = ds.random_map(Preprocess(
      features=read, audio_key=audio_key, label_key=label_key,
      segment_length=config.data.segment_length,
      normalize=config.data.normalize,
      source_rate=_source_sample_rate(config, builder),
      sample_rate=config.audio.sample_rate,
      max_text_length=config.data.max_text_length))
  for transform in transforms:
    ds = ds.random_map(transform)
  if transforms:
    ds = ds.map(_Select(features))
  # Batching before to_iter_dataset: batch i is then always the same examples,
  # however many threads or worker processes read ahead.
  ds = ds.batch(batch_size, drop_remainder=True)
  ids = ds.to_iter_dataset(grain.ReadOptions(
      num_threads=_READ_THREADS, prefetch_buffer_size=_PREFETCH_BATCHES))
  if config.data.num_workers > 0:
    # Grain's worker processes read absl flags; outside an absl app (tests,
    # notebooks) they are unparsed and reading them raises.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    ids = ids.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=config.data.num_workers))
  logging.info('Dataset %s/%s: %d examples, per-process batch %d.', name,
               split, len(source), batch_size)
  return ids


def make_global_batch(batch, mesh):
  """Per-process numpy batch -> global jax.Arrays sharded along 'data'.

  Args:
    batch: pytree of arrays [B_local, ...] (this process's share).
    mesh: a Mesh with a 'data' axis (other axes hold replicas).

  Returns:
    The same pytree of jax.Array [B_local * process_count, ...] with
    NamedSharding(mesh, P('data')).
  """
  sharding = NamedSharding(mesh, P('data'))
  num_shards = _data_axis_size(mesh)

  def to_global(x):
    x = np.asarray(x)
    global_batch = x.shape[0] * jax.process_count()
    if global_batch % num_shards:
      raise UserError(
          f'Global batch {global_batch} is not divisible by the {num_shards} '
          "devices of the 'data' mesh axis.")
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(to_global, batch)
