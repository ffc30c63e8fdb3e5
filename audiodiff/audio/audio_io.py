"""Reading, writing and level-normalising audio files with numpy.

Everything here runs on the host (in the data pipeline or when writing samples),
so it is plain numpy / soundfile / scipy, never JAX.
"""

import contextlib
import errno
import hashlib
import math
import os
import shutil

import numpy as np
import scipy.signal
import soundfile as sf

from audiodiff.errors import UserError

AUDIO_EXTENSIONS = ('.wav', '.flac', '.ogg')

# 'peak' leaves a little headroom so that a later 16-bit write never clips.
PEAK_TARGET = 0.95
# 'loudness': RMS level in dBFS, a common level for speech corpora.
LOUDNESS_TARGET_DBFS = -20.0
_EPS = 1e-8
# Float files may exceed full scale (1.0) a little; beyond this (80 dB over)
# the samples are garbage, and squaring them (spectra, loudness) overflows.
MAX_ABS_SAMPLE = 1e4
# Sample rates a real recording can have; a header outside is corrupt.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384000


class AudioFileError(UserError):
  """An audio file that cannot be used; the message names file, problem, fix
  (the fix a training set needs; `for_flag` gives a command-line input's)."""

  def __init__(self, path, problem, fix):
    super().__init__(f'Audio file {os.fspath(path)!r}: {problem}. {fix}')
    self.path, self.problem = os.fspath(path), problem

  def for_flag(self, flag: str) -> UserError:
    """The same problem, with the fix for a file given as `flag`."""
    return UserError(f'{flag}={self.path} {self.problem}; give a readable mono or stereo '
                     'audio file (wav, flac, ogg).')


def _error(path, problem, fix):
  return AudioFileError(path, problem, fix)


def resample(audio, orig_rate, target_rate):
  """Polyphase resampling of a mono signal.

  Args:
    audio: float32 [L].
    orig_rate, target_rate: sample rates in Hz.

  Returns:
    float32 [ceil(L * target_rate / orig_rate)].
  """
  orig_rate, target_rate = int(orig_rate), int(target_rate)
  if orig_rate == target_rate:
    return audio.astype(np.float32, copy=False)
  g = math.gcd(orig_rate, target_rate)
  out = scipy.signal.resample_poly(audio, target_rate // g, orig_rate // g)
  return out.astype(np.float32)


def file_info(path):
  """The header of an audio file (soundfile's info: samplerate, channels,
  frames), checked: a missing or undecodable file, a sample rate outside
  [1 kHz, 384 kHz] (a corrupt header) or no samples is an AudioFileError."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise _error(path, 'does not exist or is not a regular file',
                 'Check the path (e.g. config.data.folder).')
  try:
    info = sf.info(path)
  except Exception as e:  # libsndfile raises several types for bad files.
    # For a file it cannot parse libsndfile may say "does not exist": it does.
    detail = ('not a format libsndfile reads' if 'does not exist' in str(e)
              else f'{type(e).__name__}: {e}')
    raise _error(
        path, f'could not be decoded ({detail})',
        'Re-encode it as wav/flac/ogg (e.g. `ffmpeg -i in out.wav`), remove '
        'it, or set config.data.skip_bad_files=True to skip it.') from e
  if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
    raise _error(path, f'declares a sample rate of {info.samplerate} Hz, outside the '
                 f'{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz of real recordings (a corrupt '
                 'header?)', 'Re-encode it with its true rate, or remove it.')
  if info.frames <= 0:
    raise _error(path, 'contains no samples (zero length)',
                 'Remove it or set config.data.skip_bad_files=True.')
  return info


def check_samples(path, data):
  """An AudioFileError naming `path` when samples (any shape) are NaN/inf or
  beyond MAX_ABS_SAMPLE (80 dB over full scale)."""
  if not np.all(np.isfinite(data)):
    raise _error(path, 'contains NaN or inf samples',
                 'Re-export it from its source, remove it, or set '
                 'config.data.skip_bad_files=True.')
  peak = float(np.max(np.abs(data))) if np.size(data) else 0.0
  if peak > MAX_ABS_SAMPLE:
    raise _error(path, f'has samples too large to be audio (peak {peak:.3g}, full scale '
                 'is 1.0)', 'Normalise it to [-1, 1] (e.g. `sox in.wav out.wav gain -n`) '
                 'or remove it.')


def read_audio(path):
  """Reads and validates an audio file as stored.

  Args:
    path: a wav/flac/ogg (anything libsndfile reads) file.

  Returns:
    (float32 [L, C], sample rate in Hz).

  Raises:
    AudioFileError: missing, unreadable, empty, or non-finite file, samples
      beyond MAX_ABS_SAMPLE (80 dB over full scale), or a sample rate outside
      [1 kHz, 384 kHz] (a corrupt header).
  """
  path = os.fspath(path)
  file_info(path)
  try:
    data, file_rate = sf.read(path, dtype='float32', always_2d=True)
  except Exception as e:  # libsndfile raises several types for bad files.
    raise _error(
        path, f'could not be decoded ({type(e).__name__}: {e})',
        'Re-encode it as wav/flac/ogg (e.g. `ffmpeg -i in out.wav`), remove '
        'it, or set config.data.skip_bad_files=True to skip it.') from e
  if data.shape[0] == 0:
    raise _error(path, 'contains no samples (zero length)',
                 'Remove it or set config.data.skip_bad_files=True.')
  check_samples(path, data)
  return data, file_rate


# Output audio with more of its samples at full scale than this is refused:
# a model that writes it is broken (e.g. NaN parameters cast to -32768), or
# its settings are (a sampler temperature of 1e6 gave 87%).
MAX_CLIPPED_FRACTION = 0.5

# Quieter than this (RMS, full scale 1) is digital silence: nothing to process.
SILENT_RMS = 1e-6
# Models learned speech and music around LOUDNESS_TARGET_DBFS; a recording
# quieter than this is processed at that level and scaled back (`working_gain`).
QUIET_DBFS = -50.0


def wav_subtype(peak: float) -> str:
  """How audio peaking at `peak` (<= 1) is written: 16-bit, or 32-bit float
  when it peaks below QUIET_DBFS, where 16 bits would keep a few levels."""
  return 'FLOAT' if 0 < peak < 10 ** (QUIET_DBFS / 20) else 'PCM_16'


def working_gain(level: float) -> float:
  """The gain bringing a recording of RMS `level` below QUIET_DBFS up to
  LOUDNESS_TARGET_DBFS for a model (its output is divided by it); 1 for any
  louder (or silent) recording."""
  if not SILENT_RMS <= level < 10 ** (QUIET_DBFS / 20):
    return 1.0
  return 10 ** (LOUDNESS_TARGET_DBFS / 20) / level


def rms(audio) -> float:
  """Root mean square of audio (any shape; 0 when empty), in float64."""
  audio = np.asarray(audio)
  return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


# Float audio peaking above this is int16 samples not divided by 32768 (those
# peak in the hundreds or thousands); a mix that overshoots 1 a little is not.
INT16_SCALE_PEAK = 2.0


def checked_signal(audio, what: str = 'the audio') -> np.ndarray:
  """An in-memory signal from the Python API -> float32 [L]; a UserError
  naming `what` for integer samples, other shapes, NaN/inf, samples beyond
  [-1, 1] by far (int16 scale) or silence. A float mixture that overshoots
  a little (a noisy mix peaking at 1.03) is taken as it is."""
  try:
    array = np.asarray(audio)
  except ValueError:  # a list of arrays of several lengths
    raise UserError(f'{what} must be one mono recording [L]; got a list of arrays of '
                    'several lengths (several recordings go one call each, or to '
                    'enhance_many).') from None
  if array.dtype.kind in 'iub':
    raise UserError(f'{what} holds {array.dtype} samples; give float audio in [-1, 1] '
                    '(e.g. int16 samples / 32768).')
  if array.dtype.kind != 'f':
    raise UserError(f'{what} must be a float array [L]; got {array.dtype} values.')
  if array.ndim != 1:
    raise UserError(f'{what} must be mono audio [L]; got shape {array.shape}.')
  if not np.all(np.isfinite(array)):
    raise UserError(f'{what} holds NaN or inf samples.')
  peak = float(np.max(np.abs(array))) if array.size else 0.0
  if peak > INT16_SCALE_PEAK:
    raise UserError(f'{what} peaks at {peak:.4g}; give float audio in [-1, 1] (int16 '
                    'samples: divide by 32768).')
  if not array.size:
    raise UserError(f'{what} is empty (0 samples): there is nothing to process.')
  array = array.astype(np.float32)
  level = rms(array)
  if level < SILENT_RMS:
    raise UserError(f'{what} is silent (RMS {level:.1e}): there is nothing to process.')
  return array


def load_audio(path, sample_rate):
  """Reads an audio file as mono float32 at `sample_rate`.

  Args:
    path: a wav/flac/ogg (anything libsndfile reads) file.
    sample_rate: the rate in Hz to resample to.

  Returns:
    float32 [L], channels averaged to mono.

  Raises:
    AudioFileError: as read_audio.
  """
  data, file_rate = read_audio(path)
  audio = resample(data.mean(axis=1), file_rate, sample_rate)
  if not np.all(np.isfinite(audio)):  # read_audio's bounds make this a bug
    raise RuntimeError(f'{path}: resampling produced non-finite samples.')
  return audio


def beside(path, kind: str = 'partial') -> str:
  """A temporary name in `path`'s folder, e.g. '.partial-<pid>-<hash>': a
  file or folder written there, then renamed over `path`. Short whatever
  `path`'s own name (file names end at 255 bytes)."""
  folder, name = os.path.split(os.path.abspath(os.fspath(path)))
  tag = hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()[:12]
  return os.path.join(folder, f'.{kind}-{os.getpid()}-{tag}')


def save_audio(path, audio, sample_rate):
  """Writes a wav, 16-bit PCM (32-bit float when it peaks below QUIET_DBFS:
  `wav_subtype`); parent folders are created.

  Args:
    path: output file name.
    audio: float [L] (or [L, C]); values outside [-1, 1] are clipped.
    sample_rate: Hz.
  """
  path = os.fspath(path)
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
  # Written beside and renamed over: a file reached by another name (a hard
  # link) keeps its contents, and a reader never sees half a file.
  partial = beside(path)
  try:
    peak = float(np.max(np.abs(audio), initial=0.0))
    with disk_full_named(path):
      sf.write(partial, audio, int(sample_rate), subtype=wav_subtype(peak), format='WAV')
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)


# Below this much free space, a failed write is taken for a full disk.
_DISK_FULL_BYTES = 1 << 20


@contextlib.contextmanager
def disk_full_named(path):
  """Around writing `path`: libsndfile's bare "System error" when the disk
  is full becomes OSError(ENOSPC) naming `path`."""
  try:
    yield
  except RuntimeError as error:   # sf.LibsndfileError is one
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if os.path.isdir(folder) and shutil.disk_usage(folder).free < _DISK_FULL_BYTES:
      raise OSError(errno.ENOSPC, 'No space left on device', os.fspath(path)) from error
    raise


def normalization_gain(audio, mode) -> float:
  """The factor `normalize` scales one clip by.

  Args:
    audio: float32 [L].
    mode: 'peak' (max |x| -> 0.95), 'loudness' (RMS -> -20 dBFS, then scaled
      down if that would clip) or 'none'.

  Returns:
    The gain; 1 for 'none' and for silent input (no division by ~0).
  """
  audio = np.asarray(audio, dtype=np.float32)
  if mode == 'none':
    return 1.0
  if mode == 'peak':
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    return 1.0 if peak < _EPS else PEAK_TARGET / peak
  if mode == 'loudness':
    rms = np.sqrt(np.mean(np.square(audio))) if audio.size else 0.0
    if rms < _EPS:
      return 1.0
    gain = 10.0 ** (LOUDNESS_TARGET_DBFS / 20.0) / rms
    # Peaky clips (drums, plucks) would exceed full scale at -20 dBFS RMS;
    # scaling them back keeps the waveform shape, unlike hard clipping.
    peak = np.max(np.abs(audio)) * gain
    return gain * PEAK_TARGET / peak if peak > 1.0 else gain
  raise ValueError(
      f"Unknown normalize mode {mode!r}; expected 'peak', 'loudness' or "
      "'none' (config.data.normalize).")


def normalize(audio, mode):
  """Level normalisation of one clip: float32 [L] -> float32 [L], scaled by
  normalization_gain(audio, mode)."""
  audio = np.asarray(audio, dtype=np.float32)
  gain = normalization_gain(audio, mode)
  return audio if gain == 1.0 else (audio * gain).astype(np.float32)
