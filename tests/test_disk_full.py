"""A full disk during training ends in one line, with no partial checkpoint
left behind and the kept ones whole; the same command resumes."""

import collections
import errno
import glob
import os
import subprocess

import pytest

from experiments.configs import tiny

from audiodiff.errors import UserError
from audiodiff.run import checkpoint, train

_Usage = collections.namedtuple('_Usage', 'total used free')


def tiny_config(num_steps=2):
  config = tiny.get_config()
  config.train.num_steps = num_steps
  config.train.sample_every = 1000
  return config


def partial_saves(workdir):
  return glob.glob(os.path.join(workdir, 'checkpoints', '*orbax-checkpoint-tmp*'))


def test_a_checkpoint_the_disk_cannot_hold_is_refused_in_one_line(tmp_path, monkeypatch):
  workdir = str(tmp_path / 'run')
  train.train_and_evaluate(tiny_config(num_steps=1), workdir)
  monkeypatch.setattr(checkpoint.shutil, 'disk_usage', lambda path: _Usage(10**9, 10**9, 1000))
  with pytest.raises(UserError, match=r'Disk full: the checkpoint of step 2 .*resumes from '
                                      r'step 1') as caught:
    train.train_and_evaluate(tiny_config(num_steps=3), workdir)
  assert '\n' not in str(caught.value)
  assert checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints')).all_steps() == [1]
  monkeypatch.undo()
  train.train_and_evaluate(tiny_config(num_steps=3), workdir)  # resumes once there is room
  assert checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints')).all_steps()[-1] == 3


def test_no_space_while_saving_removes_the_partial_folder(tmp_path, monkeypatch):
  checkpointer = checkpoint.Checkpointer(str(tmp_path))
  partial = tmp_path / '7.orbax-checkpoint-tmp-1234'
  partial.mkdir()
  (partial / 'shard').write_bytes(b'x' * 100)

  def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device', str(partial / 'shard'))

  monkeypatch.setattr(checkpointer.manager, 'save', no_space)
  with pytest.raises(UserError, match='Disk full: the checkpoint of step 7'):
    checkpointer.save(7, {'w': 1.0})
  assert not partial.exists()
  checkpointer.close()


@pytest.mark.parametrize('error, full', [
    (OSError(errno.ENOSPC, 'No space left on device'), True),
    (ValueError('RESOURCE_EXHAUSTED: Error writing "x": [OSError, os_error_code: 28]'), True),
    (OSError(errno.EACCES, 'Permission denied'), False),
    (ValueError('shapes differ'), False),
])
def test_disk_full_is_recognised_in_orbax_messages_and_causes(error, full):
  assert checkpoint.is_disk_full(error) is full
  try:
    raise RuntimeError('saving failed') from error
  except RuntimeError as wrapped:
    assert checkpoint.is_disk_full(wrapped) is full


@pytest.fixture
def small_disk(tmp_path):
  """A 32 MB tmpfs (needs the right to mount, as root in CI); skipped otherwise."""
  mount_point = tmp_path / 'disk'
  mount_point.mkdir()
  result = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=32m', 'tmpfs',
                           str(mount_point)], capture_output=True, check=False)
  if result.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {result.stderr.decode().strip()}')
  try:
    yield mount_point
  finally:
    subprocess.run(['umount', '-l', str(mount_point)], check=False)


def test_a_real_full_disk_during_an_orbax_save(small_disk, monkeypatch):
  """Past the free-space check (switched off here), Orbax's own write fails
  on a really full disk: one line, and no partial folder left."""
  workdir = str(small_disk / 'run')
  train.train_and_evaluate(tiny_config(num_steps=1), workdir)
  free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
  # Room for the config and event files, not for a checkpoint.
  (small_disk / 'filler').write_bytes(b'\0' * max(free - 256 * 1024, 0))
  monkeypatch.setattr(checkpoint.Checkpointer, '_check_free_space', lambda *args: None)
  with pytest.raises(UserError, match='Disk full') as caught:
    train.train_and_evaluate(tiny_config(num_steps=3), workdir)
  assert '\n' not in str(caught.value)
  assert not partial_saves(workdir)
  (small_disk / 'filler').unlink()
  monkeypatch.undo()
  train.train_and_evaluate(tiny_config(num_steps=3), workdir)
  assert checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints')).all_steps()[-1] == 3


def test_a_full_disk_ends_the_command_in_one_line(small_disk):
  """Through experiments/main.py, whichever write meets the full disk first."""
  from test_train import run_main  # pylint: disable=import-outside-toplevel
  workdir = small_disk / 'run'
  run_main(workdir, '--config.train.num_steps=1')
  free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
  (small_disk / 'filler').write_bytes(b'\0' * max(free - 4096, 0))
  result = run_main(workdir, '--config.train.num_steps=3', check=False)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith('error: Disk full')
  assert not partial_saves(str(workdir))


def test_a_wav_the_full_disk_cannot_hold_is_named_as_disk_full(tmp_path, monkeypatch):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import soundfile as sf  # pylint: disable=g-import-not-at-top
  from audiodiff.audio import audio_io, streams  # pylint: disable=g-import-not-at-top

  def system_error(*args, **kwargs):
    raise RuntimeError('System error.')   # what libsndfile says on a full disk

  monkeypatch.setattr(sf.SoundFile, 'write', system_error)
  monkeypatch.setattr(sf, 'write', system_error)
  monkeypatch.setattr(audio_io.shutil, 'disk_usage', lambda path: _Usage(10**9, 10**9, 1000))
  path = str(tmp_path / 'out.wav')
  for write in (lambda: streams.write_blocks(path, [np.zeros(800, np.float32)], rate=16000,
                                             file_rate=16000, length=800),
                lambda: audio_io.save_audio(path, np.zeros(800, np.float32), 16000)):
    with pytest.raises(OSError) as caught:
      write()
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == path
    assert checkpoint.is_disk_full(caught.value) and os.listdir(tmp_path) == []
  monkeypatch.setattr(audio_io.shutil, 'disk_usage', lambda path: _Usage(10**9, 0, 10**9))
  with pytest.raises(RuntimeError, match='System error'):   # not a full disk: as it was
    audio_io.save_audio(path, np.zeros(800, np.float32), 16000)


def test_a_clip_whose_picture_the_full_disk_cannot_hold_leaves_no_wav(tmp_path, monkeypatch):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from audiodiff.run import outputs  # pylint: disable=g-import-not-at-top

  def full(path, *args, **kwargs):
    raise OSError(errno.ENOSPC, 'No space left on device', path)

  monkeypatch.setattr(outputs.plotting, 'save_spectrogram_png', full)
  audio_config = tiny_config().audio
  with pytest.raises(OSError) as caught:
    outputs.write_audio_files(str(tmp_path), np.zeros((2, 800), np.float32), ['a', 'b'],
                              audio_config)
  assert caught.value.errno == errno.ENOSPC and os.listdir(tmp_path) == []
