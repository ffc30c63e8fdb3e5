"""A vocoder at the mel's frame rate: log mel -> compressed complex STFT -> waveform.

The state is the clip's STFT with config.audio's n_fft and hop (so its
frames are the mel's), each coefficient compressed to
compression_scale * |X|**compression_exponent * exp(i angle X)
(`enhancement.representation.StftFeatures`). The diffusion is a bridge
(`diffusion/sde.py`): it ends at N(s, prior_scale^2 I) around a start s read
off the mel, and runs from there to the recording's spectrum:
  'pseudo_inverse'  the mel's non-negative least-squares magnitude, zero
                    phase (BridgeVoC);
  'griffin_lim'     the same magnitude with Griffin-Lim's phases
                    (config.vocoder.griffin_lim_iters iterations).
The network (a ConvNeXt over frames, `models/convnext1d.py`) reads the state,
the log mel and the start s (in the bridge's coordinates the noisiest state
is pure noise, so s must be read to be refined) and predicts the clean
spectrum; with its output layer at zero it starts by returning s. Beside the diffusion term, the one-step
output (from the noisiest step) is scored by a multi-resolution STFT
distance on its waveform (weight config.vocoder.stft_loss_weight), so 1-4
sampler steps suffice. Chunking, metrics and `vocode` are the waveform
vocoder's (`tasks/vocoder.py`).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import tasks
from audiodiff.audio import spectral
from audiodiff.diffusion import process, schedules, sde
from audiodiff.enhancement import representation
from audiodiff.errors import UserError
from audiodiff.latent import losses
from audiodiff.tasks import base
from audiodiff.tasks import vocoder

STARTS = ('pseudo_inverse', 'griffin_lim')


@tasks.TASKS.register('frame_vocoder')
class FrameVocoder(vocoder.Vocoder):
  name = 'frame_vocoder'

  @property
  def settings(self):
    return self.config.vocoder

  def check_config(self):
    base.Task.check_config(self)
    config, settings = self.config, self.settings
    if config.data.segment_length % config.audio.hop_length:
      raise UserError(
          f'config.data.segment_length={config.data.segment_length} must be a '
          f'multiple of config.audio.hop_length={config.audio.hop_length} for a vocoder.')
    if settings.start not in STARTS:
      raise UserError(f'Unknown config.vocoder.start={settings.start!r}; choose one of '
                      f'{", ".join(STARTS)}.')
    if config.model.name != 'convnext1d':
      raise UserError("config.task='frame_vocoder' runs over STFT frames; use "
                      '--config.model.name=convnext1d.')
    if config.diffusion.prediction != 'x0':
      raise UserError("config.task='frame_vocoder' predicts the clean spectrum; use "
                      "--config.diffusion.prediction=x0.")
    if not settings.prior_scale > 0 or settings.stft_loss_weight < 0:
      raise UserError(f'config.vocoder.prior_scale={settings.prior_scale} must be > 0 and '
                      f'stft_loss_weight={settings.stft_loss_weight} >= 0.')
    if config.audio.win_length not in (None, config.audio.n_fft):
      raise UserError(f'config.audio.win_length={config.audio.win_length} must equal n_fft='
                      f'{config.audio.n_fft} for a frame vocoder.')
    self.check_chunks()

  def model_inputs(self):
    return {'cond_channels': self.config.audio.n_mels + self.stft.channels}

  @functools.cached_property
  def stft(self) -> representation.StftFeatures:
    settings = self.settings
    return representation.StftFeatures(
        n_fft=int(self.config.audio.n_fft), hop_length=int(self.config.audio.hop_length),
        exponent=float(settings.compression_exponent), scale=float(settings.compression_scale))

  def start(self, mel):
    """log mel [B, frames, n_mels] -> the bridge's start [B, frames, 2 * bins]."""
    audio_config = self.config.audio
    if self.settings.start == 'griffin_lim':
      waveform = spectral.griffin_lim(mel, audio_config,
                                      num_iters=int(self.settings.griffin_lim_iters))
      return self.stft.to_features(waveform)
    magnitude = spectral.mel_to_magnitude(spectral.decompress_mel(mel),
                                          spectral.mel_from_config(audio_config).filterbank,
                                          num_iters=32)
    compressed = self.stft.compress(magnitude.astype(jnp.complex64))
    return jnp.concatenate([compressed.real, jnp.zeros_like(compressed.real)],
                           axis=-1).astype(jnp.float32)

  def conditioning(self, mel):
    """log mel [B, frames, n_mels] -> (the network's cond: the mel and the
    start, the bridge's Prior)."""
    start = self.start(mel)
    return ({'signal': jnp.concatenate([mel, start], axis=-1)},
            sde.prior(start, float(self.settings.prior_scale)))

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    del rng, train, frozen, network
    audio = batch['audio']
    cond, prior = self.conditioning(self.mel(audio))
    return base.DiffusionInputs(x0=self.stft.to_features(audio), cond=cond, prior=prior)

  def loss_weights(self):
    return {'stft': float(self.settings.stft_loss_weight)}

  def extra_losses(self, apply_fn, batch, inputs, rng, *, train, frozen=None, step=None):
    """The multi-resolution STFT distance of the one-step output's waveform
    (from the noisiest step, as a 1-step sampler runs it) to the clip."""
    del train, frozen, step
    if not self.settings.stft_loss_weight:
      return {}
    schedule = self._schedule
    last = jnp.full((inputs.x0.shape[0],), schedule.num_steps - 1, jnp.float32)
    alpha, sigma = schedule.alpha_sigma_at(last)
    z0 = inputs.prior.to_diffusion(inputs.x0)
    z_t = (process.expand_like(alpha, z0) * z0
           + process.expand_like(sigma, z0) * jax.random.normal(rng, z0.shape))
    estimate = self.stft.to_audio(inputs.prior.to_data(apply_fn(z_t, last, inputs.cond)))
    return {'stft': losses.mr_stft_loss(batch['audio'], estimate)}

  @functools.cached_property
  def _schedule(self):
    with jax.ensure_compile_time_eval():  # constants, also when first asked inside a jit
      return schedules.get_schedule(self.config.diffusion)

  def request_from_mel(self, mel, names, reference=None):
    """mel [N, frames, n_mels] -> the request to vocode it."""
    cond, prior = self.conditioning(jnp.asarray(mel, jnp.float32))
    return base.SampleRequest(shape=tuple(prior.mean.shape), names=list(names), cond=cond,
                              prior=prior, reference=reference)

  def decode(self, x, frozen=None):
    """Spectra [N, frames, 2 * bins] -> audio [N, frames * hop_length]."""
    del frozen
    return np.asarray(self.stft.to_audio(jnp.asarray(x)))
