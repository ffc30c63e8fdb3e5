"""Studio recordings that Debian ships with Asterisk: speech prompts and music.

    audio = decode_g722('/usr/share/asterisk/sounds/fr_CA_f_June/goodbye.g722')
    tracks = music_tracks('train', sample_rate=16000)

The packages `asterisk-core-sounds-{en,es,fr,it,ru}-g722` hold about 25
minutes of telephone prompts per language, recorded in a studio and stored
as G.722 (16 kHz wideband ADPCM); `asterisk-moh-opsound-g722` holds five
recorded music tracks (18 minutes). G.722 is the format of the wideband
packages (the wav ones are 8 kHz) and PyAV, a pip package that carries
FFmpeg's decoder, reads it in-process: no Debian ffmpeg, no child processes.

Four voices speak the five languages: Allison records both US English and
Mexican Spanish, so she is one speaker (SPEAKERS).
"""

import os

import av
import numpy as np

from audiodiff.audio import audio_io
from audiodiff.errors import UserError

SOUNDS_DIR = '/usr/share/asterisk/sounds'
MUSIC_DIR = '/usr/share/asterisk/moh'
G722_RATE = 16000
# speaker -> the sound folders that hold that person's recordings.
SPEAKERS = {
    'allison': ('en_US_f_Allison', 'es_MX_f_Allison'),
    'june': ('fr_CA_f_June',),
    'carlo': ('it_IT_m_Carlo',),
    'ivr_ru': ('ru_RU_f_IvrvoiceRU',),
}
PACKAGES = {
    'en_US_f_Allison': 'asterisk-core-sounds-en-g722',
    'es_MX_f_Allison': 'asterisk-core-sounds-es-g722',
    'fr_CA_f_June': 'asterisk-core-sounds-fr-g722',
    'it_IT_m_Carlo': 'asterisk-core-sounds-it-g722',
    'ru_RU_f_IvrvoiceRU': 'asterisk-core-sounds-ru-g722',
}
MUSIC_PACKAGE = 'asterisk-moh-opsound-g722'
# Prompts that are no speech: tones, beeps and the silence/ folder.
_NOT_SPEECH = ('tone', 'beep', 'silence')
# One artist's track is held out: music noise in the test set comes from
# a recording training never heard.
TEST_TRACKS = ('reno_project-system',)


def decode_g722(path):
  """A raw G.722 file -> float32 [L] at 16 kHz in [-1, 1) (L = 0 if empty)."""
  try:
    with av.open(os.fspath(path), format='g722') as container:
      frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
  except (av.error.FFmpegError, OSError) as e:
    raise audio_io.AudioFileError(path, f'not readable as G.722 ({e})',
                                  'Reinstall its Debian package.') from e
  if not frames:
    return np.zeros(0, np.float32)
  pcm = np.concatenate(frames)
  return (pcm.astype(np.float32) / 32768.0 if pcm.dtype == np.int16
          else pcm.astype(np.float32))


def _missing(what, packages):
  return UserError(f'{what} not found. Install the Debian package(s): '
                   f'`apt-get install {" ".join(packages)}`.')


def prompt_files(speaker, sounds_dir=SOUNDS_DIR):
  """Sorted [(prompt id, path)] of a speaker's spoken prompts; the id is
  '<folder>/<relative path without .g722>'."""
  if speaker not in SPEAKERS:
    raise UserError(f'Unknown recorded speaker {speaker!r}; known: {", ".join(SPEAKERS)}.')
  folders = SPEAKERS[speaker]
  missing = [f for f in folders if not os.path.isdir(os.path.join(sounds_dir, f))]
  if missing:
    raise _missing(f'Recordings of {speaker!r} ({", ".join(missing)} in {sounds_dir})',
                   [PACKAGES[f] for f in missing])
  files = []
  for folder in folders:
    root = os.path.join(sounds_dir, folder)
    for directory, _, names in os.walk(root):
      for name in names:
        path = os.path.join(directory, name)
        prompt = os.path.relpath(path, root).removesuffix('.g722')
        if name.endswith('.g722') and not any(w in prompt for w in _NOT_SPEECH):
          files.append((f'{folder}/{prompt}', path))
  return sorted(files)


def trim_silence(audio, sample_rate, threshold_db=-40.0, margin_s=0.05):
  """audio [L] without its leading and trailing silence: frames of 10 ms
  quieter than threshold_db below the loudest frame, keeping margin_s of
  each edge. Returns float32 [L'] (empty if nothing is above)."""
  audio = np.asarray(audio, np.float32)
  frame = max(1, sample_rate // 100)
  count = len(audio) // frame
  if count == 0:
    return audio[:0]
  energy = np.mean(np.square(audio[:count * frame].reshape(count, frame)), axis=1)
  loud = np.flatnonzero(energy > energy.max() * 10.0 ** (threshold_db / 10.0))
  if not energy.max() > 0 or not loud.size:
    return audio[:0]
  margin = int(margin_s * sample_rate)
  start = max(0, loud[0] * frame - margin)
  stop = min(len(audio), (loud[-1] + 1) * frame + margin)
  return audio[start:stop]


def music_tracks(split, sample_rate, music_dir=MUSIC_DIR):
  """The recorded music of `split` ('train': every track but TEST_TRACKS;
  'test': those) as float32 [L_i] at sample_rate, sorted by name."""
  if not os.path.isdir(music_dir):
    raise _missing(f'Recorded music ({music_dir})', [MUSIC_PACKAGE])
  names = sorted(n.removesuffix('.g722') for n in os.listdir(music_dir) if n.endswith('.g722'))
  chosen = [n for n in names if (n in TEST_TRACKS) == (split == 'test')]
  if not chosen:
    raise _missing(f'Recorded music tracks for split {split!r} in {music_dir}',
                   [MUSIC_PACKAGE])
  return [audio_io.resample(decode_g722(os.path.join(music_dir, n + '.g722')), G722_RATE,
                            sample_rate) for n in chosen]
