"""Which fields of a config a piece of code reads (for the tests).

    with config_reads.recording(config) as reads:
      inference.sample(config, 'pretrained/notes', num_samples=1, output=out)
    reads.fields    # {'sampler.num_steps', 'model.unet1d.*', ...}
    reads.unread(config)   # the leaves ('data.name', ...) nothing read

Every ConfigDict of the tree (and of deep copies of it) reports the fields
read through it; reading a whole section (to_dict, items) counts every field
under it ('model.unet1d.*'). Code that reads every field to record or compare
the config, not to act on it, runs under `reads.ignoring(module, name)`.
"""

import contextlib
import copy
import functools

from ml_collections import config_dict

_ConfigDict = config_dict.ConfigDict


class Reads:
  """The fields read while recording: `fields`, and `unread(config)`."""

  def __init__(self):
    self.fields = set()
    self._paths = {}   # id(ConfigDict) -> (its path, the dict itself)
    self._paused = 0

  def path(self, node):
    entry = self._paths.get(id(node))
    return entry[0] if entry and entry[1] is node else None

  def register(self, node, path):
    self._paths[id(node)] = (path, node)

  def note(self, node, key=None):
    """node's field `key` was read (or, with no key, all of node)."""
    base = self.path(node)
    if base is None or self._paused:
      return
    name = key if key is not None else '*'
    self.fields.add(f'{base}.{name}' if base else name)

  @contextlib.contextmanager
  def paused(self):
    self._paused += 1
    try:
      yield
    finally:
      self._paused -= 1

  def ignoring(self, module, name):
    """Replaces module.name, while recording, by a version whose reads do not count."""
    function = getattr(module, name)

    @functools.wraps(function)
    def unrecorded(*args, **kwargs):
      with self.paused():
        return function(*args, **kwargs)
    self._restore.append((module, name, function))
    setattr(module, name, unrecorded)

  def was_read(self, leaf: str) -> bool:
    return leaf in self.fields or any(
        field == '*' or (field.endswith('.*') and leaf.startswith(field[:-1]))
        for field in self.fields)

  def unread(self, config) -> list:
    return [leaf for leaf in leaves(config) if not self.was_read(leaf)]


def leaves(config, prefix: str = '') -> list:
  """The dotted names of a config's leaves: ['audio.sample_rate', ...]."""
  names = []
  for key, value in config.to_dict().items():
    name = f'{prefix}.{key}' if prefix else key
    names += leaves(_ConfigDict(value), name) if isinstance(value, dict) else [name]
  return names


@contextlib.contextmanager
def recording(config):
  """Yields a Reads that records the fields of `config` read meanwhile."""
  reads = Reads()
  reads._restore = []  # pylint: disable=protected-access
  reads.register(config, '')
  originals = {name: getattr(_ConfigDict, name) for name in ('__getitem__', 'to_dict', 'items')}

  def getitem(node, key):
    value = originals['__getitem__'](node, key)
    base = reads.path(node)
    if base is not None and isinstance(key, str) and '.' not in key:
      if isinstance(value, _ConfigDict):
        reads.register(value, f'{base}.{key}' if base else key)
      else:
        reads.note(node, key)
    return value

  def whole(name):
    def read_all(node, *args, **kwargs):
      reads.note(node)
      with reads.paused():
        return originals[name](node, *args, **kwargs)
    return read_all

  def deepcopy(node, memo):
    with reads.paused():
      del _ConfigDict.__deepcopy__
      try:
        twin = copy.deepcopy(node, memo)
      finally:
        _ConfigDict.__deepcopy__ = deepcopy
      base = reads.path(node)
      if base is not None:
        _register_twins(reads, node, twin, base, originals['__getitem__'])
    return twin

  _ConfigDict.__getitem__ = getitem
  _ConfigDict.to_dict = whole('to_dict')
  _ConfigDict.items = whole('items')
  _ConfigDict.__deepcopy__ = deepcopy
  try:
    yield reads
  finally:
    for name, original in originals.items():
      setattr(_ConfigDict, name, original)
    del _ConfigDict.__deepcopy__
    for module, name, function in reads._restore:  # pylint: disable=protected-access
      setattr(module, name, function)


def _register_twins(reads, node, twin, path, getitem):
  """Registers each ConfigDict of a deep copy under its original's path."""
  reads.register(twin, path)
  for key in node.keys():
    child = getitem(node, key)
    if isinstance(child, _ConfigDict):
      _register_twins(reads, child, getitem(twin, key), f'{path}.{key}' if path else key,
                      getitem)
