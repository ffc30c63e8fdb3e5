"""Objective audio metrics on (reference [L], estimate [L]) pairs.

Host-side evaluation: inputs are numpy (or JAX) mono signals, results are
Python floats. Every metric first trims both signals to the shorter length,
since vocoders and samplers may return a few samples more or less.
Spectra come from `spectral.stft`, so the framing matches training.
"""

import logging
import math
import warnings

import jax.numpy as jnp
import numpy as np

from audiodiff.audio import audio_io
from audiodiff.audio import spectral

# (n_fft, hop_length, win_length), as in Parallel WaveGAN's multi-resolution
# STFT loss.
MRSTFT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
_EPS = 1e-12


def _trimmed(reference, estimate):
  """Both as float64 [L] with L the shorter length."""
  pair = []
  for name, x in (('reference', reference), ('estimate', estimate)):
    x = np.squeeze(np.asarray(x, dtype=np.float64))
    if x.ndim != 1:
      raise ValueError(f'{name} must be mono [L], got shape {x.shape}.')
    pair.append(x)
  length = min(len(pair[0]), len(pair[1]))
  if length == 0:
    raise ValueError('Empty reference or estimate.')
  return pair[0][:length], pair[1][:length]


def _magnitude(x, n_fft, hop_length, win_length):
  """|STFT| of [L] -> numpy [frames, n_fft // 2 + 1]."""
  spec = spectral.stft(x[None].astype(np.float32), n_fft, hop_length,
                       win_length)
  return np.abs(np.asarray(spec[0])).astype(np.float64)


def si_sdr(reference, estimate):
  """Scale-invariant SDR in dB (Le Roux et al. 2019), zero-mean signals.

  Args:
    reference, estimate: [L] (trimmed to the shorter).

  Returns:
    float dB; about +300 for identical signals (float64 round-off).
  """
  reference, estimate = _trimmed(reference, estimate)
  reference = reference - reference.mean()
  estimate = estimate - estimate.mean()
  scale = np.dot(estimate, reference) / (np.dot(reference, reference) + _EPS)
  target = scale * reference
  residual = estimate - target
  return float(10.0 * np.log10((np.sum(target**2) + _EPS)
                               / (np.sum(residual**2) + _EPS)))


def mr_stft_distance(reference, estimate, resolutions=MRSTFT_RESOLUTIONS, eps=1e-7):
  """Spectral convergence + log-magnitude L1, averaged over resolutions, in
  JAX (batched and differentiable: the autoencoder trains on it).

  Per resolution: ||S_ref - S_est||_F / ||S_ref||_F plus
  mean |log S_ref - log S_est|, with S = sqrt(max(|STFT|^2, eps)); the
  power floor (Parallel WaveGAN's) keeps digital silence from dominating.

  Args:
    reference, estimate: [B, L], L >= the largest hop.
    resolutions: (n_fft, hop_length, win_length) triples.

  Returns:
    float32 [B] >= 0; 0 for identical signals.
  """
  total = 0.0
  for n_fft, hop_length, win_length in resolutions:
    magnitude = lambda x: jnp.sqrt(jnp.maximum(
        jnp.abs(spectral.stft(x, n_fft, hop_length, win_length))**2, eps))
    ref, est = magnitude(reference), magnitude(estimate)
    convergence = (jnp.sqrt(jnp.sum((ref - est)**2, axis=(1, 2)))
                   / (jnp.sqrt(jnp.sum(ref**2, axis=(1, 2))) + 1e-8))
    total = total + convergence + jnp.mean(jnp.abs(jnp.log(ref) - jnp.log(est)), axis=(1, 2))
  return total / len(resolutions)


def multi_resolution_stft_distance(reference, estimate,
                                   resolutions=MRSTFT_RESOLUTIONS, eps=1e-7):
  """`mr_stft_distance` of two signals [L] (trimmed to the shorter) -> float."""
  reference, estimate = _trimmed(reference, estimate)
  pair = [jnp.asarray(x[None], jnp.float32) for x in (reference, estimate)]
  return float(mr_stft_distance(*pair, resolutions, eps)[0])


def log_spectral_distance(reference, estimate, n_fft=2048, hop_length=512):
  """Log-spectral distance in dB: per-frame RMS of the dB power difference.

  Args:
    reference, estimate: [L], L >= hop_length.
    n_fft, hop_length: STFT used (win_length = n_fft).

  Returns:
    float dB, averaged over frames; 0 for identical signals.
  """
  reference, estimate = _trimmed(reference, estimate)
  # The 1e-8 power floor (as in NVSR / AudioSR evaluations) makes bins silent
  # in both count as equal and bounds the penalty of digital silence.
  ref = np.log10(_magnitude(reference, n_fft, hop_length, n_fft)**2 + 1e-8)
  est = np.log10(_magnitude(estimate, n_fft, hop_length, n_fft)**2 + 1e-8)
  per_frame = np.sqrt(np.mean((10.0 * (ref - est))**2, axis=-1))
  return float(per_frame.mean())


def gap_snr(reference, estimate, weights):
  """SNR in dB over the samples a gap mask marks missing (weights == 0).

  Args:
    reference, estimate: [L].
    weights: [L] reliability (operators.gap_weights), 0 inside the gaps.
  """
  reference, estimate = _trimmed(reference, estimate)
  inside = np.asarray(weights)[:len(reference)] <= 0
  if not np.any(inside):
    raise ValueError('gap_snr: the mask marks no missing samples.')
  signal = np.sum(reference[inside] ** 2)
  noise = np.sum((reference[inside] - estimate[inside]) ** 2)
  return float(10.0 * np.log10((signal + _EPS) / (noise + _EPS)))


def high_band_lsd(reference, estimate, sample_rate, cutoff_hz, n_fft=2048,
                  hop_length=512, active_db=None):
  """Log-spectral distance (dB) over the bins at and above cutoff_hz only:
  the band a bandwidth extension has to invent. active_db: average only the
  frames whose reference energy is within active_db dB of its loudest frame
  (where speech is); None: every frame."""
  reference, estimate = _trimmed(reference, estimate)
  ref_power = _magnitude(reference, n_fft, hop_length, n_fft) ** 2
  ref = np.log10(ref_power + 1e-8)
  est = np.log10(_magnitude(estimate, n_fft, hop_length, n_fft) ** 2 + 1e-8)
  high = np.fft.rfftfreq(n_fft, 1.0 / sample_rate) >= cutoff_hz
  per_frame = np.sqrt(np.mean((10.0 * (ref[:, high] - est[:, high])) ** 2, axis=-1))
  if active_db is not None:
    per_frame = per_frame[_active_frames(ref_power, active_db)]
  return float(per_frame.mean())


def silent_high_band_excess(reference, estimate, sample_rate, cutoff_hz, n_fft=2048,
                            hop_length=512, active_db=40.0):
  """dB of high-band energy (>= cutoff_hz) the estimate has beyond the
  reference's in the frames where the reference is silent (more than
  active_db below its loudest frame): hiss a bandwidth extension adds
  where there was none. 0 or less: nothing added. nan if no frame is silent."""
  reference, estimate = _trimmed(reference, estimate)
  ref_power = _magnitude(reference, n_fft, hop_length, n_fft) ** 2
  est_power = _magnitude(estimate, n_fft, hop_length, n_fft) ** 2
  silent = ~_active_frames(ref_power, active_db)
  if not np.any(silent):
    return float('nan')
  high = np.fft.rfftfreq(n_fft, 1.0 / sample_rate) >= cutoff_hz
  added = np.sum(est_power[silent][:, high]) + 1e-12
  had = np.sum(ref_power[silent][:, high]) + 1e-12
  return float(10.0 * np.log10(added / had))


def _active_frames(power, active_db):
  """[frames] bool: frames of power [frames, bins] within active_db dB of the loudest."""
  energy = np.sum(power, axis=-1)
  return energy > np.max(energy) * 10.0 ** (-active_db / 10.0)


def gap_lsd(reference, estimate, weights, n_fft=256, hop_length=64):
  """Log-spectral distance (dB) over the STFT frames that lie mostly inside
  the gaps (weights == 0): what a listener hears of a filled gap, which the
  gap SNR (a waveform match) does not measure. nan if no frame fits."""
  reference, estimate = _trimmed(reference, estimate)
  missing = (np.asarray(weights)[:len(reference)] <= 0).astype(np.float64)
  count = len(reference) // hop_length
  padded = np.pad(missing, (n_fft // 2, n_fft))
  inside = np.array([padded[f * hop_length + hop_length // 2:][:n_fft].mean()
                     for f in range(count)]) > 0.5
  if not np.any(inside):
    return float('nan')
  ref = np.log10(_magnitude(reference, n_fft, hop_length, n_fft)[:count] ** 2 + 1e-8)
  est = np.log10(_magnitude(estimate, n_fft, hop_length, n_fft)[:count] ** 2 + 1e-8)
  per_frame = np.sqrt(np.mean((10.0 * (ref - est)) ** 2, axis=-1))
  return float(per_frame[inside].mean())


def sdr(reference, estimate):
  """Plain SDR in dB: 10 log10(|ref|^2 / |ref - est|^2) (no rescaling, as
  declipping papers report it)."""
  reference, estimate = _trimmed(reference, estimate)
  return float(10.0 * np.log10((np.sum(reference ** 2) + _EPS)
                               / (np.sum((reference - estimate) ** 2) + _EPS)))


def sdr_improvement(reference, degraded, estimate):
  """SDR(estimate) - SDR(degraded) in dB: declipping's delta-SDR."""
  return sdr(reference, estimate) - sdr(reference, degraded)


def mel_l1(reference, estimate, audio_config):
  """Mean absolute difference of DiffWave log mels (each in [0, 1]).

  Args:
    reference, estimate: [L] at audio_config.sample_rate, L >= hop_length.
    audio_config: `config.audio` or a `spectral.MelSpectrogram`.
  """
  reference, estimate = _trimmed(reference, estimate)
  mel = spectral.mel_from_config(audio_config)
  both = np.stack([reference, estimate]).astype(np.float32)
  log_mels = np.asarray(mel(both))
  return float(np.mean(np.abs(log_mels[0] - log_mels[1])))


def pesq_score(reference, estimate, sample_rate, mode='wb'):
  """PESQ (ITU-T P.862 / P.862.2) MOS-LQO via the `pesq` package.

  Resamples to 16 kHz for 'wb' and to 8 kHz for 'nb', the rates P.862 takes.

  Args:
    reference, estimate: [L] at sample_rate; PESQ wants >= ~0.25 s of speech.
    sample_rate: Hz.
    mode: 'wb' (wide band, about 1.0-4.64) or 'nb' (narrow band, 1.0-4.55).

  Returns:
    float, or NaN (with a logged warning) when PESQ finds no utterance, the
    signal is too short, or the package is missing.
  """
  if mode not in ('wb', 'nb'):
    raise ValueError(f"mode must be 'wb' or 'nb', got {mode!r}.")
  try:
    import pesq  # pylint: disable=g-import-not-at-top
  except ImportError:
    logging.warning('pesq is not installed (pip install pesq); PESQ = NaN.')
    return math.nan
  reference, estimate = _trimmed(reference, estimate)
  rate = 16000 if mode == 'wb' else 8000
  reference = audio_io.resample(reference, sample_rate, rate)
  estimate = audio_io.resample(estimate, sample_rate, rate)
  try:
    return float(pesq.pesq(rate, reference, estimate, mode))
  except pesq.PesqError as e:  # NoUtterancesError, BufferTooShortError, ...
    logging.warning('PESQ failed (%s: %s); returning NaN.',
                    type(e).__name__, e)
    return math.nan


def stoi_score(reference, estimate, sample_rate, extended=False):
  """Short-time objective intelligibility (Taal et al. 2011) via `pystoi`.

  pystoi resamples to 10 kHz itself and drops silent frames.

  Args:
    reference, estimate: [L] at sample_rate, ideally >= ~1 s of speech.
    sample_rate: Hz.
    extended: ESTOI (Jensen & Taal 2016) instead of STOI.

  Returns:
    float in about [0, 1]; NaN (with a warning) if pystoi is missing or the
    clip holds too little speech for it (pystoi's own answer there, 1e-5, is
    no score).
  """
  try:
    import pystoi  # pylint: disable=g-import-not-at-top
  except ImportError:
    logging.warning('pystoi is not installed (pip install pystoi); STOI = NaN.')
    return math.nan
  reference, estimate = _trimmed(reference, estimate)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    score = float(pystoi.stoi(reference, estimate, sample_rate, extended=extended))
  if any('Not enough STFT frames' in str(w.message) for w in caught):
    logging.warning('STOI needs more speech than this clip holds (%.2f s); returning NaN.',
                    len(reference) / sample_rate)
    return math.nan
  return score


def evaluate_pair(reference, estimate, sample_rate, audio_config):
  """All metrics of one (reference, estimate) pair.

  Args:
    reference, estimate: [L] at sample_rate.
    sample_rate: Hz; must equal audio_config.sample_rate (the mel needs it).
    audio_config: `config.audio` or a `spectral.MelSpectrogram`.

  Returns:
    {'si_sdr', 'mrstft', 'lsd', 'mel_l1', 'pesq', 'stoi'} -> float.
  """
  mel = spectral.mel_from_config(audio_config)
  if int(sample_rate) != mel.sample_rate:
    raise ValueError(f'sample_rate={sample_rate} differs from the mel config '
                     f'sample_rate={mel.sample_rate}; resample first.')
  reference, estimate = _trimmed(reference, estimate)
  return {
      'si_sdr': si_sdr(reference, estimate),
      'mrstft': multi_resolution_stft_distance(reference, estimate),
      'lsd': log_spectral_distance(reference, estimate),
      'mel_l1': mel_l1(reference, estimate, mel),
      'pesq': pesq_score(reference, estimate, sample_rate),
      'stoi': stoi_score(reference, estimate, sample_rate),
  }


def average(results):
  """Mean of each metric over a list of `evaluate_pair` dicts, NaNs skipped.

  A metric that is NaN everywhere (e.g. PESQ found no speech) stays NaN.

  Args:
    results: list of {name: float}; keys may differ between entries.

  Returns:
    {name: float} over the union of keys, and '<name>_clips' (how many
    clips scored) for each metric that some clips did not score.
  """
  names = sorted({name for result in results for name in result})
  averaged = {}
  for name in names:
    values = np.array([r[name] for r in results if name in r], np.float64)
    with warnings.catch_warnings():
      warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN -> NaN, fine.
      averaged[name] = float(np.nanmean(values))
    scored = int(np.sum(np.isfinite(values)))
    if scored < len(values):
      averaged[f'{name}_clips'] = scored
  return averaged
