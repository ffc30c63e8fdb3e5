"""Audio autoencoder: the first stage of latent diffusion (config.task='autoencoder').

A VAE (models/autoencoder.py) learns audio [B, L] -> latent [B, L / hop, C]
-> audio. Its loss (no diffusion term) is
  mr_stft (1)  + kl_weight * KL(q(z | x) || N(0, I))
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
from audiodiff.errors import UserError
from audiodiff.latent import losses
from audiodiff.tasks import base


def autoencoder_hop(config) -> int:
  """Samples per latent frame: patch * prod(strides) of config.model.autoencoder."""
  hop = int(config.model.autoencoder.patch)
  for stride in config.model.autoencoder.strides:
    hop *= int(stride)
  return hop


@tasks.TASKS.register('autoencoder')
class Autoencoder(base.Task):
  name = 'autoencoder'
  features = ('audio',)

  def check_config(self):
    super().check_config()
    if self.config.model.name != 'autoencoder':
      raise UserError("config.task='autoencoder' trains config.model.name='autoencoder'; "
                      "set --config.model.name=autoencoder.")
    hop = autoencoder_hop(self.config)
    if self.config.data.segment_length % hop:
      raise UserError(f'config.data.segment_length={self.config.data.segment_length} must '
                      f'be a multiple of the autoencoder hop {hop} (model.autoencoder.patch x '
                      'model.autoencoder.strides).')
    s = self.settings
    for name in ('kl_weight', 'adversarial_weight', 'feature_weight'):
      if s[name] < 0:
        raise UserError(f'config.autoencoder.{name}={s[name]} must be >= 0.')
    if self.adversarial and not self.config.model.autoencoder.adversarial:
      raise UserError('config.autoencoder.adversarial_weight / feature_weight > 0 need the '
                      'discriminator: set --config.model.autoencoder.adversarial=True.')

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
    terms = {'mr_stft': losses.mr_stft_loss(inputs.x0, aux['reconstruction']),
             'kl': losses.gaussian_kl(aux['mean'], aux['log_std'])}
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

  def needs_reference(self):
    return True

  def sample_request(self, num_samples, reference_batch=None, network=None):
    """Reconstruction of the first num_samples held-out clips."""
    if reference_batch is None:
      raise UserError('The autoencoder samples by reconstructing clips: pass a batch.')
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
    of the hop), reconstructed from their latent means."""
    from audiodiff.data import pipeline  # pylint: disable=g-import-not-at-top
    source = pipeline.get_builder(self.config)
    source.download_and_prepare()
    examples = source.as_data_source('test')
    hop = autoencoder_hop(self.config)
    reconstruct = jax.jit(lambda params, audio: trained.exp.model.apply(
        {'params': params}, audio))
    rows = []
    for start in range(0, min(len(examples), max_clips), batch_size):
      # Levelled as training saw them (config.data.normalize).
      clips = [audio_io.normalize(examples[i]['audio'], self.config.data.normalize)
               for i in range(start, min(start + batch_size, max_clips, len(examples)))]
      length = min(len(c) for c in clips) // hop * hop
      audio = np.stack([c[:length] for c in clips]).astype(np.float32)
      estimates = np.asarray(reconstruct(trained.params, jnp.asarray(audio)))
      rows.extend(self._reconstruction_metrics(reference, estimate)
                  for reference, estimate in zip(audio, estimates))
    means = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    return {'held_out_reconstruction': dict(means, num_clips=len(rows),
                                            seconds_per_clip=length / self.config.audio.sample_rate)}
