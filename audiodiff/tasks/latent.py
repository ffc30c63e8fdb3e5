"""Latent diffusion (config.task='latent'): diffusion on a frozen autoencoder's latents.

config.latent.autoencoder_workdir names a trained `autoencoder` run or export
(default in music_latent_cpu.py: the shipped one).
Each training clip [B, L] is encoded to its latent mean [B, L / hop, C],
normalised per channel to zero mean and unit variance (`LatentScaling`, fit
once on config.latent.scaling_clips training clips and kept as
latent_scaling.json in the workdir, and in exports beside the model and its
autoencoder), and the diffusion learns
those latents, class-conditioned with classifier-free guidance as
config.task='generate' (the labels' settings live in config.latent). Samples
are decoded back to audio by the autoencoder.
"""

import dataclasses
import functools
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import data, tasks
from audiodiff.diffusion import samplers
from audiodiff.errors import UserError
from audiodiff.latent.scaling import LatentScaling
from audiodiff.restoration import operators, posterior
from audiodiff.tasks import attributes as attributes_lib
from audiodiff.tasks import base, meter
from audiodiff.tasks.autoencoder import autoencoder_hop, autoencoder_latent_channels
from audiodiff.tasks.generate import Generate

SCALING_FILE = 'latent_scaling.json'


@tasks.TASKS.register('latent')
class Latent(Generate):
  name = 'latent'

  @property
  def attributes(self):
    return attributes_lib.get(self.settings.attributes)

  @property
  def features(self):
    return super().features + tuple(a.name for a in self.attributes)

  def supports_guidance(self):
    return super().supports_guidance() or bool(self.attributes)

  def example_batch(self, batch_size=1):
    batch = super().example_batch(batch_size)
    for attribute in self.attributes:  # a number per clip, not audio
      batch[attribute.name] = np.zeros((batch_size,), np.int32)
    return batch

  def model_inputs(self):
    inputs = super().model_inputs()
    if self.attributes:
      inputs['attribute_sizes'] = tuple(a.size for a in self.attributes)
    if self.settings.meter:
      inputs['position_channels'] = meter.CHANNELS
    return inputs

  def check_config(self):
    super().check_config()
    if self.attributes and self.config.model.name != 'unet1d':
      raise UserError(f'config.latent.attributes={tuple(self.settings.attributes)} are read by '
                      "config.model.name='unet1d'; use that model or drop the attributes.")
    if not self.settings.autoencoder_workdir:
      raise UserError('config.latent.autoencoder_workdir is empty: name a trained '
                      "autoencoder (train one with experiments/configs/"
                      'music_autoencoder_cpu.py).')
    self._part_guidance()
    if self.settings.meter and 'tempo' not in self.settings.attributes:
      raise UserError('config.latent.meter places each frame in the bar from the tempo, but '
                      f'config.latent.attributes={tuple(self.settings.attributes)} has no '
                      "'tempo'; add it, or set meter=False.")
    if self.settings.scaling_clips < 1:
      raise UserError(f'config.latent.scaling_clips={self.settings.scaling_clips} must be '
                      '>= 1.')

  # ---- the frozen autoencoder -----------------------------------------------
  def frozen_runs(self):
    return {'autoencoder': base.FrozenRun(
        'autoencoder_workdir', 'Train one with experiments/configs/music_autoencoder_cpu.py.')}

  def attach_frozen(self, runs, workdir):
    """{'autoencoder': its parameters, 'shift', 'scale': [C]}; fits the
    scaling on training clips the first time (then reads SCALING_FILE)."""
    autoencoder = runs['autoencoder']
    path = autoencoder.exp.workdir
    theirs = autoencoder.config
    if theirs.task != 'autoencoder':
      raise UserError(f'config.latent.autoencoder_workdir={path} is a {theirs.task!r} model, '
                      'not an autoencoder; point it at a run of '
                      'experiments/configs/music_autoencoder_cpu.py.')
    if theirs.audio.sample_rate != self.config.audio.sample_rate:
      raise UserError(f'{path} is an autoencoder at {theirs.audio.sample_rate} Hz, but '
                      f'config.audio.sample_rate={self.config.audio.sample_rate}; train it '
                      'at the same rate.')
    self.autoencoder = autoencoder
    self.hop = autoencoder_hop(theirs)
    if self.config.data.segment_length % self.hop:
      raise UserError(f'config.data.segment_length={self.config.data.segment_length} must be '
                      f'a multiple of the autoencoder hop {self.hop}.')
    # The workdir's scaling, else the one an export left beside its
    # autoencoder (the same autoencoder on the same corpus), else a new fit.
    scaling_path = os.path.join(workdir, SCALING_FILE)
    for candidate in (scaling_path, os.path.join(path, SCALING_FILE)):
      if os.path.exists(candidate):
        try:
          with open(candidate) as f:
            self.scaling = LatentScaling.from_dict(json.load(f))
        except ValueError as error:  # json.JSONDecodeError is one
          raise UserError(f'{candidate} is damaged ({error}); restore it from the model\'s '
                          'source, or delete it in a work directory to measure it again.'
                          ) from None
        break
    else:
      self.scaling = self._fit_scaling()
      os.makedirs(workdir, exist_ok=True)
      with open(scaling_path, 'w') as f:
        json.dump(self.scaling.to_dict(), f)
    return self._frozen

  @property
  def _frozen(self):
    return {'autoencoder': self.autoencoder.params,
            'shift': jnp.asarray(self.scaling.shift), 'scale': jnp.asarray(self.scaling.scale)}

  def _fit_scaling(self) -> LatentScaling:
    """Shift and scale of the latent means of the first scaling_clips clips."""
    count = self.settings.scaling_clips
    dataset = data.get_dataset(self.config, 'train', features=('audio',), shuffle=False)
    encode = jax.jit(lambda params, audio: self.autoencoder.exp.model.apply(
        {'params': params}, audio, method='encode'))
    latents = []
    for batch in dataset:
      latents.append(np.asarray(encode(self.autoencoder.params, jnp.asarray(batch['audio']))))
      if sum(len(z) for z in latents) >= count:
        break
    return LatentScaling.fit(np.concatenate(latents)[:count])

  def write_export_files(self, directory):
    for folder in (directory, os.path.join(directory, 'autoencoder')):
      with open(os.path.join(folder, SCALING_FILE), 'w') as f:
        json.dump(self.scaling.to_dict(), f)

  # ---- latents ----------------------------------------------------------------
  def latent_shape(self, num_samples: int, seconds=None):
    """(num_samples, frames, C): one trained window, or the frames of
    `seconds` (default config.latent.seconds; 0: one window)."""
    frames = self.config.data.segment_length // self.hop
    seconds = self.settings.seconds if seconds is None else seconds
    if isinstance(seconds, (bool, np.bool_)) or not isinstance(
        seconds, (int, float, np.integer, np.floating)) or not 0 <= seconds <= 3600:
      raise UserError(f'seconds={seconds!r}: give a clip length in seconds, up to 3600 '
                      '(0: the trained window).')
    if seconds:
      frames = max(1, math.ceil(float(seconds) * self.config.audio.sample_rate / self.hop))
    return (num_samples, frames, autoencoder_latent_channels(self.autoencoder.config))

  def run_request(self, trained, request, rng, first=0):
    """Audio [N, frames * hop] for a request of any length: one window
    sampled as trained, then each next window sampled with its first
    overlap_seconds held to the last window's end (projection of the x0
    prediction, `restoration.posterior`), so the music continues; the whole
    latent sequence is decoded at once."""
    count, frames, channels = request.shape
    window = self.config.data.segment_length // self.hop
    overlap = round(self.settings.overlap_seconds * self.config.audio.sample_rate / self.hop)
    if frames > window and not 0 < overlap < window:
      seconds = window * self.hop / self.config.audio.sample_rate
      raise UserError(f'config.latent.overlap_seconds={self.settings.overlap_seconds} must '
                      f'lie between 0 and the window ({seconds:g} s) for clips longer than '
                      'one window.')
    shape = (count, window, channels)
    z = trained.generate(self._placed(request, shape, 0), rng, first)
    latents = np.asarray(z)
    if frames > window:
      hooks_of = self._continuation(window, overlap)
      while latents.shape[1] < frames:
        held = np.zeros(shape, np.float32)
        # The last `overlap` frames so far (over half the window, they reach
        # back past the last window's new part).
        held[:, :overlap] = latents[:, -overlap:]
        rng = jax.random.fold_in(rng, latents.shape[1])
        z = np.asarray(trained.generate(self._placed(request, shape, latents.shape[1] - overlap),
                                        rng, first, measurement=jnp.asarray(held),
                                        hooks_of=hooks_of))
        latents = np.concatenate([latents, z[:, overlap:]], axis=1)
    return self.decode(latents[:, :frames], trained.frozen)

  def _placed(self, request, shape, offset):
    """request for one window of `shape` whose first frame is frame `offset`
    of the clip: with config.latent.meter, each pass's cond['position']
    (tasks/meter.py) is set from the tempo it asks for (none in a pass
    without one)."""
    request = dataclasses.replace(request, shape=shape)
    if not self.settings.meter:
      return request

    def place(cond):
      if cond is None:
        return None
      # The tempo asked for (sample_request's 'bpm'), else its id's centre.
      bpm = cond.get('bpm', attributes_lib.TEMPO_RANGE[0]
                     + attributes_lib.TEMPO_STEP * self._tempo_ids(cond['attributes']))
      return dict(cond, position=self._position(cond['attributes'], bpm, shape[1], offset))

    uncond = request.uncond
    if isinstance(uncond, samplers.Guidance):
      uncond = dataclasses.replace(uncond, uncond=place(uncond.uncond),
                                   others=tuple(place(c) for c in uncond.others))
    else:
      uncond = place(uncond)
    return dataclasses.replace(request, cond=place(request.cond), uncond=uncond)

  def _tempo_ids(self, ids):
    """The tempo's column [B] of attribute ids [B, attributes]."""
    return ids[:, [a.name for a in self.attributes].index('tempo')]

  def _position(self, ids, bpm, frames, offset=0):
    """cond['position'] [B, frames, meter.CHANNELS] of frames offset.. of
    clips at bpm [B], zeros where attribute ids [B, attributes] leave the
    tempo out."""
    bpm = jnp.where(self._tempo_ids(ids) < attributes_lib.TEMPO.size, bpm, jnp.nan)
    return meter.position_features(bpm, frames, self.config.audio.sample_rate / self.hop,
                                   offset)

  @functools.lru_cache(maxsize=4)
  def _continuation(self, window, overlap):
    """measurement [N, window, C] -> Hooks holding its first `overlap` frames
    (one function per window and overlap: it compiles once)."""
    weights = jnp.zeros((window, 1)).at[:overlap].set(1.0)
    return lambda y: posterior.projection_hooks(operators.TimeDiagonal(weights), y)

  def encode(self, audio, frozen):
    """audio [B, L] -> normalised latents [B, L / hop, C]."""
    z = self.autoencoder.exp.model.apply({'params': frozen['autoencoder']}, audio,
                                         method='encode')
    return (z - frozen['shift']) / frozen['scale']

  def init_variables(self, model, rng, frozen=None):
    x0 = jnp.zeros(self.latent_shape(1, seconds=0))   # the trained window, whatever is asked
    cond = {}
    if self.num_classes:
      cond['label'] = jnp.zeros((1,), jnp.int32)
    if self.attributes:
      cond['attributes'] = jnp.zeros((1, len(self.attributes)), jnp.int32)
    if self.settings.meter:
      cond['position'] = jnp.zeros((1, x0.shape[1], meter.CHANNELS))
    return model.init(rng, x0, jnp.zeros((1,)), cond or None)['params']

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    label_rng, attribute_rng = jax.random.split(rng)
    inputs = super().diffusion_inputs(batch, label_rng, train=train, frozen=frozen,
                                      network=network)
    latents = jax.lax.stop_gradient(self.encode(batch['audio'], frozen))
    cond = dict(inputs.cond or {})
    if self.attributes:
      ids = jnp.stack([a.ids_of_feature(batch[a.name]) for a in self.attributes], axis=-1)
      if train and self.settings.label_dropout > 0:
        # Each attribute dropped on its own: the network learns every subset.
        drop = jax.random.bernoulli(attribute_rng, self.settings.label_dropout, ids.shape)
        ids = jnp.where(drop, jnp.asarray([a.size for a in self.attributes]), ids)
      cond['attributes'] = ids
    if self.settings.meter:   # the clip's own tempo, where its tempo id is kept
      cond['position'] = self._position(ids, jnp.asarray(batch['tempo'], jnp.float32),
                                        latents.shape[1])
    return base.DiffusionInputs(x0=latents, cond=cond or None)

  def sample_request(self, num_samples, reference_batch=None, network=None, *, labels=None,
                     family=None, key=None, tempo=None, seconds=None, guidance=None):
    """As Generate's, plus what config.latent (or these arguments) asks for:
    family (a class name, for every clip), key ('D', 'Eb' or 0-11) and tempo
    (beats per minute), each optional and each one value or one per clip;
    the unconditional pass has none.
    seconds > the trained window: longer clips (`run_request`).
    guidance: {'family' | 'key' | 'tempo': scale} over config.latent.guidance,
    guidance on that part alone (1: none beyond config.sampler.guidance_scale)."""
    family = family if family is not None else (self.settings.family or None)
    asked = {'key': key if key is not None else (self.settings.key or None),
             'tempo': tempo if tempo is not None else (self.settings.tempo or None)}
    if family is not None:
      if labels is not None:
        raise UserError('Give labels (--labels) or family (config.latent.family), not both.')
      names = tuple(self.settings.class_names)
      if not isinstance(family, str) or (names and family not in names):
        raise UserError(f'family={family!r} must be one of the families this model learned: '
                        f'{", ".join(names) or "none"} (one name, for every clip).')
      labels = [family] * num_samples
    request = super().sample_request(num_samples, reference_batch, network, labels=labels)
    request.shape = self.latent_shape(num_samples, seconds)
    learned = {a.name: a for a in self.attributes}
    if self.config.sampler.guidance_scale == 0 and any(v is not None for v in asked.values()):
      raise UserError(f'{", ".join(f"{k}={v!r}" for k, v in asked.items() if v is not None)}: '
                      'config.sampler.guidance_scale=0 samples the unconditional pass alone, '
                      'which reads none; drop them or set guidance_scale > 0.')
    for name, value in asked.items():
      if value is not None and name not in learned:
        raise UserError(f'{name}={value!r}: this model learned no {name} (its '
                        f'config.latent.attributes are {tuple(self.settings.attributes)}); '
                        f'drop {name}.')
    if self.attributes:
      # [num_samples, attributes]: one value for every clip, or one per clip.
      ids = np.stack([self._attribute_ids(a, asked.get(a.name), num_samples)
                      for a in self.attributes], axis=-1)
      nulls = np.array([a.size for a in self.attributes])
      cond, uncond = dict(request.cond or {}), dict(request.uncond or {})
      cond['attributes'] = jnp.asarray(ids, jnp.int32)
      uncond['attributes'] = jnp.tile(jnp.asarray(nulls, jnp.int32), (num_samples, 1))
      if self.settings.meter:   # the bar lines of the tempo asked for (`_placed`)
        tempos = ([None] * num_samples if asked['tempo'] is None
                  else self._per_clip('tempo', asked['tempo'], num_samples))
        cond['bpm'] = jnp.asarray([np.nan if t is None else float(t) for t in tempos],
                                  jnp.float32)
        uncond['bpm'] = jnp.full((num_samples,), np.nan, jnp.float32)
      names = [name + ''.join(f'_{a.describe(i)}' for a, i in zip(self.attributes, row)
                              if i < a.size) for name, row in zip(request.names, ids)]
      request = dataclasses.replace(request, cond=cond, uncond=uncond, names=names)
    scales = self._part_guidance(guidance)
    if scales and self.config.sampler.guidance_scale == 0:
      raise UserError(f'config.latent.guidance {scales} guides parts of a conditioning, but '
                      'config.sampler.guidance_scale=0 samples the unconditional pass alone; '
                      'set guidance_scale > 0 or leave the parts at 1.')
    if scales:
      request = dataclasses.replace(request, uncond=self._guidance(request, scales))
    if self.settings.meter:   # placed from the first frame (run_request: per window)
      request = self._placed(request, request.shape, 0)
    return request

  def _part_guidance(self, given=None):
    """{part: scale != 1} of config.latent.guidance, with `given` over it."""
    scales = self.settings.guidance.to_dict()
    if given is not None:
      unknown = sorted(set(given) - set(scales)) if isinstance(given, dict) else None
      if unknown is None or unknown:
        raise UserError(f'guidance={given!r}: give a dict of scales for any of '
                        f'{", ".join(scales)}, e.g. guidance={{"key": 3}}.')
      scales.update(given)
    learned = ('family',) * bool(self.num_classes) + tuple(a.name for a in self.attributes)
    chosen = {}
    for part, scale in scales.items():
      if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) or not (
          math.isfinite(scale) and scale > 0):
        where = f'guidance[{part!r}]' if part in (given or {}) else f'config.latent.guidance.{part}'
        raise UserError(f'{where}={scale!r}: give a finite scale > 0 (1: no guidance on {part} '
                        f'alone; 0 would leave the {part} asked for out: ask for none instead).')
      if scale != 1:
        if part not in learned:
          raise UserError(f'config.latent.guidance.{part}={scale}: this model learned no '
                          f'{part} (it learned: {", ".join(learned) or "nothing"}); leave '
                          'it at 1.')
        chosen[part] = float(scale)
    return chosen

  def _guidance(self, request, scales):
    """request.uncond -> samplers.Guidance with, per part of `scales`, the
    conditioning with that part "not given"."""
    cond, names = request.cond, [a.name for a in self.attributes]
    others = []
    for part in scales:
      if part == 'family':
        others.append(dict(cond, label=jnp.full_like(cond['label'], self.num_classes)))
      else:
        i = names.index(part)
        if np.all(np.asarray(cond['attributes'][:, i]) == self.attributes[i].size):
          raise UserError(f'config.latent.guidance.{part}={scales[part]:g} guides towards the '
                          f'{part} asked for, but none was asked for: give one (e.g. '
                          f'--config.latent.{part}={"D" if part == "key" else 120}) or leave '
                          f'guidance.{part} at 1.')
        others.append(dict(cond, attributes=cond['attributes'].at[:, i].set(
            self.attributes[i].size)))
    scale_rows = np.tile(np.array(list(scales.values()), np.float32), (request.shape[0], 1))
    return samplers.Guidance(request.uncond, tuple(others), jnp.asarray(scale_rows))

  @staticmethod
  def _attribute_ids(attribute, value, count):
    """int [count]: the ids of value (one, or a list of count; None: not given)."""
    if value is None:
      return np.full(count, attribute.size)
    return np.array([attribute.size if v is None else attribute.id_of(v)
                     for v in Latent._per_clip(attribute.name, value, count)])

  @staticmethod
  def _per_clip(name, value, count):
    """[count] values of one value (for every clip) or a list of count."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * count
    if len(values) != count:
      raise UserError(f'{name}: give one value or {count} (one per clip); got {len(values)}.')
    return values

  def decode(self, x, frozen=None):
    """Normalised latents [N, frames, C] -> audio [N, frames * hop]; NaN for
    a clip whose latents are not finite (the decoder would make silence)."""
    frozen = self._frozen if frozen is None else frozen
    x = jnp.asarray(x)
    finite = jnp.all(jnp.isfinite(x), axis=(1, 2))
    return jnp.where(finite[:, None], self._decode(frozen, x), jnp.nan)

  @functools.cached_property
  def _decode(self):
    model = self.autoencoder.exp.model
    return jax.jit(lambda frozen, x: model.apply(
        {'params': frozen['autoencoder']}, x * frozen['scale'] + frozen['shift'],
        method='decode'))
