"""STFT, mel spectrogram (DiffWave scaling) and Griffin-Lim inversion in JAX.

Frame convention: a signal of L samples has `L // hop_length` frames, so a
mel of F frames conditions exactly F * hop_length samples (what a vocoder's
upsampler assumes). The signal is reflect-padded by (n_fft - hop_length) // 2
on the left and the rest of n_fft - hop_length on the right; frame t is then
centred on the middle of the hop block [t * hop, (t + 1) * hop). Trailing
samples beyond the last whole hop (L % hop_length of them) get no frame of
their own.

Everything here is jit-able: shapes depend only on static Python ints, and
windows / filterbanks are numpy constants folded into the trace. `stft`,
`istft`, `MelSpectrogram.__call__` and `griffin_lim` are jitted themselves
(eager op-by-op dispatch compiles every op per shape, much slower for host
metrics); inside another jit they simply inline.
"""

import dataclasses
import functools
import logging
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

# DiffWave's log-mel scaling: 20 log10(max(mel, 1e-5)) - 20 dB, then the
# range [-100, 0] dB is mapped linearly to [0, 1]. So mel magnitudes in
# [1e-4, 10] are kept and the 1e-5 floor only guards the log.
MEL_FLOOR = 1e-5
REF_DB = 20.0
MIN_DB = -100.0


# ---------------------------------------------------------------------------
# STFT / inverse STFT.


def hann_window(n_fft, win_length=None):
  """Periodic Hann of `win_length`, zero-padded to n_fft at the centre.

  Returns:
    float32 numpy [n_fft].
  """
  win_length = n_fft if win_length is None else int(win_length)
  if not 0 < win_length <= n_fft:
    raise ValueError(f'win_length={win_length} must be in (0, n_fft={n_fft}].')
  # Periodic (not symmetric) so that overlapping copies add to a constant.
  n = np.arange(win_length)
  hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)
  window = np.zeros(n_fft)
  left = (n_fft - win_length) // 2
  window[left:left + win_length] = hann
  return window.astype(np.float32)


def _padding(n_fft, hop_length):
  """(left, right) reflect padding giving L // hop_length frames."""
  if not 0 < hop_length <= n_fft:
    raise ValueError(f'hop_length={hop_length} must be in (0, n_fft={n_fft}].')
  left = (n_fft - hop_length) // 2
  return left, n_fft - hop_length - left


def _frame_indices(num_frames, n_fft, hop_length):
  """int [num_frames, n_fft]: sample index of each frame's taps."""
  return (np.arange(num_frames)[:, None] * hop_length
          + np.arange(n_fft)[None, :])


def _frames(padded, num_frames, n_fft, hop_length):
  """padded [B, P] -> [B, num_frames, n_fft], frame f = padded[f * hop:][:n_fft].
  When hop divides n_fft, frames are side-by-side copies of hop-sized blocks
  (reshapes, no gather: about 3x faster on the CPU)."""
  if n_fft % hop_length:
    return padded[:, _frame_indices(num_frames, n_fft, hop_length)]
  ratio = n_fft // hop_length
  blocks = padded[:, :(num_frames + ratio - 1) * hop_length].reshape(
      padded.shape[0], num_frames + ratio - 1, hop_length)
  return jnp.concatenate([blocks[:, k:k + num_frames] for k in range(ratio)], axis=-1)


def _overlap_add(frames, hop_length):
  """frames [B, F, n_fft] -> [B, (F - 1) * hop + n_fft]: frame f added at f * hop.
  When hop divides n_fft, a sum of shifted block copies (no scatter)."""
  batch, count, n_fft = frames.shape
  total = (count - 1) * hop_length + n_fft
  if n_fft % hop_length:
    return jnp.zeros((batch, total), frames.dtype).at[
        :, _frame_indices(count, n_fft, hop_length)].add(frames)
  ratio = n_fft // hop_length
  parts = frames.reshape(batch, count, ratio, hop_length)
  blocks = sum(jnp.pad(parts[:, :, k], ((0, 0), (k, ratio - 1 - k), (0, 0)))
               for k in range(ratio))
  return blocks.reshape(batch, total)


def num_frames(num_samples, hop_length):
  """Frames produced for `num_samples` samples (see module docstring)."""
  return int(num_samples) // int(hop_length)


@functools.partial(jax.jit,
                   static_argnames=('n_fft', 'hop_length', 'win_length'))
def stft(audio, n_fft, hop_length, win_length=None):
  """Short-time Fourier transform with a Hann window.

  Args:
    audio: float [B, L], L >= hop_length.
    n_fft, hop_length, win_length: static ints (win_length None -> n_fft).

  Returns:
    complex [B, L // hop_length, n_fft // 2 + 1].
  """
  audio = jnp.asarray(audio)
  if audio.ndim != 2:
    raise ValueError(f'stft expects audio [B, L], got shape {audio.shape}.')
  if not jnp.issubdtype(audio.dtype, jnp.floating):
    audio = audio.astype(jnp.float32)
  frames_count = num_frames(audio.shape[1], hop_length)
  if frames_count < 1:
    raise ValueError(f'audio of {audio.shape[1]} samples is shorter than one '
                     f'hop ({hop_length}).')
  left, right = _padding(n_fft, hop_length)
  padded = jnp.pad(audio, ((0, 0), (left, right)), mode='reflect')
  frames = _frames(padded, frames_count, n_fft, hop_length)
  window = jnp.asarray(hann_window(n_fft, win_length), audio.dtype)
  return jnp.fft.rfft(frames * window, axis=-1)


@functools.partial(jax.jit, static_argnames=('n_fft', 'hop_length',
                                             'win_length', 'length'))
def istft(spec, n_fft, hop_length, win_length=None, length=None):
  """Inverse of `stft` by weighted overlap-add.

  Each frame is windowed again and the sum divided by the overlapped squared
  window, which is the least-squares signal for a (possibly inconsistent)
  spectrogram (Griffin & Lim 1984).

  Args:
    spec: complex [B, F, n_fft // 2 + 1].
    n_fft, hop_length, win_length: as given to `stft`.
    length: samples to return; None -> F * hop_length.

  Returns:
    float [B, length].
  """
  _, frames_count, _ = spec.shape
  length = frames_count * hop_length if length is None else int(length)
  window = hann_window(n_fft, win_length)
  idx = _frame_indices(frames_count, n_fft, hop_length)
  total = (frames_count - 1) * hop_length + n_fft

  frames = jnp.fft.irfft(spec, n=n_fft, axis=-1) * window
  out = _overlap_add(frames, hop_length)

  # Static normaliser; samples no window touches (win_length << hop) are 0.
  # np.bincount rather than np.add.at, which gives NaN / crashes with the
  # numpy 2.4.6 wheel in /work/venv.
  window_sq = np.bincount(
      idx.ravel(), minlength=total,
      weights=np.broadcast_to(window.astype(np.float64)**2, idx.shape).ravel())
  covered = window_sq > 1e-8 * window_sq.max()
  inv = np.where(covered, 1.0 / np.where(covered, window_sq, 1.0), 0.0)
  out = out * jnp.asarray(inv, frames.dtype)

  left, _ = _padding(n_fft, hop_length)
  out = out[:, left:left + length]
  if out.shape[1] < length:
    out = jnp.pad(out, ((0, 0), (0, length - out.shape[1])))
  return out


# ---------------------------------------------------------------------------
# Mel filterbank (Slaney mel scale, area-normalised: librosa's default).

_F_SP = 200.0 / 3.0                 # Hz per mel below 1 kHz (linear part)
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15
_LOG_STEP = np.log(6.4) / 27.0      # 27 mels per factor 6.4 above 1 kHz


def hz_to_mel(hz):
  """Slaney mel: linear below 1 kHz, logarithmic above (numpy, any shape)."""
  hz = np.asarray(hz, dtype=np.float64)
  log_part = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ)
                                   / _MIN_LOG_HZ) / _LOG_STEP
  return np.where(hz >= _MIN_LOG_HZ, log_part, hz / _F_SP)


def mel_to_hz(mel):
  """Inverse of `hz_to_mel`."""
  mel = np.asarray(mel, dtype=np.float64)
  log_part = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
  return np.where(mel >= _MIN_LOG_MEL, log_part, mel * _F_SP)


def mel_band_edges(n_mels, f_min, f_max):
  """Hz [n_mels + 2]: filter m rises from edge m, peaks at m+1, ends m+2."""
  mels = np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
  return mel_to_hz(mels)


def mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max):
  """Triangular mel filters with unit area (in Hz), like librosa's default.

  Args:
    sample_rate: Hz. f_max above Nyquist is clamped to sample_rate / 2 (with a
      warning), so one config works when only the sample rate is changed.
    n_fft: FFT size; n_fft // 2 + 1 frequency bins.
    n_mels, f_min, f_max: number of filters and their frequency range in Hz.

  Returns:
    float32 numpy [n_fft // 2 + 1, n_mels]; `magnitude @ filterbank` is the mel.
  """
  nyquist = sample_rate / 2.0
  if f_max is None:
    f_max = nyquist
  if f_max > nyquist:
    logging.warning('mel f_max=%s Hz is above Nyquist for sample_rate=%s; '
                    'using %s Hz.', f_max, sample_rate, nyquist)
    f_max = nyquist
  if not 0.0 <= f_min < f_max:
    raise ValueError(f'Need 0 <= f_min < f_max, got {f_min}, {f_max}.')
  fft_hz = np.linspace(0.0, nyquist, n_fft // 2 + 1)
  edges = mel_band_edges(n_mels, f_min, f_max)
  widths = np.diff(edges)                        # [n_mels + 1]
  offsets = edges[:, None] - fft_hz[None, :]     # [n_mels + 2, K]
  rising = -offsets[:-2] / widths[:-1, None]
  falling = offsets[2:] / widths[1:, None]
  weights = np.maximum(0.0, np.minimum(rising, falling))   # [n_mels, K]
  # Area normalisation: a triangle of base (edges[m+2] - edges[m]) Hz and
  # height 2 / base has unit area, so wide high bands are not louder.
  weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
  if np.any(weights.max(axis=1) == 0.0):
    logging.warning('Some of the %d mel filters cover no FFT bin (n_fft=%d is '
                    'too small for this range); they stay 0.', n_mels, n_fft)
  return weights.T.astype(np.float32)


# ---------------------------------------------------------------------------
# DiffWave log mel.


def compress_mel(mel):
  """Linear mel magnitudes -> DiffWave log mel in [0, 1] (same shape)."""
  db = 20.0 * jnp.log10(jnp.maximum(mel, MEL_FLOOR)) - REF_DB
  return jnp.clip((db - MIN_DB) / -MIN_DB, 0.0, 1.0)


def decompress_mel(log_mel):
  """Inverse of `compress_mel`: [0, 1] -> mel magnitudes in [1e-4, 10]."""
  db = jnp.clip(log_mel, 0.0, 1.0) * -MIN_DB + MIN_DB + REF_DB
  return 10.0 ** (db / 20.0)


@dataclasses.dataclass(frozen=True)
class MelSpectrogram:
  """DiffWave-style log mel: |STFT| (power 1), mel, 20 log10, scale to [0, 1].

  Frozen and hashable, so it can be a static argument of `jax.jit`. Calling it
  on float [B, L] gives [B, L // hop_length, n_mels] in [0, 1]. A full-scale
  sinusoid reaches about 1 (22.05 kHz, n_fft 1024); louder mels clip.
  """
  sample_rate: int
  n_fft: int
  hop_length: int
  win_length: int
  n_mels: int
  f_min: float
  f_max: float

  @functools.cached_property
  def filterbank(self):
    """float32 numpy [n_fft // 2 + 1, n_mels]."""
    return mel_filterbank(self.sample_rate, self.n_fft, self.n_mels,
                          self.f_min, self.f_max)

  def num_frames(self, num_samples):
    return num_frames(num_samples, self.hop_length)

  def magnitude(self, audio):
    """float [B, L] -> |STFT| [B, L // hop_length, n_fft // 2 + 1]."""
    return jnp.abs(stft(audio, self.n_fft, self.hop_length, self.win_length))

  def linear_mel(self, audio):
    """float [B, L] -> mel magnitudes [B, L // hop_length, n_mels]."""
    magnitude = self.magnitude(audio)
    return magnitude @ jnp.asarray(self.filterbank, magnitude.dtype)

  def __call__(self, audio):
    """float [B, L] -> log mel [B, L // hop_length, n_mels] in [0, 1]."""
    return _log_mel(audio, self)


@functools.partial(jax.jit, static_argnames=('mel',))
def _log_mel(audio, mel):
  return compress_mel(mel.linear_mel(audio))


_AUDIO_FIELDS = ('sample_rate', 'n_fft', 'hop_length', 'win_length', 'n_mels',
                 'f_min', 'f_max')


def mel_from_config(audio_config):
  """`config.audio` (ConfigDict, dict or MelSpectrogram) -> MelSpectrogram."""
  if isinstance(audio_config, MelSpectrogram):
    return audio_config
  get = (audio_config.__getitem__ if isinstance(audio_config, Mapping)
         else functools.partial(getattr, audio_config))
  values = {name: get(name) for name in _AUDIO_FIELDS}
  for name in ('sample_rate', 'n_fft', 'hop_length', 'win_length', 'n_mels'):
    values[name] = int(values[name])
  values['f_min'] = float(values['f_min'])
  values['f_max'] = float(values['f_max'])
  return MelSpectrogram(**values)


def log_mel(audio, audio_config):
  """DiffWave log mel of float [B, L] -> [B, L // hop_length, n_mels]."""
  return mel_from_config(audio_config)(audio)


# ---------------------------------------------------------------------------
# Griffin-Lim.


def mel_to_magnitude(mel, filterbank, num_iters=16):
  """Non-negative least squares (approximately) for `magnitude @ fb = mel`.

  Starts from the clamped pseudo-inverse, then runs multiplicative NNLS
  updates (Lee & Seung), which keep every bin >= 0 and decrease the squared
  error. Bins no filter covers end at 0.

  Args:
    mel: linear mel [..., n_mels].
    filterbank: [K, n_mels] numpy.
    num_iters: multiplicative updates (0: clamped pseudo-inverse only).

  Returns:
    magnitude [..., K], >= 0.
  """
  fb = np.asarray(filterbank, np.float64)
  pinv = jnp.asarray(np.linalg.pinv(fb), mel.dtype)           # [M, K]
  gram = jnp.asarray(fb @ fb.T, mel.dtype)                      # [K, K]
  target = mel @ jnp.asarray(fb.T, mel.dtype)                   # [..., K]
  # A small floor so that multiplicative updates can grow any bin back.
  magnitude = jnp.maximum(mel @ pinv, MEL_FLOOR * 1e-2)

  def update(_, magnitude):
    return magnitude * target / (magnitude @ gram + 1e-12)

  return jax.lax.fori_loop(0, num_iters, update, magnitude)


@functools.partial(jax.jit, static_argnames=('mel', 'num_iters', 'momentum',
                                             'nnls_iters'))
def _griffin_lim(log_mel_in, rng, mel, num_iters, momentum, nnls_iters):
  args = (mel.n_fft, mel.hop_length, mel.win_length)
  magnitude = mel_to_magnitude(decompress_mel(log_mel_in), mel.filterbank,
                               nnls_iters)
  phase = jax.random.uniform(rng, magnitude.shape, magnitude.dtype)
  angles = jnp.exp(2j * jnp.pi * phase)

  # Fast Griffin-Lim (Perraudin et al. 2013): extrapolate the projected
  # phases with `momentum`; 0 gives the original algorithm.
  def step(_, carry):
    angles, previous = carry
    rebuilt = stft(istft(magnitude * angles, *args), *args)
    angles = rebuilt - (momentum / (1.0 + momentum)) * previous
    angles = angles / (jnp.abs(angles) + 1e-16)
    return angles, rebuilt

  angles, _ = jax.lax.fori_loop(0, num_iters, step,
                                (angles, jnp.zeros_like(angles)))
  return istft(magnitude * angles, *args)


def griffin_lim(log_mel_in, audio_config, num_iters=32, momentum=0.99,
                nnls_iters=32, rng=None):
  """Audio from a DiffWave log mel: mel inversion + Griffin-Lim phases.

  A baseline vocoder: quality is far below a trained one, but it needs no
  parameters and works for any sample rate and hop.

  Args:
    log_mel_in: [B, F, n_mels] in [0, 1], as produced by `MelSpectrogram`.
    audio_config: `config.audio` or a MelSpectrogram.
    num_iters: phase-retrieval iterations.
    momentum: fast Griffin-Lim momentum (0: plain Griffin-Lim).
    nnls_iters: iterations of the non-negative mel inversion.
    rng: PRNG key for the initial phases; None -> PRNGKey(0).

  Returns:
    float [B, F * hop_length].
  """
  mel = mel_from_config(audio_config)
  rng = jax.random.PRNGKey(0) if rng is None else rng
  return _griffin_lim(jnp.asarray(log_mel_in), rng, mel, int(num_iters),
                      float(momentum), int(nnls_iters))
