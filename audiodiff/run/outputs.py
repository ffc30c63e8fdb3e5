"""Writing audio outputs: `<name>.wav` with a spectrogram `<name>.png` beside
it; output names that mirror the inputs; audio checked before it is written."""

import atexit
import fcntl
import hashlib
import json
import os
import shutil
from typing import Sequence

import numpy as np

from audiodiff.audio import audio_io, plotting, streams
from audiodiff.errors import UserError
from audiodiff.run import console, listening_page


# Generated audio peaking above full scale is scaled down to this peak: the
# 16-bit writer would otherwise clip it.
SCALED_PEAK = 0.99
# What broken output usually means; an input to blame is named instead where
# there is one (vocoding: a mel louder than any speech).
MODEL_FIX = streams.SETTINGS_OR_MODEL


def scaled_to_fit(audio):
  """audio (any shape) -> (float32 audio, its peak |sample| before): scaled
  to a SCALED_PEAK peak when that peak is above full scale (1.0)."""
  audio = np.asarray(audio, np.float32)
  peak = float(np.max(np.abs(audio), initial=0.0))
  return (audio * np.float32(SCALED_PEAK / peak) if peak > 1.0 else audio), peak


def check_sound(audio, what: str, fix: str = MODEL_FIX,
                consequence: str = 'nothing was written for it') -> np.ndarray:
  """audio (any shape) as float32; a UserError ending in `fix` when it holds
  NaN/inf or is mostly at or beyond full scale (broken output)."""
  audio = np.asarray(audio, np.float32)
  if not np.all(np.isfinite(audio)):
    raise UserError(f'{what}: the model produced NaN or inf samples; {consequence}. {fix}')
  at_full_scale = int(np.sum(np.abs(audio) >= 1.0))
  if audio.size and at_full_scale > audio_io.MAX_CLIPPED_FRACTION * audio.size:
    raise UserError(f'{what}: the model produced audio clipped at full scale or beyond '
                    f'({at_full_scale / audio.size:.0%} of samples); {consequence}. {fix}')
  return audio


def check_output(audio, what: str, fix: str = MODEL_FIX, clipped_by: str = '') -> np.ndarray:
  """audio (any shape) -> float32 within full scale, ready for a 16-bit wav:
  check_sound's errors; scaled down to SCALED_PEAK, with a line saying so,
  when it peaks above 1.0; a line when samples sit at exactly full scale
  (clipped before, e.g. by the sampler: `clipped_by` says how). `what`
  names it in the messages."""
  audio = check_sound(audio, what, fix)
  at_full_scale = int(np.sum(np.abs(audio) >= 1.0))
  audio, peak = scaled_to_fit(audio)
  if peak > 1.0:
    gain = SCALED_PEAK / peak
    console.say(f'{what}: peaks at {peak:.2f}, above full scale (1.0); scaled by {gain:.2f} '
                f'({20 * np.log10(gain):.1f} dB) so that the 16-bit wav does not clip it.')
  elif at_full_scale:
    console.say(f'{what}: {at_full_scale} sample(s) at full scale (1.0), clipped there'
                f'{clipped_by or " by the model"}.')
  return audio


def writable_directory(directory: str, fix: str) -> str:
  """Checks that files can be written in `directory` (created and removed
  again if missing, so nothing is left behind); a UserError ending in `fix`
  otherwise, before any work is done."""
  directory = os.path.abspath(directory)
  missing = []
  parent = directory
  while not os.path.exists(parent):
    missing.append(parent)
    parent = os.path.dirname(parent)
  probe = os.path.join(directory, f'.audiodiff-write-test-{os.getpid()}')
  try:
    os.makedirs(directory, exist_ok=True)
    with open(probe, 'w'):
      pass
    os.remove(probe)
  except OSError as error:
    raise UserError(f'Cannot write to {directory} ({error.strerror}); {fix}') from None
  finally:
    for folder in missing:  # deepest first
      if os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
  return directory


WRITING_LOCK = '.audiodiff-writing'
# Which input each output of a folder came from: {stem: input's real path}.
SOURCES_FILE = '.audiodiff-sources.json'
_HELD_LOCKS = {}  # real path -> open lock file, held until the process ends
_CREATED = set()  # real paths of the folders claim_folder made


def claim_folder(directory: str) -> None:
  """Takes `directory` for this process's outputs (an flock on a hidden
  file there, released when the process ends): a second run writing into
  the same folder at the same time is refused instead of mixing files."""
  key = os.path.realpath(directory)
  if key in _HELD_LOCKS:
    return
  if not os.path.exists(directory):
    _CREATED.add(key)
  os.makedirs(directory, exist_ok=True)
  handle = open(os.path.join(directory, WRITING_LOCK), 'a+')  # pylint: disable=consider-using-with
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    handle.close()
    raise UserError(f'Another audiodiff run is writing into {directory} now; wait for it or '
                    'give another folder with --output=DIR (or --name).') from None
  if not _HELD_LOCKS:
    atexit.register(release_folders)
  _HELD_LOCKS[key] = handle


def release_folders():
  """Releases the folders this process claimed (also at exit); removes the
  ones it made and left empty."""
  for key, handle in list(_HELD_LOCKS.items()):
    try:
      os.remove(os.path.join(key, WRITING_LOCK))
    except OSError:
      pass
    handle.close()
    if key in _CREATED:  # a run that failed before writing leaves no folder behind
      remove_if_empty(key)
  _HELD_LOCKS.clear()
  _CREATED.clear()


def check_output_folder(directory: str) -> None:
  """Refuses, before any work, an --output folder that already holds files
  audiodiff did not write: it has no listening page of audiodiff's, and not
  every file is an output its record of sources names (a run stopped
  before writing its page) or a temporary file of a killed run
  (`audio_io.beside`)."""
  if not os.path.isdir(directory) or listening_page.listed_files(directory) is not None:
    return
  ours = {name.split('/')[0] for stem in _sources(directory)
          for name in (stem + '.wav', stem + '.png', stem + '.json')}
  leftovers = {name for name in os.listdir(directory) if name.startswith('.partial-')}
  if set(os.listdir(directory)) - {WRITING_LOCK, SOURCES_FILE} - ours - leftovers:
    raise UserError(f'--output={directory} already holds files audiodiff did not write; '
                    'nothing was written. Give a new or empty folder with --output=DIR.')


def check_targets(directory: str, stems: Sequence[str], inputs: Sequence[str],
                  suffixes=('.wav', '.png', '.json')) -> None:
  """Refuses, before any work, to write `<stem><suffix>` into `directory`
  over one of the `inputs`, or over a file audiodiff did not write there
  (one its listening page does not list)."""
  sources = {os.path.realpath(path) for path in inputs}
  # Where audiodiff keeps a page, a file it does not list is someone else's.
  listed = listening_page.listed_files(directory)
  if listed is not None:   # and the outputs its record of sources names
    listed = listed | {stem + '.wav' for stem in _sources(directory)}
  for stem in stems:
    for suffix in suffixes:
      target = os.path.join(directory, stem + suffix)
      same_file = os.path.exists(target) and any(
          os.path.exists(path) and os.path.samefile(target, path) for path in inputs)
      if os.path.realpath(target) in sources or same_file:  # a hard link too
        raise UserError(f'--output={directory} would overwrite the input {target} with '
                        'its output; nothing was written. Give another folder with '
                        '--output=DIR.')
      if listed is not None and os.path.exists(target) and f'{stem}.wav' not in listed:
        raise UserError(f'{target} exists and audiodiff did not write it; nothing was '
                        'written. Move it, or give another folder with --output=DIR.')


def _sources(directory):
  try:
    with open(os.path.join(directory, SOURCES_FILE)) as f:
      record = json.load(f)
    return record if isinstance(record, dict) else {}
  except (OSError, ValueError):
    return {}


def check_sources(directory: str, stems: Sequence[str], sources: Sequence[str]) -> None:
  """Refuses, before any work, to replace `<stem>.wav` in `directory` when an
  earlier run made it from another source (an input file's real path, or
  what made an output without one, e.g. sampling at a step with settings),
  or left no record of it (training's own samples): running the same
  command again replaces its own outputs."""
  record = _sources(directory)
  for stem, source in zip(stems, sources):
    earlier = record.get(stem)
    target = os.path.join(directory, stem + '.wav')
    if not os.path.exists(target) or earlier == source:
      continue
    made_by = (f'comes from {earlier} (an earlier run)' if earlier else
               'is an earlier run\'s output (training\'s samples, or one made from no input '
               'file)')
    raise UserError(f'{target} {made_by}, and {source} would replace it; nothing was '
                    'written. Give another folder with --output=DIR (or --name), or delete '
                    'that file to replace it.')


def record_sources(directory: str, stems: Sequence[str], sources: Sequence[str]) -> None:
  """Notes in `directory` what each `<stem>.wav` is made from (check_sources)."""
  record = _sources(directory)
  record.update(dict(zip(stems, sources)))
  with open(os.path.join(directory, SOURCES_FILE), 'w') as f:
    json.dump(record, f, indent=1, sort_keys=True)


def remove_if_empty(directory: str) -> bool:
  """Removes `directory` if it holds only empty folders and empty files
  (e.g. a released lock) or audiodiff's record of sources; True if it did.
  Anything else is left as it is."""
  for root, _, files in os.walk(directory):
    if any(os.path.getsize(os.path.join(root, name)) for name in files
           if name != SOURCES_FILE):
      return False
  shutil.rmtree(directory, ignore_errors=True)
  return True


# Output names are cut to this many bytes (with a digest of the whole name),
# so that '<name>.json', the longest file written beside an output, fits a
# file system's 255.
MAX_NAME_BYTES = 255 - len('.json')


def fitting_name(name: str) -> str:
  """name (one path component) within MAX_NAME_BYTES: as it is when it fits,
  else its start and '_' + 8 hex digits of a digest of the whole name."""
  encoded = name.encode('utf-8', 'surrogateescape')
  if len(encoded) <= MAX_NAME_BYTES:
    return name
  digest = hashlib.sha1(encoded).hexdigest()[:8]
  start = encoded[:MAX_NAME_BYTES - 9].decode('utf-8', 'ignore')
  return f'{start}_{digest}'


def output_stems(paths: Sequence[str]) -> list:
  """One output name per input file, without extension, unique: the file
  names when they differ, else the paths below the inputs' common folder
  (a/x.wav and b/x.wav -> 'a/x', 'b/x'), numbered where those still clash;
  a name too long for a file system cut (`fitting_name`), with a line."""
  stems = _unique_stems(paths)
  fitted = ['/'.join(fitting_name(part) for part in stem.split('/')) for stem in stems]
  for path, stem, fit in zip(paths, stems, fitted):
    if fit != stem:
      console.say(f'{path}: its name is too long for output files ({len(stem.encode())} '
                  f'bytes); its outputs are named {fit[:40]}..._{fit[-8:]}.')
  return fitted


def _unique_stems(paths: Sequence[str]) -> list:
  stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
  if len(set(stems)) == len(stems):
    return stems
  absolute = [os.path.abspath(p) for p in paths]
  common = os.path.commonpath([os.path.dirname(p) for p in absolute])
  stems = [os.path.splitext(os.path.relpath(p, common))[0] for p in absolute]
  if len(set(stems)) < len(stems):  # x.wav beside x.flac: keep the extension
    stems = [os.path.relpath(p, common).replace('.', '_') for p in absolute]
  taken, unique = set(), []
  for stem in stems:   # x.y.wav beside x_y.wav: numbered
    name, count = stem, 1
    while name in taken:
      count += 1
      name = f'{stem}_{count}'
    taken.add(name)
    unique.append(name)
  return unique


def write_audio_files(directory: str, audios, names: Sequence[str], audio_config, *,
                      check: bool = True, what: Sequence[str] = (), fix: str = MODEL_FIX,
                      clipped_by: str = ''):
  """Writes each clip of audios [N, L] as directory/<name>.wav and .png
  (at audio_config.sample_rate), each checked first (`check_output`, with
  `what` naming the clips in messages, default their names) unless `check`
  is off (training writes whatever an early model makes). Returns the wav
  paths."""
  what = list(what) or list(names)
  audios = [check_output(audio, label, fix, clipped_by) if check
            else np.nan_to_num(np.asarray(audio, np.float32))
            for audio, label in zip(audios, what)]
  os.makedirs(directory, exist_ok=True)
  paths = []
  for audio, name in zip(audios, names):
    wav, png = (os.path.join(directory, f'{name}{suffix}') for suffix in ('.wav', '.png'))
    try:
      audio_io.save_audio(wav, audio, audio_config.sample_rate)
      plotting.save_spectrogram_png(png, audio, audio_config.sample_rate, audio_config,
                                    title=name)
    except BaseException:   # a full disk, an interruption: no wav without its picture
      for path in (wav, png):
        if os.path.exists(path):
          os.remove(path)
      raise
    paths.append(wav)
  return paths
