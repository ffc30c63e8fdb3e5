"""What a music latent model may be asked for beside its class: key and tempo.

config.latent.attributes names dataset features ('key', 'tempo' of
`midi_music`). Each becomes an id in [0, size); id `size` means "not given",
so one network learns every combination for classifier-free guidance (each
attribute is dropped on its own in training, as the class label is).

    KEY.id_of('D') == 2;  KEY.id_of(2) == 2
    TEMPO.id_of(123) == 9    # 5-BPM steps from 80: 9 -> 125 BPM
    TEMPO.ids_of_feature(jnp.array([80, 123]))  -> [0, 9]
"""

import dataclasses
from typing import Callable

import jax.numpy as jnp
import numpy as np

from audiodiff.errors import UserError

KEY_NAMES = ('C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B')
_FLATS = {'Db': 'C#', 'Eb': 'D#', 'Gb': 'F#', 'Ab': 'G#', 'Bb': 'A#'}
TEMPO_RANGE = (80, 160)  # beats per minute of the midi_music corpus, inclusive
TEMPO_STEP = 5


@dataclasses.dataclass(frozen=True)
class Attribute:
  """A dataset feature as ids in [0, size); `size` is "not given"."""
  name: str
  size: int
  ids_of_feature: Callable  # int [B] feature values -> int32 [B] ids (jnp)
  id_of: Callable           # a user's value -> id, or a UserError naming the valid ones
  describe: Callable        # id -> a short name for file names ('D', '125bpm')


def _key_id(value):
  if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < 12:
    return int(value)
  if isinstance(value, str):
    name = value.strip()
    name = name[:1].upper() + name[1:]
    name = _FLATS.get(name, name)
    if name.isdigit() and int(name) < 12:   # --config.latent.key=2 arrives as text
      return int(name)
    if name in KEY_NAMES:
      return KEY_NAMES.index(name)
  raise UserError(f'key={value!r} is not a major key this model knows; give one of '
                  f'{", ".join(KEY_NAMES)} (flats such as Eb too) or 0-11.')


def _tempo_id(value):
  number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
      value, (bool, np.bool_))
  bpm = float(value) if number else float('nan')   # not text: seconds= takes none either
  if not TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
    raise UserError(f'tempo={value!r}: give a number of beats per minute from '
                    f'{TEMPO_RANGE[0]} to {TEMPO_RANGE[1]}, the tempos this model learned.')
  return int(round((bpm - TEMPO_RANGE[0]) / TEMPO_STEP))


KEY = Attribute('key', 12, lambda keys: jnp.asarray(keys, jnp.int32), _key_id,
                lambda i: KEY_NAMES[i].replace('#', 'sharp'))
TEMPO = Attribute(
    'tempo', (TEMPO_RANGE[1] - TEMPO_RANGE[0]) // TEMPO_STEP + 1,
    lambda bpm: jnp.clip(jnp.round((jnp.asarray(bpm, jnp.float32) - TEMPO_RANGE[0])
                                   / TEMPO_STEP), 0, (TEMPO_RANGE[1] - TEMPO_RANGE[0])
                         // TEMPO_STEP).astype(jnp.int32),
    _tempo_id, lambda i: f'{TEMPO_RANGE[0] + TEMPO_STEP * i}bpm')
ATTRIBUTES = {a.name: a for a in (KEY, TEMPO)}


def get(names) -> tuple:
  """The Attributes config.latent.attributes names, in order."""
  unknown = [n for n in names if n not in ATTRIBUTES]
  if unknown:
    raise UserError(f'config.latent.attributes has {", ".join(map(repr, unknown))}; valid: '
                    f'{", ".join(ATTRIBUTES)}.')
  return tuple(ATTRIBUTES[n] for n in names)
