"""Audio autoencoder: the first stage of latent diffusion (config.task='autoencoder').

A VAE (models/autoencoder.py on the waveform, or
models/spectral_autoencoder.py on the compressed complex STFT) learns audio
[B, L] -> latent [B, L / hop, C] -> audio. Its loss (no diffusion term) is
  mr_stft (1)  + kl_weight * KL(q(z | x) || N(0, I))
  [+ complex_weight * the compressed complex STFT's squared error]
  [+ adversarial_weight * hinge generator loss + feature_weight * feature
   matching, from step adversarial_start; + the discriminator's hinge loss]
with config.autoencoder's weights. The optional discriminator is part of the
same parameter tree: the generator's terms see it through stop-gradient
parameters and its own term sees the reconstruction through a stop-gradient,
so one optimizer step updates each side with its own loss only.

Sampling reconstructs held-out clips; its metrics are MR-STFT, SI-SDR and
mel L1 of the reconstructions. `config.latent.autoencoder_workdir` of a
latent-diffusion run names the trained autoencoder.
"""

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import tasks
from audiodiff.audio import audio_io
from audiodiff.metrics import audio_metrics
from audiodiff.diffusion import samplers
from audiodiff.enhancement import representation
from audiodiff.errors import UserError
from audiodiff.latent import losses
from audiodiff.tasks import base


AUTOENCODERS = ('autoencoder', 'spectral_autoencoder')


def autoencoder_hop(config) -> int:
  """Samples per latent frame: patch * prod(strides) of config.model.autoencoder,
  or config.model.spectral_autoencoder.stft_hop."""
  if config.model.name == 'spectral_autoencoder':
    return int(config.model.spectral_autoencoder.stft_hop)
  hop = int(config.model.autoencoder.patch)
  for stride in config.model.autoencoder.strides:
    hop *= int(stride)
  return hop


def autoencoder_latent_channels(config) -> int:
  """Channels of a latent frame, of whichever autoencoder config.model names."""
  return int(config.model[config.model.name].latent_channels)


@tasks.TASKS.register('autoencoder')
class Autoencoder(base.Task):
  name = 'autoencoder'
  features = ('audio',)

  def check_config(self):
    super().check_config()
    if self.config.model.name not in AUTOENCODERS:
      raise UserError("config.task='autoencoder' trains config.model.name='autoencoder' or "
                      "'spectral_autoencoder'; set --config.model.name=autoencoder.")
    hop = autoencoder_hop(self.config)
    if self.config.data.segment_length % hop:
      raise UserError(f'config.data.segment_length={self.config.data.segment_length} must '
                      f'be a multiple of the autoencoder hop {hop}.')
    s = self.settings
    for name in ('kl_weight', 'adversarial_weight', 'feature_weight', 'complex_weight'):
      if s[name] < 0:
        raise UserError(f'config.autoencoder.{name}={s[name]} must be >= 0.')
    if not s.stft_resolutions:
      raise UserError('config.autoencoder.stft_resolutions is empty: give at least one '
                      '(n_fft, hop) pair, e.g. ((512, 128),).')
    crop = self.config.data.segment_length
    for pair in s.stft_resolutions:
      if not (len(pair) == 2 and all(isinstance(v, int) and v > 0 for v in pair)
              and pair[1] <= pair[0] <= crop):
        raise UserError(f'config.autoencoder.stft_resolutions has {tuple(pair)}: give '
                        f'(n_fft, hop) pairs of whole numbers with hop <= n_fft <= the '
                        f'training crop ({crop} samples), e.g. ((512, 128), (2048, 512)).')
    if s.complex_weight and self.config.model.name != 'spectral_autoencoder':
      raise UserError('config.autoencoder.complex_weight > 0 scores the compressed complex '
                      "STFT of config.model.name='spectral_autoencoder'; use that model or "
                      'set it to 0.')
    name = self.config.model.name
    if self.adversarial and not self.config.model[name].get('adversarial', False):
      raise UserError('config.autoencoder.adversarial_weight / feature_weight > 0 need the '
                      f'discriminator: set --config.model.{name}.adversarial=True.')

  @property
  def adversarial(self) -> bool:
    return self.settings.adversarial_weight > 0 or self.settings.feature_weight > 0

  def uses_diffusion(self):
    return False

  def predict(self, apply_fn, measurement, cond):
    """The reconstruction of measurement [B, L] (the posterior mean decoded)."""
    return apply_fn(measurement, jnp.zeros(measurement.shape[:1]), cond)

  def loss_weights(self):
    weights = {'mr_stft': 1.0, 'kl': self.settings.kl_weight}
    if self.settings.complex_weight:
      weights['complex'] = self.settings.complex_weight
    if self.adversarial:
      weights.update(adversarial=self.settings.adversarial_weight,
                     feature_matching=self.settings.feature_weight, discriminator=1.0)
    return weights

  def init_variables(self, model, rng, frozen=None):
    audio = jnp.zeros((1, self.config.data.segment_length), jnp.float32)
    return model.init(rng, audio)['params']

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    """Runs the autoencoder (and the discriminator): what extra_losses read."""
    del rng, frozen
    audio = batch['audio']
    reconstruction, mean, log_std = network('reconstruct', audio)
    aux = {'reconstruction': reconstruction, 'mean': mean, 'log_std': log_std}
    if self.adversarial:
      aux['real'] = network('discriminate', audio, False)
      # The generator's view (the discriminator's parameters held) and the
      # discriminator's view (the reconstruction held).
      aux['fake_for_generator'] = network('discriminate', reconstruction, True)
      aux['fake_for_discriminator'] = network('discriminate',
                                              jax.lax.stop_gradient(reconstruction), False)
    return base.DiffusionInputs(x0=audio, aux=aux)

  def extra_losses(self, apply_fn, batch, inputs, rng, *, train, frozen=None, step=None):
    del apply_fn, batch, rng, train, frozen
    aux = inputs.aux
    resolutions = tuple(tuple(pair) for pair in self.settings.stft_resolutions)
    terms = {'mr_stft': losses.mr_stft_loss(inputs.x0, aux['reconstruction'], resolutions),
             'kl': losses.gaussian_kl(aux['mean'], aux['log_std'])}
    if self.settings.complex_weight:
      terms['complex'] = losses.complex_stft_loss(inputs.x0, aux['reconstruction'],
                                                  self._features())
    if self.adversarial:
      logits = lambda outputs: [o[0] for o in outputs]
      feats = lambda outputs: [o[1] for o in outputs]
      real = jax.tree.map(jax.lax.stop_gradient, aux['real'])
      started = 1.0 if step is None else (step >= self.settings.adversarial_start)
      terms['adversarial'] = started * losses.hinge_generator_loss(
          logits(aux['fake_for_generator']))
      terms['feature_matching'] = started * losses.feature_matching(
          feats(real), feats(aux['fake_for_generator']))
      terms['discriminator'] = losses.hinge_discriminator_loss(
          logits(aux['real']), logits(aux['fake_for_discriminator']))
    return terms

  def _features(self):
    """The spectral autoencoder's compressed complex STFT."""
    m = self.config.model.spectral_autoencoder
    return representation.StftFeatures(m.n_fft, m.stft_hop, m.exponent, m.scale)

  def needs_reference(self):
    return True

  def sample_request(self, num_samples, reference_batch=None, network=None):
    """Reconstruction of the first num_samples held-out clips."""
    if reference_batch is None:
      raise UserError('The autoencoder samples by reconstructing held-out clips: pass '
                      'reference_batch={"audio": clips [N, L]} (the command line reads its '
                      'test set).')
    audio = np.asarray(reference_batch['audio'][:num_samples], np.float32)
    return base.SampleRequest(shape=audio.shape,
                              names=[f'reconstruction_{i:03d}' for i in range(len(audio))],
                              prior=samplers.Prior(mean=jnp.asarray(audio)), reference=audio)

  def sample_metrics(self, audio, request):
    """MR-STFT, SI-SDR and mel L1 of each reconstruction against its clip."""
    return {'autoencoder': [self._reconstruction_metrics(reference, estimate)
                            for reference, estimate in zip(request.reference, np.asarray(audio))]}

  def _reconstruction_metrics(self, reference, estimate):
    """{'mrstft', 'si_sdr', 'mel_l1'} of one reconstruction [L] against its clip [L]."""
    return {'mrstft': audio_metrics.multi_resolution_stft_distance(reference, estimate),
            'si_sdr': audio_metrics.si_sdr(reference, estimate),
            'mel_l1': audio_metrics.mel_l1(reference, estimate, self.config.audio)}

  def held_out_metrics(self, trained, max_clips: int = 128, batch_size: int = 8):
    """Means of MR-STFT, SI-SDR and mel L1 over up to max_clips whole
    held-out clips (levelled by config.data.normalize, each cut to a multiple
    of the hop), reconstructed from their latent means; and, where Debian's
    asterisk-moh-opsound-g722 is installed, over 4 s excerpts of its recorded
    music (a family no autoencoder here trained on)."""
    from audiodiff.data import asterisk, pipeline  # pylint: disable=g-import-not-at-top
    source = pipeline.get_builder(self.config)
    source.download_and_prepare()
    examples = source.as_data_source('test')
    clips = [examples[i]['audio'] for i in range(min(len(examples), max_clips))]
    results = {'held_out_reconstruction': self._mean_metrics(trained, clips, batch_size)}
    rate = self.config.audio.sample_rate
    try:
      tracks = asterisk.music_tracks('train', rate) + asterisk.music_tracks('test', rate)
    except UserError:  # the package is not installed
      return results
    excerpt = 4 * rate  # every 20 s of every track, from 10 s in
    clips = [track[start:start + excerpt] for track in tracks
             for start in range(10 * rate, len(track) - excerpt, 20 * rate)][:max_clips]
    results['recorded_music_reconstruction'] = self._mean_metrics(trained, clips, batch_size)
    return results

  def _mean_metrics(self, trained, clips, batch_size):
    """Mean reconstruction metrics over clips [L_i], batch_size at a time."""
    hop = autoencoder_hop(self.config)
    reconstruct = jax.jit(lambda params, audio: trained.exp.model.apply(
        {'params': params}, audio))
    rows = []
    for start in range(0, len(clips), batch_size):
      # Levelled as training saw them (config.data.normalize).
      part = [audio_io.normalize(c, self.config.data.normalize)
              for c in clips[start:start + batch_size]]
      length = min(len(c) for c in part) // hop * hop
      audio = np.stack([c[:length] for c in part]).astype(np.float32)
      estimates = np.asarray(reconstruct(trained.params, jnp.asarray(audio)))
      rows.extend(self._reconstruction_metrics(reference, estimate)
                  for reference, estimate in zip(audio, estimates))
    means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    return dict(means, num_clips=len(rows), seconds_per_clip=length / self.config.audio.sample_rate)
