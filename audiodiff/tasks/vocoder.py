"""Neural vocoding: log-mel spectrogram -> waveform (DiffWave, WaveGrad).

The network reads the clip's own log-mel (config.audio) and learns the
waveform. Evaluation resynthesises held-out clips from their mels and scores
them against the originals, with Griffin-Lim of the same mels as a baseline.
`trained.vocode(mel=... or audio=...)` handles any length, in overlapping
chunks (config.vocoder) joined with linear cross-fades.

config.vocoder.prior='energy' is PriorGrad's data-dependent prior (Lee et
al. 2022): the diffusion ends at N(0, diag(sigma^2)) with sigma each frame's
RMS as read from its mel, so silence starts (and stays) quiet and the loss
weighs each sample by 1 / sigma^2. 'griffin_lim' goes further, as StoRM
does for enhancement: the diffusion ends at N(g, diag((prior_scale
sigma)^2)) around g, the mel's Griffin-Lim waveform, which the network also
reads (cond['signal']); it learns to turn Griffin-Lim into speech.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from audiodiff import tasks
from audiodiff.metrics import audio_metrics
from audiodiff.diffusion import samplers
from audiodiff.audio import audio_io, spectral
from audiodiff.errors import UserError
from audiodiff.audio import windows
from audiodiff.tasks import base

PRIORS = ('standard', 'energy', 'griffin_lim')
# DiffWave's scaled log-mel is in [0, 1]; a little rounding beyond is accepted.
MEL_RANGE = (-0.05, 1.05)


@tasks.TASKS.register('vocoder')
class Vocoder(base.Task):
  name = 'vocoder'
  features = ('audio',)
  api_methods = ('vocode',)
  output_fix = ('The input is louder than any speech the vocoder learned (a mel near 1 '
                'everywhere) or not a log mel of audio; give the log mel of a recording '
                '(audiodiff.audio.spectral.log_mel) or the wav itself.')

  def check_config(self):
    super().check_config()
    config = self.config
    if config.data.segment_length % config.audio.hop_length:
      raise UserError(
          f'config.data.segment_length={config.data.segment_length} must be a '
          f'multiple of config.audio.hop_length={config.audio.hop_length} for a vocoder.')
    settings = self.settings
    if settings.prior not in PRIORS:
      raise UserError(f'Unknown config.vocoder.prior={settings.prior!r}; choose one of '
                      f'{", ".join(PRIORS)}.')
    if not settings.prior_floor > 0 or not settings.prior_scale > 0:
      raise UserError(f'config.vocoder.prior_floor={settings.prior_floor} and prior_scale='
                      f'{settings.prior_scale} must be > 0.')
    if settings.prior == 'griffin_lim' and config.model.name != 'unet1d':
      raise UserError("config.vocoder.prior='griffin_lim' feeds the Griffin-Lim waveform "
                      "to the network as a signal; use --config.model.name=unet1d.")
    self.check_chunks()

  def check_chunks(self):
    settings = self.settings
    if not 0 <= settings.overlap_frames < settings.chunk_frames or settings.batch_chunks < 1:
      raise UserError(
          f'config.vocoder needs 0 <= overlap_frames < chunk_frames and batch_chunks >= 1; '
          f'got overlap_frames={settings.overlap_frames}, chunk_frames='
          f'{settings.chunk_frames}, batch_chunks={settings.batch_chunks}.')

  def model_inputs(self):
    return {'n_mels': self.config.audio.n_mels,
            'cond_channels': int(self.settings.prior == 'griffin_lim')}

  def mel(self, audio):
    """[B, L] -> [B, L // hop_length, n_mels] log-mel as the model sees it."""
    return spectral.log_mel(audio, self.config.audio)

  def frame_rms(self, mel):
    """log-mel [B, frames, n_mels] -> [B, frames]: the RMS of white noise
    with each frame's mel power (calibrated on white noise once)."""
    power = jnp.mean(jnp.square(spectral.decompress_mel(mel)), axis=-1)
    return jnp.sqrt(power) * self._rms_per_mel_magnitude

  @functools.cached_property
  def _rms_per_mel_magnitude(self):
    noise = np.random.default_rng(0).standard_normal((1, 256 * self.config.audio.hop_length))
    with jax.ensure_compile_time_eval():  # a constant, also when first asked inside a jit
      mel = spectral.mel_from_config(self.config.audio).linear_mel(
          jnp.asarray(noise, jnp.float32))
      return float(1.0 / jnp.sqrt(jnp.mean(jnp.square(mel))))

  def prior(self, mel):
    """log-mel [B, frames, n_mels] -> the samplers.Prior of the waveform
    [B, frames * hop_length] (None for the standard N(0, I))."""
    return self.conditioning(mel)[1]

  def conditioning(self, mel):
    """log-mel [B, frames, n_mels] -> (the network's cond, the Prior or None)."""
    settings = self.settings
    if settings.prior == 'standard':
      return {'mel': mel}, None
    rms = jnp.maximum(self.frame_rms(mel), settings.prior_floor)
    scale = jnp.repeat(rms, self.config.audio.hop_length, axis=1)
    if settings.prior == 'energy':
      return {'mel': mel}, samplers.Prior(mean=0.0, scale=scale)
    estimate = spectral.griffin_lim(mel, self.config.audio, num_iters=settings.griffin_lim_iters)
    return ({'mel': mel, 'signal': estimate[..., None]},
            samplers.Prior(mean=estimate, scale=settings.prior_scale * scale))

  def diffusion_inputs(self, batch, rng, *, train, frozen=None, network=None):
    del rng, train, frozen
    cond, prior = self.conditioning(self.mel(batch['audio']))
    return base.DiffusionInputs(x0=batch['audio'], cond=cond, prior=prior)

  def needs_reference(self):
    return True

  def sample_request(self, num_samples, reference_batch=None, network=None):
    """Resynthesis of the first num_samples clips of reference_batch."""
    if reference_batch is None:
      raise UserError("The vocoder resynthesises reference audio: pass reference_batch="
                      "{'audio': clips [N, samples]} to sample(), or vocode one input with "
                      "vocode(mel=...) or vocode(audio=...).")
    audio = np.asarray(reference_batch['audio'][:num_samples])
    return self.request_from_mel(np.asarray(self.mel(jnp.asarray(audio))),
                                 [f'vocoded_{i:03d}' for i in range(len(audio))],
                                 reference=audio)

  def request_from_mel(self, mel, names, reference=None):
    """mel [N, frames, n_mels] -> the request to vocode it."""
    hop = self.config.audio.hop_length
    cond, prior = self.conditioning(jnp.asarray(mel, jnp.float32))
    return base.SampleRequest(shape=(mel.shape[0], mel.shape[1] * hop), names=list(names),
                              cond=cond, prior=prior, reference=reference)

  def sample_metrics(self, audio, request):
    """Metrics of the resynthesis and of Griffin-Lim from the same mels."""
    reference = request.reference
    baseline = np.asarray(spectral.griffin_lim(self.mel(jnp.asarray(reference)),
                                               self.config.audio))
    rows = {'diffusion': [], 'griffin_lim': []}
    for key, estimates in (('diffusion', audio), ('griffin_lim', baseline)):
      for ref, est in zip(reference, np.asarray(estimates)):
        rows[key].append(audio_metrics.evaluate_pair(ref, est, self.config.audio.sample_rate,
                                               self.config.audio))
    return rows

  def check_input(self, mel=None, audio=None):
    """One of mel [frames, n_mels] or audio [L] -> (mel float32 or None,
    audio float32 or None); a UserError for anything `vocode` cannot take:
    audio shorter than a hop (or as checked_signal refuses it), a mel of
    another shape, with NaN/inf, or outside MEL_RANGE."""
    if (mel is None) == (audio is None):
      raise UserError('vocode takes one of mel=[frames, n_mels] or audio=[L].')
    if mel is None:
      audio = audio_io.checked_signal(audio, 'vocode(audio=...)')
      hop = self.config.audio.hop_length
      if len(audio) < hop:
        raise UserError(f'vocode needs mono audio [L] of at least one hop ({hop} '
                        f'samples); got shape {audio.shape}.')
      return None, audio
    try:
      mel = np.asarray(mel)
    except ValueError:   # a ragged list
      mel = np.asarray([], object)
    if mel.dtype.kind != 'f':
      raise UserError(f'A mel must be a float array [frames, n_mels] with values in [0, 1]; '
                      f'got {mel.dtype} values (audiodiff.audio.spectral.log_mel makes one '
                      'from audio).')
    mel = mel.astype(np.float32)
    n_mels = self.config.audio.n_mels
    if mel.ndim != 2 or mel.shape[1] != n_mels or not len(mel):
      hint = (' (a waveform goes in as vocode(audio=...))' if mel.ndim == 1 else
              ': it has no frames' if mel.ndim == 2 and mel.shape[1] == n_mels else '')
      raise UserError(f'A mel must be [frames, n_mels={n_mels}]; got shape {mel.shape}{hint}.')
    if not np.all(np.isfinite(mel)):
      raise UserError('The mel holds NaN or inf values; nothing was vocoded.')
    if mel.min() < MEL_RANGE[0] or mel.max() > MEL_RANGE[1]:
      raise UserError(f'The mel holds values from {mel.min():.3g} to {mel.max():.3g}; a '
                      'log-mel of this project lies in [0, 1] (audiodiff.audio.spectral.log_mel '
                      'makes one from audio).')
    return mel, None

  def vocode(self, trained, mel=None, audio=None, *, seed: int = 0):
    """A log-mel [frames, n_mels] (or the audio [L] to take it from) of any
    length -> audio [frames * hop_length] (from audio: [L], the part after
    the last whole hop silent) at config.audio.sample_rate. Audio quieter
    than audio_io.QUIET_DBFS is vocoded at speech level and scaled back.

    Chunks of config.vocoder.chunk_frames overlapping by overlap_frames are
    vocoded batch_chunks at a time: memory is bounded by the chunk batch, not
    the input length (DiffWave's precomputed conditioner holds
    num_layers * 2C floats per sample).
    """
    mel, audio = self.check_input(mel, audio)
    hop = self.config.audio.hop_length
    gain = 1.0
    if mel is None:   # the mel of the whole hops; a quiet recording's at speech level
      gain = audio_io.working_gain(audio_io.rms(audio))
      whole = audio[None, :len(audio) // hop * hop] * np.float32(gain)
      mel = np.asarray(self.mel(jnp.asarray(whole)))[0]
    settings = self.settings
    num_frames = mel.shape[0]
    chunk_frames = min(settings.chunk_frames, num_frames)
    starts = windows.window_starts(num_frames, chunk_frames, settings.overlap_frames)
    pieces = []
    for first in range(0, len(starts), settings.batch_chunks):
      group = starts[first:first + settings.batch_chunks]
      request = self.request_from_mel(np.stack([mel[s:s + chunk_frames] for s in group]),
                                      [''] * len(group))
      pieces.extend(trained.run(request, jax.random.PRNGKey(seed), first))
    waveform = windows.cross_fade(pieces, [s * hop for s in starts], num_frames * hop,
                                  settings.overlap_frames * hop)
    if audio is not None:
      waveform = np.pad(waveform, (0, len(audio) - len(waveform))) / np.float32(gain)
    return waveform
