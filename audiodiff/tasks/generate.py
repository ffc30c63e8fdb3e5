"""Unconditional and class-conditional audio generation.

config.generate.class_conditional=False: the network learns p(audio).
True: it reads a class label (config.generate.num_classes, 0 = the
dataset's count). In training, labels become the "no label" id num_classes
with probability label_dropout, so one network learns both passes of
classifier-free guidance (Ho & Salimans 2022).
"""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import data, tasks
from audiodiff.errors import UserError
from audiodiff.tasks import base


@tasks.TASKS.register('generate')
class Generate(base.Task):
  name = 'generate'
  api_methods = ()

  @property
  def features(self):
    return ('audio', 'label') if self.settings.class_conditional else ('audio',)

  @property
  def num_classes(self) -> int:
    return self.settings.num_classes if self.settings.class_conditional else 0

  def check_config(self):
    super().check_config()
    if not 0.0 <= self.settings.label_dropout < 1.0:
      raise UserError(f'config.generate.label_dropout={self.settings.label_dropout} must '
                       'lie in [0, 1).')
    if self.config.model.name == 'unet1d':
      unet = self.config.model.unet1d
      multiple = unet.downsample ** (len(unet.channels) - 1)
      if self.config.data.segment_length % multiple:
        raise UserError(f'config.data.segment_length={self.config.data.segment_length} must '
                        f'be a multiple of {multiple} for this U-Net (downsample '
                        f'{unet.downsample}, {len(unet.channels)} levels); e.g. '
                        f'{self.config.data.segment_length // multiple * multiple or multiple}.')
    if self.config.sampler.guidance_scale != 1.0 and self.settings.label_dropout == 0:
      raise UserError('Classifier-free guidance needs a network trained with '
                       'config.generate.label_dropout > 0 (it learns the unconditional '
                       'pass from dropped labels).')

  def resolve_config(self):
    """num_classes=0 and empty class_names take the dataset's."""
    if not self.settings.class_conditional:
      return
    with self.config.unlocked():
      if not self.settings.class_names:
        self.settings.class_names = tuple(data.class_names(self.config))
      if self.settings.num_classes == 0:
        self.settings.num_classes = len(self.settings.class_names)
    if self.settings.num_classes < 1:
      raise UserError(
          f'config.generate.class_conditional=True, but dataset '
          f'{self.config.data.name!r} has no classes; set config.generate.num_classes '
          'or use --config.generate.class_conditional=False.')

  def supports_guidance(self):
    return bool(self.settings.class_conditional)

  def model_inputs(self):
    return {'num_classes': self.num_classes}

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    del frozen
    if not self.num_classes:
      return base.DiffusionInputs(x0=batch['audio'])
    labels = batch['label'].astype(jnp.int32)
    if train and self.settings.label_dropout > 0:
      drop = jax.random.bernoulli(rng, self.settings.label_dropout, labels.shape)
      labels = jnp.where(drop, self.num_classes, labels)
    return base.DiffusionInputs(x0=batch['audio'], cond={'label': labels})

  def sample_request(self, num_samples, reference_batch=None, network=None, *,
                     labels: Optional[Sequence[int]] = None):
    """Unconditional clips, or one per label (default: the classes in turn)."""
    del reference_batch
    shape = (num_samples, self.config.data.segment_length)
    if not self.num_classes:
      if labels is not None:
        raise UserError(f'labels={labels!r}: this model is unconditional (it learned no '
                        'classes); drop labels.')
      return base.SampleRequest(shape=shape,
                                names=[f'sample_{i:03d}' for i in range(num_samples)])
    if labels is not None and self.config.sampler.guidance_scale == 0:
      raise UserError(f'labels={labels!r}: config.sampler.guidance_scale=0 samples the '
                      'unconditional pass alone, which reads no labels; drop the labels or '
                      'set guidance_scale > 0 (1: the conditional model alone).')
    if labels is None:
      labels = np.arange(num_samples) % self.num_classes
    names = tuple(self.settings.class_names)
    if isinstance(labels, (str, int, np.integer)):
      labels = [labels] * num_samples   # one label for every sample
    elif not isinstance(labels, np.ndarray) and hasattr(labels, '__iter__'):
      labels = list(labels)   # a generator, a tuple, a range
    original = list(labels) if np.ndim(labels) else labels
    if np.ndim(labels) == 1:  # names -> ids, item by item
      unknown = list(dict.fromkeys(x for x in labels if isinstance(x, str) and x not in names))
      if unknown:
        raise UserError(f'labels {unknown} are not class names of this model (give class ids '
                        f'in [0, {self.num_classes}) or names: {", ".join(names) or "none"}).')
      labels = [names.index(x) if isinstance(x, str) else x for x in labels]
    given = np.asarray(labels).reshape(-1)
    if given.dtype.kind == 'b':
      raise UserError(f'labels must be class ids in [0, {self.num_classes}) or class names, '
                      f'not True/False; got {original!r}.')
    labels = given.astype(np.int64) if given.dtype.kind in 'iuf' else np.zeros(0, np.int64)
    if len(labels) != num_samples:
      raise UserError(f'labels: {len(labels)} given for {num_samples} sample'
                      f'{"s" * (num_samples != 1)} ({original!r}); give one per sample, or a '
                      'single one for all.')
    if np.any(labels != given) or labels.min() < 0 or labels.max() >= self.num_classes:
      raise UserError(f'labels must be class ids in [0, {self.num_classes}) or class names; '
                      f'got {original!r}.')
    if self.config.sampler.guidance_scale == 0:   # the unconditional pass alone
      names = [f'sample_{i:03d}_unconditional' for i in range(num_samples)]
    else:
      names = [f'sample_{i:03d}_class{label}{self._class_suffix(label)}'
               for i, label in enumerate(labels)]
    cond = {'label': jnp.asarray(labels, jnp.int32)}
    return base.SampleRequest(shape=shape, names=names, cond=cond,
                              uncond={'label': jnp.full_like(cond['label'], self.num_classes)})

  def _class_suffix(self, label: int) -> str:
    names = self.settings.class_names
    return f'_{names[label]}' if label < len(names) else ''
