"""MidiMusic: labelled music clips written as MIDI and rendered offline with fluidsynth.

No download and no network: each clip's score is drawn from (seed, split,
index) and played by the `fluidsynth` command-line synthesiser through a
General MIDI soundfont from the disk (Debian/Ubuntu: `apt-get install
fluidsynth timgm6mb-soundfont`; `fluid-soundfont-gm` sounds better), so a
fresh machine with the same soundfont gets the same data.

A clip is a small arrangement in one major key and tempo: a melody and its
chords (one chord per bar from a common progression) on the lead family's
General MIDI program, a bass line, and on half of the clips a drum kit
(channel 10). Each example: {'audio': float32 [L], 'label': the lead family
(FAMILIES), 'key': tonic 0..11 (C = 0), 'tempo': beats per minute, 'id'}.

Clips are rendered many at a time: one MIDI file holds a chunk of clips
spaced by a silent gap for the release tails, one fluidsynth run plays it,
and the clips are cut out at exact sample positions. Reverb and chorus are
off, so the rendering is a function of the score and the soundfont.

    corpus = prepare(data_dir, sample_rate=16000, seconds=4.0, num_train=64)
    source = corpus.as_data_source('train')
"""

import concurrent.futures
import dataclasses
import os
import shutil
import subprocess
import tempfile

import numpy as np
import tensorflow_datasets as tfds

from audiodiff.audio import audio_io
from audiodiff.data import builder
from audiodiff.data import pipeline

# Lead families and the General MIDI programs (0-based) each clip picks from.
FAMILIES = ('piano', 'strings', 'guitar', 'organ')
PROGRAMS = {'piano': (0, 1, 4), 'strings': (48, 49, 40), 'guitar': (24, 25, 26),
            'organ': (16, 17, 19)}
BASS_PROGRAMS = (32, 33, 38)
KEYS = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
TEMPO_RANGE = (80, 160)  # beats per minute, inclusive
# Chord progressions as scale degrees (0 = I); one chord per bar of 4 beats.
PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 0), (1, 4, 0, 5), (0, 5, 3, 4), (0, 3, 0, 4))
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
DATA_SEED = 0
SOUNDFONTS = ('/usr/share/sounds/sf2/TimGM6mb.sf2', '/usr/share/sounds/sf2/FluidR3_GM.sf2',
              '/usr/share/sounds/sf2/default-GM.sf2')
_SPLIT_IDS = {'train': 0, 'test': 1}
_GAP_SECONDS = 1  # silence after each clip in a chunk, for release tails
_CLIPS_PER_RENDER = 32
_TICKS_PER_BEAT = 480
_MIDI_TEMPO = 500_000  # microseconds per beat: 1 tick = 1/960 s
_TICKS_PER_SECOND = _TICKS_PER_BEAT * 1_000_000 // _MIDI_TEMPO
_TIMEOUT_S = 600
_INSTALL_HINT = ('Install them with `apt-get install fluidsynth timgm6mb-soundfont` '
                 '(Debian/Ubuntu), or set config.data.soundfont to a General MIDI .sf2 file.')


class MusicRenderError(RuntimeError):
  """fluidsynth or the soundfont is missing, or a rendering failed."""


def find_fluidsynth():
  path = shutil.which('fluidsynth')
  if path is None:
    raise MusicRenderError(f'The `fluidsynth` synthesiser was not found. {_INSTALL_HINT}')
  return path


def find_soundfont(soundfont=''):
  """The soundfont path: `soundfont` if given, else the first of SOUNDFONTS found."""
  if soundfont:
    if not os.path.isfile(soundfont):
      raise MusicRenderError(f'Soundfont {soundfont!r} does not exist. {_INSTALL_HINT}')
    return soundfont
  for path in SOUNDFONTS:
    if os.path.isfile(path):
      return path
  raise MusicRenderError(f'No General MIDI soundfont found in {SOUNDFONTS}. {_INSTALL_HINT}')


@dataclasses.dataclass
class Note:
  """One note: channel, MIDI pitch, velocity, start and end in seconds."""
  channel: int
  pitch: int
  velocity: int
  start: float
  end: float


@dataclasses.dataclass
class Score:
  """A clip's notes, the program of each melodic channel, and its labels."""
  notes: list
  programs: dict
  family: int
  key: int
  tempo: int


def compose(rng: np.random.Generator, seconds: float) -> Score:
  """A random arrangement of `seconds`: lead melody + chords, bass, maybe drums.

  Channels: 0 melody, 1 chords (both the lead program), 2 bass, 9 drums.
  Every note ends at least 50 ms before the clip does.
  """
  family = int(rng.integers(len(FAMILIES)))
  key = int(rng.integers(12))
  tempo = int(rng.integers(TEMPO_RANGE[0], TEMPO_RANGE[1] + 1))
  lead = int(rng.choice(PROGRAMS[FAMILIES[family]]))
  programs = {0: lead, 1: lead, 2: int(rng.choice(BASS_PROGRAMS))}
  beat = 60.0 / tempo
  end_of_clip = seconds - 0.05
  progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
  notes = []

  def add(channel, pitch, velocity, start, length):
    end = min(start + length, end_of_clip)
    if end - start > 0.03:
      notes.append(Note(channel, int(pitch), int(velocity), float(start), float(end)))

  def degree_pitch(degree, octave):
    """MIDI pitch of scale degree `degree` (any integer) above the tonic in `octave`."""
    octave_shift, step = divmod(degree, 7)
    return 12 * (octave + octave_shift + 1) + key + MAJOR_SCALE[step]

  bar = 4 * beat
  num_bars = int(np.ceil(seconds / bar))
  for b in range(num_bars):
    root = progression[b % len(progression)]
    start = b * bar
    chord_velocity = int(rng.integers(50, 70))
    for third in range(3):  # the triad on the root, in octave 4
      add(1, degree_pitch(root + 2 * third, 4), chord_velocity, start, bar * 0.95)
    for q in range(4):  # bass: the root on every beat, the fifth on the offbeats
      pitch = degree_pitch(root + (4 if q % 2 else 0), 2)
      add(2, pitch, int(rng.integers(70, 90)), start + q * beat, beat * 0.9)
  # Melody: a random walk on the scale in eighth and quarter notes, octave 5,
  # landing on chord tones at the start of each bar.
  t, degree = 0.0, int(rng.choice((0, 2, 4)))
  while t < end_of_clip:
    b = int(t // bar)
    if abs(t - b * bar) < 1e-9:
      root = progression[b % len(progression)]
      degree = root + int(rng.choice((0, 2, 4))) if rng.random() < 0.7 else degree
    length = beat * float(rng.choice((0.5, 1.0, 1.0, 2.0)))
    add(0, degree_pitch(degree, 5), int(rng.integers(80, 110)), t, length * 0.9)
    degree = int(np.clip(degree + rng.choice((-2, -1, -1, 1, 1, 2)), -3, 10))
    t += length
  if rng.random() < 0.5:  # drums: kick on 1 and 3, snare on 2 and 4, eighth hats
    for e in range(int(np.ceil(seconds / (beat / 2)))):
      start = e * beat / 2
      if e % 4 == 0:
        add(9, 36, 100, start, 0.1)
      if e % 4 == 2:
        add(9, 38, 90, start, 0.1)
      add(9, 42, 60 + 20 * (e % 2 == 0), start, 0.05)
  return Score(notes, programs, family, key, tempo)


def score_to_midi(scores, seconds: float, path: str) -> None:
  """Writes `scores` one after another, clip i starting at i * (seconds + gap)."""
  import mido  # pylint: disable=g-import-not-at-top

  period = seconds + _GAP_SECONDS
  events = []  # (tick, order, message): note-offs before note-ons at one tick
  for i, score in enumerate(scores):
    offset = i * period
    tick = lambda s: int(round((offset + s) * _TICKS_PER_SECOND))
    for channel, program in score.programs.items():
      events.append((tick(0.0), 0, mido.Message('program_change', channel=channel,
                                               program=program)))
    for note in score.notes:
      events.append((tick(note.start), 2, mido.Message(
          'note_on', channel=note.channel, note=note.pitch, velocity=note.velocity)))
      events.append((tick(note.end), 1, mido.Message(
          'note_off', channel=note.channel, note=note.pitch, velocity=0)))
  events.sort(key=lambda e: (e[0], e[1]))
  track = mido.MidiTrack([mido.MetaMessage('set_tempo', tempo=_MIDI_TEMPO, time=0)])
  last = 0
  for tick_, _, message in events:
    track.append(message.copy(time=tick_ - last))
    last = tick_
  end = int(round(len(scores) * period * _TICKS_PER_SECOND))
  track.append(mido.MetaMessage('end_of_track', time=max(0, end - last)))
  midi = mido.MidiFile(ticks_per_beat=_TICKS_PER_BEAT)
  midi.tracks.append(track)
  midi.save(path)


def render_chunk(scores, seconds: float, sample_rate: int, soundfont: str, scratch: str,
                 name: str, gain: float = 0.5):
  """Plays `scores` through fluidsynth; returns one float32 [seconds * rate] per score."""
  midi_path = os.path.join(scratch, f'{name}.mid')
  wav_path = os.path.join(scratch, f'{name}.wav')
  score_to_midi(scores, seconds, midi_path)
  command = [find_fluidsynth(), '-ni', '-q', '-R', '0', '-C', '0', '-g', str(gain),
             '-r', str(sample_rate), '-F', wav_path, '-T', 'wav', soundfont, midi_path]
  result = subprocess.run(command, capture_output=True, text=True, check=False,
                          timeout=_TIMEOUT_S)
  if result.returncode != 0 or not os.path.exists(wav_path):
    raise MusicRenderError(f'fluidsynth failed (status {result.returncode}): '
                           f'{result.stderr.strip()[-500:]}')
  audio = audio_io.load_audio(wav_path, sample_rate)
  for path in (midi_path, wav_path):
    os.remove(path)
  clip, period = int(round(seconds * sample_rate)), int(round((seconds + _GAP_SECONDS)
                                                              * sample_rate))
  audio = np.pad(audio, (0, max(0, len(scores) * period - len(audio))))
  return [audio[i * period: i * period + clip].astype(np.float32) for i in range(len(scores))]


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
  return np.random.default_rng([seed, _SPLIT_IDS[split], index])


def render_split(split, count, seconds, sample_rate, seed, soundfont, num_workers=2):
  """Yields (score, audio) for clips 0..count-1 of `split`, in order."""
  scores = [compose(clip_rng(seed, split, i), seconds) for i in range(count)]
  chunks = [scores[i:i + _CLIPS_PER_RENDER] for i in range(0, count, _CLIPS_PER_RENDER)]
  with tempfile.TemporaryDirectory(prefix='midi_music_') as scratch, \
      concurrent.futures.ThreadPoolExecutor(max(1, num_workers)) as pool:
    futures = [pool.submit(render_chunk, chunk, seconds, sample_rate, soundfont, scratch,
                           f'{split}_{c:05d}') for c, chunk in enumerate(chunks)]
    try:
      for chunk, future in zip(chunks, futures):
        yield from zip(chunk, future.result())
    finally:
      for future in futures:
        future.cancel()


@dataclasses.dataclass
class MidiMusicConfig(builder.AudioBuilderConfig):
  """Corpus parameters; build with `music_config` to get a unique name."""
  seconds: float = 4.0
  num_train: int = 512
  num_test: int = 64
  seed: int = DATA_SEED
  soundfont: str = ''


def music_config(sample_rate, seconds, num_train, num_test=None, seed=DATA_SEED,
                 soundfont=''):
  """A config whose name encodes every parameter (the soundfont by file name).
  num_test defaults to num_train // 8, at least 1."""
  if num_test is None:
    num_test = max(1, int(num_train) // 8)
  font = os.path.splitext(os.path.basename(find_soundfont(soundfont)))[0]
  name = (f'{font}_sr{int(sample_rate)}_{int(round(seconds * 1000))}ms_train{int(num_train)}'
          f'_test{int(num_test)}_seed{int(seed)}')
  return MidiMusicConfig(name=name, sample_rate=int(sample_rate), seconds=float(seconds),
                         num_train=int(num_train), num_test=int(num_test), seed=int(seed),
                         soundfont=soundfont,
                         description=f'{num_train}/{num_test} MIDI clips of {seconds} s')


class MidiMusic(builder.AudioBuilder):
  """Rendered MIDI arrangements (see the module docstring)."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Melody, chords, bass and drums; four lead families.'}

  def __init__(self, *, config=None, num_workers=2, **kwargs):
    self._num_workers = int(num_workers)
    super().__init__(config=config, **kwargs)

  def _features(self):
    return {'audio': builder.audio_feature(),
            'label': tfds.features.ClassLabel(names=list(FAMILIES)),
            'key': tfds.features.ClassLabel(names=list(KEYS)),
            'tempo': tfds.features.Scalar(dtype=np.int32),
            'id': tfds.features.Text()}

  def _metadata(self):
    return {'seed': self.builder_config.seed, 'seconds': self.builder_config.seconds}

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    soundfont = find_soundfont(self.builder_config.soundfont)
    find_fluidsynth()
    self.info.metadata['soundfont'] = os.path.basename(soundfont)
    cfg = self.builder_config
    return {split: self._generate_examples(split, count, soundfont)
            for split, count in (('train', cfg.num_train), ('test', cfg.num_test))}

  def _generate_examples(self, split, count, soundfont):
    cfg = self.builder_config
    clips = render_split(split, count, cfg.seconds, cfg.sample_rate, cfg.seed, soundfont,
                         self._num_workers)
    for index, (score, audio) in enumerate(clips):
      key = f'{split}_{index:05d}'
      yield key, {'audio': audio, 'label': score.family, 'key': score.key,
                  'tempo': score.tempo, 'id': key}


def prepare(data_dir, sample_rate=16000, seconds=4.0, num_train=512, num_test=None,
            seed=DATA_SEED, soundfont='', num_workers=2):
  """Renders the corpus once (a no-op when already there) and returns the builder."""
  corpus = MidiMusic(config=music_config(sample_rate, seconds, num_train, num_test, seed,
                                         soundfont),
                     num_workers=num_workers, data_dir=os.fspath(data_dir))
  corpus.download_and_prepare()
  return corpus


@pipeline.DATASETS.register('midi_music')
def make_builder(config, data_dir):
  """The pipeline's factory for config.data.name == 'midi_music': clips of
  config.data.clip_seconds at config.audio.sample_rate (training crops them
  to config.data.segment_length), config.data.num_examples train clips,
  config.data.soundfont."""
  cfg = music_config(config.audio.sample_rate, config.data.clip_seconds,
                     config.data.num_examples, soundfont=config.data.soundfont)
  return MidiMusic(config=cfg, data_dir=data_dir)
