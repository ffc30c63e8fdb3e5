"""Spectrogram pictures of audio clips, for sample logs and reports.

Uses matplotlib's object API with the Agg canvas directly (no pyplot), so it
needs no display, never changes the global backend, and is safe in threads.
"""

import dataclasses
import os
import warnings

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np

from audiodiff.audio import audio_io, spectral

# A title with a character the font lacks (an emoji in a TTS text) still
# plots; matplotlib's per-glyph warning is not for users.
warnings.filterwarnings('ignore', message='Glyph .* missing from', category=UserWarning)

# Dynamic range shown for the plain (non-mel) spectrogram.
_DB_RANGE = 80.0
# About this many frames across the picture, whatever the clip's length.
_DISPLAY_FRAMES = 256
# The longest display window: more would only add rows no one can see.
_MAX_DISPLAY_FFT = 2048


def _save(fig, path):
  """Writes fig as PNG to path (parent folders created; written beside and
  renamed, so a stopped run leaves no half picture); returns path."""
  directory = os.path.dirname(os.fspath(path))
  if directory:
    os.makedirs(directory, exist_ok=True)
  partial = audio_io.beside(path)
  try:
    fig.savefig(partial, format='png')
    os.replace(partial, path)
  finally:
    if os.path.exists(partial):
      os.remove(partial)
  return path


def display_resolution(num_samples: int, sample_rate: int):
  """(n_fft, hop_length, pool) for a picture of a clip: ~_DISPLAY_FRAMES
  columns, windows of ~32 ms to _MAX_DISPLAY_FFT samples (a power of two),
  hops of at most a quarter window; a long clip's frames are max-pooled
  `pool` at a time, so the picture's memory does not grow with its length."""
  n_fft = int(2 ** np.ceil(np.log2(0.032 * sample_rate)))
  hop_length = max(1, num_samples // _DISPLAY_FRAMES)
  n_fft = int(min(_MAX_DISPLAY_FFT, max(n_fft, 2 ** np.ceil(np.log2(4 * hop_length)))))
  step = min(hop_length, n_fft // 4)
  return n_fft, step, max(1, hop_length // step)


def _log_magnitude(audio, sample_rate):
  """dB |STFT| [freq, columns] at the display resolution, and the samples
  per column; computed a block of frames at a time (numpy), so memory stays
  bounded however long the clip."""
  n_fft, hop_length, pool = display_resolution(len(audio), sample_rate)
  padded = np.pad(np.asarray(audio, np.float32), (n_fft // 2, n_fft // 2), mode='reflect')
  frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
  frames = frames[:max(1, len(audio) // hop_length)]
  window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
  block = pool * max(1, 1024 // pool)  # ~1024 frames a block, whole columns
  columns = []
  for first in range(0, len(frames), block):
    magnitude = np.abs(np.fft.rfft(frames[first:first + block] * window, axis=-1))
    usable = len(magnitude) // pool * pool or len(magnitude)
    columns.append(magnitude[:usable].reshape(-1, min(pool, usable), magnitude.shape[1])
                   .max(axis=1))
  magnitude = np.concatenate(columns)
  db = 20.0 * np.log10(np.maximum(magnitude, 1e-10))
  db = np.maximum(db, db.max() - _DB_RANGE)
  return db.T.astype(np.float32), hop_length * pool


def save_spectrogram_png(path, audio, sample_rate, audio_config=None, title=''):
  """Writes a waveform strip above a spectrogram to a PNG.

  Args:
    path: output file; parent folders are created.
    audio: float [L], L at least one hop (and one n_fft for a readable plot).
    sample_rate: Hz.
    audio_config: `config.audio` / MelSpectrogram -> DiffWave log mel in
      [0, 1] on its mel bins (drawn with the display window and hop, not
      the model's); None -> log-magnitude STFT in dB on a Hz axis.
    title: figure title.

  Returns:
    path.
  """
  audio = np.squeeze(np.asarray(audio, dtype=np.float32))
  if audio.ndim != 1:
    raise ValueError(f'audio must be mono [L], got shape {audio.shape}.')
  duration = len(audio) / sample_rate

  fig = Figure(figsize=(10, 5), dpi=100, layout='constrained')
  FigureCanvasAgg(fig)
  wave_ax, spec_ax = fig.subplots(
      2, 1, sharex=True, gridspec_kw=dict(height_ratios=(1, 3)))

  time = np.arange(len(audio)) / sample_rate
  wave_ax.plot(time, audio, linewidth=0.5, color='tab:blue')
  peak = max(float(np.max(np.abs(audio))), 1e-3)
  wave_ax.set_ylim(-1.05 * peak, 1.05 * peak)
  wave_ax.set_ylabel('amplitude')
  wave_ax.grid(alpha=0.3)
  if title:
    wave_ax.set_title(title)

  if audio_config is None:
    image, hop_length = _log_magnitude(audio, sample_rate)
    extent = (0.0, image.shape[1] * hop_length / sample_rate,
              0.0, sample_rate / 2.0)
    shown = spec_ax.imshow(image, origin='lower', aspect='auto',
                           extent=extent, cmap='magma')
    spec_ax.set_ylabel('frequency (Hz)')
    fig.colorbar(shown, ax=spec_ax, label='dB', pad=0.01)
  else:
    mel = spectral.mel_from_config(audio_config)
    if mel.sample_rate != sample_rate:
      raise ValueError(f'sample_rate={sample_rate} differs from the mel '
                       f'config ({mel.sample_rate}).')
    n_fft, hop_length, pool = display_resolution(len(audio), sample_rate)
    mel = dataclasses.replace(mel, n_fft=n_fft, win_length=n_fft, hop_length=hop_length)
    image = np.asarray(mel(audio[None])[0]).T           # [n_mels, frames]
    if pool > 1:
      columns = image.shape[1] // pool
      image = image[:, :columns * pool].reshape(len(image), columns, pool).max(axis=2)
    extent = (0.0, image.shape[1] * hop_length * pool / sample_rate,
              0.0, mel.n_mels)
    shown = spec_ax.imshow(image, origin='lower', aspect='auto', extent=extent,
                           cmap='magma', vmin=0.0, vmax=1.0)
    # Label mel bins by their centre frequency: mel bins are not linear in Hz.
    centres = spectral.mel_band_edges(
        mel.n_mels, mel.f_min, min(mel.f_max, sample_rate / 2.0))[1:-1]
    ticks = np.linspace(0, mel.n_mels - 1, 6).round().astype(int)
    spec_ax.set_yticks(ticks + 0.5)
    spec_ax.set_yticklabels([f'{centres[t]:.0f}' for t in ticks])
    spec_ax.set_ylabel('mel band centre (Hz)')
    fig.colorbar(shown, ax=spec_ax, label='log mel', pad=0.01)

  spec_ax.set_xlim(0.0, duration)
  spec_ax.set_xlabel('time (s)')

  return _save(fig, path)


def save_comparison_png(path, panels, sample_rate):
  """Spectrograms (dB STFT) of several clips of one recording, stacked.

  Args:
    path: output PNG; parent folders are created.
    panels: [(title, audio float [L])], e.g. degraded then restored; shown
      on one colour scale (the loudest panel's top 80 dB).
    sample_rate: Hz.

  Returns:
    path.
  """
  images = [(title, *_log_magnitude(np.asarray(a, np.float32), sample_rate))
            for title, a in panels]
  top = max(float(image.max()) for _, image, _ in images)
  fig = Figure(figsize=(10, 2.6 * len(images)), dpi=100, layout='constrained')
  FigureCanvasAgg(fig)
  axes = np.atleast_1d(fig.subplots(len(images), 1, sharex=True))
  for ax, (title, image, hop_length) in zip(axes, images):
    extent = (0.0, image.shape[1] * hop_length / sample_rate, 0.0, sample_rate / 2.0)
    shown = ax.imshow(image, origin='lower', aspect='auto', extent=extent, cmap='magma',
                      vmin=top - _DB_RANGE, vmax=top)
    ax.set_title(title)
    ax.set_ylabel('frequency (Hz)')
  axes[-1].set_xlabel('time (s)')
  fig.colorbar(shown, ax=list(axes), label='dB', pad=0.01)
  return _save(fig, path)


def save_tts_png(path, log_mel, alignment, title=''):
  """A synthesised mel and its text alignment, one above the other.

  Args:
    path: output PNG; parent folders are created.
    log_mel: [frames, n_mels] (DiffWave log mel in [0, 1]).
    alignment: [tokens, frames'] 0/1, token n spoken at frame t (the first
      piece of a long text: frames' <= frames).
    title: shown above the mel.

  Returns:
    path.
  """
  log_mel, alignment = np.asarray(log_mel), np.asarray(alignment)
  fig = Figure(figsize=(10, 5.2), dpi=100, layout='constrained')
  FigureCanvasAgg(fig)
  mel_ax, align_ax = fig.subplots(2, 1)
  mel_ax.imshow(log_mel.T, origin='lower', aspect='auto', cmap='magma', vmin=0.0, vmax=1.0)
  mel_ax.set_title(title)
  mel_ax.set_ylabel('mel bin')
  align_ax.imshow(alignment, origin='lower', aspect='auto', cmap='Greys',
                  interpolation='nearest')
  align_ax.set_title('alignment (first piece)')
  align_ax.set_ylabel('token')
  align_ax.set_xlabel('frame')
  return _save(fig, path)
