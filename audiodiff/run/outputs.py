"""Writing audio outputs: `<name>.wav` with a spectrogram `<name>.png` beside it."""

import os
from typing import Sequence

import numpy as np

from audiodiff.audio import audio_io, plotting


def write_audio_files(directory: str, audios, names: Sequence[str], audio_config):
  """Writes each clip of audios [N, L] as directory/<name>.wav and .png
  (at audio_config.sample_rate). Returns the wav paths."""
  os.makedirs(directory, exist_ok=True)
  paths = []
  for audio, name in zip(np.asarray(audios), names):
    wav = os.path.join(directory, f'{name}.wav')
    audio_io.save_audio(wav, audio, audio_config.sample_rate)
    plotting.save_spectrogram_png(os.path.join(directory, f'{name}.png'), audio,
                                  audio_config.sample_rate, audio_config, title=name)
    paths.append(wav)
  return paths
