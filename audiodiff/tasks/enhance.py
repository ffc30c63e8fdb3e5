"""Speech enhancement: noisy speech in, clean speech out (SGMSE+, StoRM).

Everything runs in the compressed complex STFT (`enhancement.representation`):
a clip becomes x [frames, 2 * bins], and the network (a U-Net over frames)
reads the noisy recording's y beside it as cond['signal']. config.enhance
.method picks the model:

  'sgmse'       diffusion that drifts from the clean x_0 to the noisy y
                (`sde.py`: x_T ~ N(y, s^2)), sampled back from y;
  'storm'       a frozen predictive model's estimate e first, then the same
                diffusion drifting to e (x_T ~ N(e, s^2)), conditioned on
                [y, e]: the predictor removes most noise, the diffusion
                repairs what it smeared (config.enhance.predictor);
  'predictive'  one network call: a complex ratio mask applied to y,
                trained with a squared error; the non-diffusion baseline,
                and StoRM's first stage.

Clips are scaled so the noisy input has RMS config.enhance.input_rms (the
clean target with the same gain), and scaled back after. Training pairs come
from a paired dataset (audio_folder with clean/ and noisy/) or are mixed on
the fly from clean speech (`data.noise.MixNoise`). `trained.enhance(audio)`
takes any length in overlapping windows; `--mode=eval` scores a fixed
held-out set (voices config.enhance.test_voices never trained on, every noise
type at each of config.enhance.test_snr_db) against the noisy input, the
Wiener filter and (storm) the predictor alone.
"""

import copy
import functools
import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import data, tasks
from audiodiff.metrics import audio_metrics
from audiodiff.diffusion import sde
from audiodiff.data import asterisk, augment, noise, real_speech
from audiodiff.enhancement import classical, losses, representation, windowed
from audiodiff.errors import UserError
from audiodiff.audio import audio_io
from audiodiff.tasks import base

METHODS = ('storm', 'sgmse', 'predictive')
# Seed of the held-out mixtures: fixed, so every evaluation scores the same set.
TEST_SEED = 2024
# Datasets whose voices can be held out by name (config.enhance.test_voices).
_VOICED_DATASETS = ('flite_speech', 'real_speech')
_EPS = 1e-8


def quality(clean, estimate, sample_rate):
  """The enhancement metrics of one estimate [L] of clean [L]."""
  return {'pesq_wb': audio_metrics.pesq_score(clean, estimate, sample_rate, 'wb'),
          'estoi': audio_metrics.stoi_score(clean, estimate, sample_rate, extended=True),
          'si_sdr': audio_metrics.si_sdr(clean, estimate)}


@tasks.TASKS.register('enhance')
class Enhance(base.Task):
  name = 'enhance'
  features = ('audio', 'noisy')
  api_methods = ('enhance', 'enhance_many')

  # ---- configuration --------------------------------------------------------
  @functools.cached_property
  def stft(self) -> representation.StftFeatures:
    return representation.from_config(self.settings)

  @property
  def method(self) -> str:
    return self.settings.method

  def check_config(self):
    super().check_config()
    settings, config = self.settings, self.config
    if settings.method not in METHODS:
      raise UserError(f'Unknown config.enhance.method={settings.method!r}; choose one of '
                      f'{METHODS}.')
    if settings.method == 'storm' and not settings.predictor:
      raise UserError("config.enhance.method='storm' refines a predictive model's estimate: "
                      'set --config.enhance.predictor=DIR to a trained run (or export) '
                      "of config.enhance.method='predictive'.")
    unknown = [t for t in settings.noise_types if t not in noise.NOISE_TYPES]
    if unknown or not settings.noise_types:
      raise UserError(f'config.enhance.noise_types={tuple(settings.noise_types)}: choose '
                      f'from {noise.NOISE_TYPES}.')
    low, high = settings.snr_db
    if not low <= high:
      raise UserError(f'config.enhance.snr_db=({low}, {high}) needs low <= high.')
    if config.data.segment_length % settings.hop_length:
      raise UserError(f'config.data.segment_length={config.data.segment_length} must be '
                      f'a multiple of config.enhance.hop_length={settings.hop_length}.')
    if config.model.name == 'unet1d':
      multiple = config.model.unet1d.downsample**(len(config.model.unet1d.channels) - 1)
      if settings.window_frames % multiple:
        raise UserError(f'config.enhance.window_frames={settings.window_frames} must be a '
                        f'multiple of {multiple} (the U-Net halves it '
                        f'{len(config.model.unet1d.channels) - 1} times).')
    if not 0 <= settings.overlap_frames < settings.window_frames // 2:
      raise UserError(f'config.enhance needs 0 <= overlap_frames < window_frames / 2; got '
                      f'{settings.overlap_frames} and {settings.window_frames}.')
    if not settings.prior_scale > 0 or not settings.input_rms > 0:
      raise UserError('config.enhance.prior_scale and input_rms must be > 0.')
    if settings.si_sdr_weight < 0 or (settings.si_sdr_weight and settings.method != 'predictive'):
      raise UserError(f'config.enhance.si_sdr_weight={settings.si_sdr_weight} must be >= 0, '
                      "and it weighs a term of config.enhance.method='predictive' only.")
    try:
      augment.from_names(settings.augment, config.audio.sample_rate)
    except ValueError as e:
      raise UserError(f'config.enhance.augment={tuple(settings.augment)}: {e}') from e
    held = set(settings.test_voices) & set(config.data.get('voices', ()))
    if config.data.name in _VOICED_DATASETS and held:
      raise UserError(f'config.enhance.test_voices {sorted(held)} are also training voices '
                      '(config.data.voices): the held-out set must be held out.')

  def model_inputs(self):
    # storm also reads the predictor's estimate; wiener_input a clip-wise Wiener filter's
    copies = 1 + (self.method == 'storm') + bool(self.settings.wiener_input)
    return {'cond_channels': copies * self.stft.channels}

  def uses_diffusion(self):
    return self.method != 'predictive'

  def loss_weights(self):
    if self.method != 'predictive':
      return {}
    weights = {'predictive': 1.0}
    if self.settings.si_sdr_weight:
      weights['si_sdr'] = float(self.settings.si_sdr_weight)
    return weights

  # ---- the frozen predictor (storm) -----------------------------------------
  def frozen_runs(self):
    if self.method != 'storm':
      return {}
    return {'predictor': base.FrozenRun(
        'predictor', "Train one with --config.enhance.method=predictive first.")}

  def attach_frozen(self, runs, workdir):
    del workdir
    if self.method != 'storm':
      return None
    predictor = runs['predictor']
    theirs = predictor.config
    if (theirs.task != 'enhance' or theirs.enhance.method != 'predictive'
        or representation.from_config(theirs.enhance) != self.stft
        or theirs.audio.sample_rate != self.config.audio.sample_rate
        or theirs.enhance.input_rms != self.settings.input_rms):
      raise UserError(f'{predictor.exp.workdir} is not a predictive enhancer with this '
                      "config's STFT, input level and sample rate; train the predictor with "
                      'the same config.enhance and config.audio.sample_rate.')
    self.predictor = predictor
    return {'predictor': predictor.params}

  def predict(self, apply_fn, measurement, cond):
    """The predictive network's estimate [B, frames, 2 bins] of the clean
    features: a complex ratio mask M = 1 + network output, applied bin by bin
    to the noisy spectrogram. A mask keeps the noisy input's fine structure
    (harmonics, onsets) that a network of a few hundred channels per frame
    could not write out itself, and starts as the identity."""
    output = apply_fn(measurement, jnp.zeros(measurement.shape[:1]), cond)
    bins = self.stft.bins
    mask_real, mask_imag = 1.0 + output[..., :bins], output[..., bins:]
    real, imag = measurement[..., :bins], measurement[..., bins:]
    return jnp.concatenate([real * mask_real - imag * mask_imag,
                            real * mask_imag + imag * mask_real], axis=-1)

  def predictor_estimate(self, frozen, noisy):
    """The frozen predictor's estimate (storm) of the clean features of the
    scaled noisy clips [B, L]."""
    apply_fn = functools.partial(self.predictor.exp.apply_fn, frozen['predictor'])
    cond, prior = self.predictor.task.conditioning(noisy, None)
    return self.predictor.task.predict(apply_fn, prior.mean, cond)

  # ---- data -----------------------------------------------------------------
  def data_transforms(self, split):
    if data.stores(self.config, 'noisy'):
      return ()  # paired recordings (clean/ and noisy/)
    settings, rate = self.settings, self.config.audio.sample_rate
    pool = music_pool = ()
    if 'babble' in settings.noise_types:
      pool = tuple(data.load_utterances(self.config, split, settings.babble_utterances))
    if 'recorded_music' in settings.noise_types:
      music_pool = tuple(asterisk.music_tracks('train' if split == 'train' else 'test', rate))
    # The clean speech is randomised (level, EQ, room, ...) in training only.
    randomise = augment.from_names(settings.augment, rate) if split == 'train' else ()
    return randomise + (noise.MixNoise(noise_types=tuple(settings.noise_types),
                                       snr_range=tuple(float(v) for v in settings.snr_db),
                                       sample_rate=rate, pool=pool, music_pool=music_pool),)

  def gains(self, noisy):
    """[B, L] -> [B, 1]: the gains that bring each noisy clip to input_rms."""
    rms = jnp.sqrt(jnp.mean(jnp.square(noisy), axis=-1, keepdims=True))
    return self.settings.input_rms / jnp.maximum(rms, _EPS)

  def conditioning(self, noisy, frozen):
    """(scaled) noisy clips [B, L] -> (cond, prior) over their features."""
    scale = self.settings.prior_scale
    noisy_features = self.stft.to_features(noisy)
    signal = [noisy_features]
    if self.settings.wiener_input:
      signal.append(self.stft.wiener_features(noisy))
    if self.method == 'storm':
      estimate = self.predictor_estimate(frozen, noisy)
      signal.append(estimate)
      return {'signal': jnp.concatenate(signal, axis=-1)}, sde.prior(estimate, scale)
    return {'signal': jnp.concatenate(signal, axis=-1)}, sde.prior(noisy_features, scale)

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    del rng, train
    clean, noisy = jnp.asarray(batch['audio']), jnp.asarray(batch['noisy'])
    gain = self.gains(noisy)
    cond, prior = self.conditioning(noisy * gain, frozen)
    return base.DiffusionInputs(x0=self.stft.to_features(clean * gain), cond=cond,
                                prior=prior)

  def extra_losses(self, apply_fn, batch, inputs, rng, *, train, frozen=None, step=None):
    del rng, train, frozen, step
    if self.method != 'predictive':
      return {}
    estimate = self.predict(apply_fn, inputs.prior.mean, inputs.cond)
    terms = {'predictive': jnp.mean(jnp.square(estimate - inputs.x0))}
    if self.settings.si_sdr_weight:
      # The squared error in the compressed domain barely notices a faint band
      # of leftover noise; -SI-SDR on the waveform weighs it by its energy.
      clean = jnp.asarray(batch['audio'])
      waveform = self.stft.to_audio(estimate, clean.shape[-1])
      terms['si_sdr'] = jnp.mean(losses.negative_si_sdr(clean, waveform))
    return terms

  def example_batch(self, batch_size=1):
    return data.example_batch(self.config, ('audio', 'noisy'), batch_size)

  # ---- sampling -------------------------------------------------------------
  def needs_reference(self):
    return True

  def request(self, noisy, names, frozen, reference=None):
    """Scaled noisy clips [N, L] (L a multiple of hop_length) -> the request."""
    cond, prior = self.conditioning(jnp.asarray(noisy, jnp.float32), frozen)
    return base.SampleRequest(shape=tuple(prior.mean.shape), names=list(names), cond=cond,
                              prior=prior, reference=reference)

  def sample_request(self, num_samples, reference_batch=None, network=None):
    """Enhancement of the first num_samples clips of reference_batch."""
    if reference_batch is None:
      raise UserError('The enhancer samples from noisy clips: pass a batch (or enhance a '
                      'recording with model.enhance(audio)).')
    clean = np.asarray(reference_batch['audio'][:num_samples])
    noisy = np.asarray(reference_batch['noisy'][:num_samples])
    gain = np.asarray(self.gains(jnp.asarray(noisy)))
    return self.request(noisy * gain, [f'enhanced_{i:03d}' for i in range(len(noisy))],
                        self._frozen, reference=np.stack([clean * gain, noisy * gain]))

  def decode(self, x, frozen=None):
    del frozen
    return self.stft.to_audio(x)

  def sample_metrics(self, audio, request):
    """Enhanced clips against the clean ones, beside the noisy input and the
    Wiener filter (request.reference holds [clean, noisy])."""
    rate = self.config.audio.sample_rate
    clean, noisy = request.reference
    rows = {self.method: [], 'noisy': [], 'wiener': []}
    for ref, est, deg in zip(clean, np.asarray(audio), noisy):
      rows[self.method].append(quality(ref, est, rate))
      rows['noisy'].append(quality(ref, deg, rate))
      rows['wiener'].append(quality(ref, classical.wiener_filter(deg, rate), rate))
    return rows

  @property
  def _frozen(self):
    """The predictor's parameters once attach_frozen ran (storm), else None."""
    predictor = getattr(self, 'predictor', None)
    return None if predictor is None else {'predictor': predictor.params}

  # ---- any length -----------------------------------------------------------
  def check_input(self, audio):
    """audio -> (float32 [L], its RMS); a UserError for anything but finite,
    non-silent mono audio in [-1, 1]."""
    audio = audio_io.checked_signal(audio, 'The input to enhance')
    self.check_length(len(audio))
    return audio, audio_io.rms(audio)

  def check_length(self, length):
    """A UserError for input shorter than one STFT hop."""
    if length < self.stft.hop_length:
      rate = self.config.audio.sample_rate
      raise UserError(f'The input to enhance is {length} sample{"s" * (length != 1)} long; '
                      'enhancement '
                      f'needs at least one STFT hop, {self.stft.hop_length} samples '
                      f'({1000 * self.stft.hop_length / rate:.0f} ms at {rate} Hz).')

  def enhance(self, trained, audio, *, seed: int = 0):
    """Noisy speech [L] at trained.sample_rate -> enhanced speech [L]."""
    return next(self.enhance_many(trained, [audio], seed=seed))

  def enhance_many(self, trained, audios, *, seed: int = 0):
    """Yields each noisy recording [L_i] enhanced ([L_i]), in order (see
    enhance_blocks)."""
    if isinstance(audios, np.ndarray) and audios.ndim == 1:
      raise UserError('enhance_many takes a list of recordings [L_i]; for one recording '
                      'call enhance(audio).')
    several = not hasattr(audios, '__len__') or len(audios) > 1

    def sources():
      for index, audio in enumerate(audios):
        try:
          audio, _ = self.check_input(audio)
        except UserError as error:
          if several:  # say which one
            raise UserError(f'Recording {index} (counting from 0): {error}') from None
          raise
        yield windowed.ArraySource(audio)

    for _, blocks in itertools.groupby(self.enhance_blocks(trained, sources(), seed=seed),
                                       key=lambda item: item[0]):
      yield np.concatenate([block for _, block in blocks])

  def enhance_blocks(self, trained, sources, *, seed: int = 0):
    """Yields (index, enhanced float32 [n]) for checked recordings (sources
    with length, rms() and blocks(): windowed.ArraySource,
    streams.FileSource), in order; the blocks of recording i concatenate to
    its enhancement [L_i], and memory does not grow with length
    (enhancement/windowed.py: windows of config.enhance.window_frames
    cross-faded over overlap_frames, batch_windows to a network batch,
    shared by consecutive recordings).

    With config.enhance.shifts = S > 1, each recording is enhanced S times,
    delayed by k * hop / S samples (k < S; the delay is filled with the
    recording's mirror image), and the S estimates are averaged: a network
    on STFT frames is not invariant to shifts smaller than a hop, and the
    mean of the shifted estimates has fewer of its artifacts (on the unseen
    recorded speaker, S=8: PESQ-WB +0.07, S=4: +0.06; benchmarks/README).
    """
    settings, hop = self.settings, self.stft.hop_length
    if not 1 <= settings.shifts <= hop:
      raise UserError(f'config.enhance.shifts is {settings.shifts}; give 1 (no shifts) to '
                      f'{hop} (one per sample of the {hop}-sample hop: more repeat a delay).')

    def run(clips, first):
      # Window k of the whole list draws with key k: batching does not matter.
      request = self.request(clips, [''] * len(clips), trained.frozen)
      return trained.run(request, jax.random.PRNGKey(seed), first)

    return windowed.enhanced_blocks(
        run, sources, input_rms=settings.input_rms, window=settings.window_frames * hop,
        overlap=settings.overlap_frames * hop, hop=hop,
        delays=[k * hop // settings.shifts for k in range(settings.shifts)],
        batch=settings.batch_windows)

  # ---- the held-out benchmark -----------------------------------------------
  def _family_noise_types(self, family):
    """The test noise types of a family: recorded speech meets recorded
    music, synthetic voices the synthetic notes (their set of earlier
    releases)."""
    swap = {'recorded': {'music': 'recorded_music'},
            'synthetic': {'recorded_music': 'music'}}.get(family, {})
    return tuple(dict.fromkeys(swap.get(t, t) for t in self.settings.noise_types))

  def test_set(self):
    """The held-out mixtures, each with its 'family'. From clean speech:
    config.enhance.test_utterances test utterances of each held-out voice x
    every noise type x every test SNR; recorded voices ('recorded') and
    synthetic ones ('synthetic') apart, each with babble from its own
    held-out voices' training utterances (talkers never trained on), music
    from a track training never heard, other noises from a seed training
    never used. From a paired dataset: its test split as recorded."""
    settings = self.settings
    if data.stores(self.config, 'noisy'):
      clean = data.load_utterances(self.config, 'test', settings.test_utterances)
      noisy = data.load_utterances(self.config, 'test', settings.test_utterances,
                                   stored='noisy')
      return [dict(clean=c, noisy=n, noise_type='recorded', snr_db=float('nan'), index=i,
                   family='test') for i, (c, n) in enumerate(zip(clean, noisy))]
    if self.config.data.name not in _VOICED_DATASETS:  # no voices to hold out
      families = {'test': [self.config]}
    else:
      families = {}
      for voice in settings.test_voices:
        config = copy.deepcopy(self.config)
        config.data.voices = (voice,)
        recorded = real_speech.is_recorded(voice)
        config.data.name = 'real_speech' if recorded else 'flite_speech'
        families.setdefault('recorded' if recorded else 'synthetic', []).append(config)
    mixtures = []
    for family_index, (family, members) in enumerate(sorted(families.items(),
                                                            key=lambda f: f[0] != 'synthetic')):
      clean, pool = [], []
      noise_types = self._family_noise_types(family)
      count = (settings.recorded_test_utterances if family == 'recorded'
               else settings.test_utterances)
      for config in members:
        clean += data.load_utterances(config, 'test', count)
        if 'babble' in noise_types:
          pool += data.load_utterances(config, 'train',
                                       -(-settings.babble_utterances // len(members)))
      music_pool = (asterisk.music_tracks('test', self.config.audio.sample_rate)
                    if 'recorded_music' in noise_types else ())
      # The synthetic family keeps the seed (and so the mixtures) it always had.
      for mixture in noise.held_out_mixtures(
          clean, noise_types, tuple(float(v) for v in settings.test_snr_db),
          self.config.audio.sample_rate, TEST_SEED + family_index, pool, music_pool):
        mixtures.append(dict(mixture, family=family))
    return mixtures

  def held_out_metrics(self, trained):
    """PESQ-WB, ESTOI and SI-SDR of each system on `test_set`, per family
    (recorded, synthetic): overall, per SNR and per noise type; with the
    enhancer's cost."""
    rate = self.config.audio.sample_rate
    systems = {'noisy': lambda x: x,
               'wiener': lambda x: classical.wiener_filter(x, rate),
               self.method: lambda x: self.enhance(trained, x)}
    if self.method == 'storm':
      systems['predictive'] = self.predictor.enhance
    scores = {}
    seconds, audio_seconds = 0.0, 0.0
    for mixture in self.test_set():
      family = scores.setdefault(mixture['family'], {name: [] for name in systems})
      for name, system in systems.items():
        start = time.perf_counter()
        estimate = system(mixture['noisy'])
        if name == self.method:
          seconds += time.perf_counter() - start
          audio_seconds += len(mixture['noisy']) / rate
        row = quality(mixture['clean'], estimate, rate)
        row.update(noise_type=mixture['noise_type'], snr_db=mixture['snr_db'])
        family[name].append(row)
    return {'held_out': {family: summarize(rows) for family, rows in scores.items()},
            'held_out_cost': {
                # storm: the predictor's call, then the sampler's.
                'network_calls_per_window': (trained.exp.sampler.num_evals
                                             + (self.method == 'storm')
                                             if self.uses_diffusion() else 1),
                'seconds_per_audio_second': seconds / max(audio_seconds, _EPS),
                'num_mixtures': sum(len(rows['noisy']) for rows in scores.values())}}


def summarize(scores):
  """{system: [row with metrics, noise_type, snr_db]} -> {system: {'all': ...,
  'snr_<v>': ..., '<noise type>': ..., '<noise type>@<v>': ...}}, each the
  metrics' means."""
  summary = {}
  for system, rows in scores.items():
    groups = {'all': rows}
    for row in rows:
      if not np.isnan(row['snr_db']):  # recorded pairs have no set SNR
        groups.setdefault(f'snr_{row["snr_db"]:g}', []).append(row)
        groups.setdefault(f'{row["noise_type"]}@{row["snr_db"]:g}', []).append(row)
      groups.setdefault(row['noise_type'], []).append(row)
    summary[system] = {
        group: audio_metrics.average([{k: r[k] for k in ('pesq_wb', 'estoi', 'si_sdr')}
                                for r in members])
        for group, members in groups.items()}
  return summary
