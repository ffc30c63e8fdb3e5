"""AudioBuilder: what the project's TFDS builders share.

A builder subclasses `AudioBuilder` with an `AudioBuilderConfig` subclass and
defines `_features()` (name -> tfds feature), `_split_generators` and
`_generate_examples`. The base writes the dataset info (the module docstring
as description, the config's sample_rate as metadata), reuses the class's
listed config when a new one carries its name, and stores ArrayRecord files.
"""

import abc
import dataclasses
import inspect
import sys

from etils import epath
import numpy as np
import tensorflow_datasets as tfds


@dataclasses.dataclass
class AudioBuilderConfig(tfds.core.BuilderConfig):
  """A config of an AudioBuilder: its stored sample rate in Hz."""
  sample_rate: int = 16000


def audio_feature(num_samples=None):
  """A mono float32 [num_samples] feature (None: any length)."""
  # Tensor, not tfds Audio: the Audio feature needs TensorFlow.
  return tfds.features.Tensor(shape=(num_samples,), dtype=np.float32)


class AudioBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the audio builders, itself no dataset (TFDS does not list it)."""

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    # TFDS 4.9's own code_path lookup imports `importlib_resources`, a package
    # it only depends on for Python < 3.9; the class's file is the same answer.
    cls.code_path = epath.Path(inspect.getfile(cls))
    # TFDS finds README/CITATIONS through the module's package, which a
    # builder in a plain module (a test file) does not have.
    cls.pkg_dir_path = cls.code_path.parent

  def __init__(self, *, config=None, **kwargs):
    if isinstance(config, tfds.core.BuilderConfig):
      # TFDS rejects a new config object named like one in BUILDER_CONFIGS;
      # config names encode every setting, so that one is the same config.
      config = self.builder_configs.get(config.name, config)
    # Grain reads examples by index, which ArrayRecord supports.
    kwargs.setdefault('file_format', 'array_record')
    super().__init__(config=config, **kwargs)

  @abc.abstractmethod
  def _features(self):
    """{name: tfds feature} of every example; 'audio' is audio_feature()."""

  def _metadata(self):
    """Metadata beside sample_rate (a dict)."""
    return {}

  def _info(self):
    features = self._features()
    return self.dataset_info_from_configs(
        description=sys.modules[type(self).__module__].__doc__,
        features=tfds.features.FeaturesDict(features),
        supervised_keys=('audio', 'label') if 'label' in features else None,
        metadata=tfds.core.MetadataDict(
            sample_rate=self.builder_config.sample_rate, **self._metadata()),
    )
