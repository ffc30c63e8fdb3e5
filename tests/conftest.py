"""Test-wide settings.

The suite compiles the same tiny models many times: in-process, then again in
the `experiments/main.py` subprocesses that sample, export or resume a run.
A persistent JAX compilation cache, one per xdist worker (so that no two
workers write one entry at once) and inherited by the subprocesses through
the environment, compiles each of them once. Every entry is keyed by the
computation itself, so a stale cache costs only disk. Set
JAX_COMPILATION_CACHE_DIR to use another directory.
"""
import os
import shutil
import tempfile

import pytest

_worker = os.environ.get('PYTEST_XDIST_WORKER', 'main')
os.environ.setdefault(
    'JAX_COMPILATION_CACHE_DIR',
    os.path.join(tempfile.gettempdir(), f'audiodiff-tests-{os.getuid()}-jax-cache', _worker))
# Cache every computation, however small or quick to compile.
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')


@pytest.fixture(scope='session')
def asterisk_sounds():
  """Skips unless the recorded speaker june and the recorded music are
  installed (Debian packages asterisk-core-sounds-fr-g722 and
  asterisk-moh-opsound-g722, which .ci/run installs)."""
  from audiodiff.data import asterisk  # pylint: disable=g-import-not-at-top
  for path, package in ((os.path.join(asterisk.SOUNDS_DIR, 'fr_CA_f_June'),
                         'asterisk-core-sounds-fr-g722'),
                        (asterisk.MUSIC_DIR, 'asterisk-moh-opsound-g722')):
    if not os.path.isdir(path):
      pytest.skip(f'{path} is missing (Debian: apt-get install {package})')


def _binary(name, package):
  if shutil.which(name) is None:
    pytest.skip(f'{name} is not installed (Debian/Ubuntu: apt-get install {package})')


@pytest.fixture(scope='session')
def flite():
  """Skips unless flite (which renders flite_speech) is installed."""
  _binary('flite', 'flite')


@pytest.fixture(scope='session')
def espeak_ng():
  """Skips unless espeak-ng (phonemes, espeak voices) is installed."""
  _binary('espeak-ng', 'espeak-ng')


@pytest.fixture(scope='session')
def fluidsynth():
  """Skips unless fluidsynth and a General MIDI soundfont are installed."""
  from audiodiff.data import midi_music  # pylint: disable=g-import-not-at-top
  _binary('fluidsynth', 'fluidsynth timgm6mb-soundfont')
  if not any(map(os.path.isfile, midi_music.SOUNDFONTS)):
    pytest.skip('No General MIDI soundfont (Debian/Ubuntu: apt-get install '
                'timgm6mb-soundfont)')
