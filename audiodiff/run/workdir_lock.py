"""One training run per work directory: an exclusive lock held by the process.

The lock is an `flock` on workdir/.lock, so the operating system releases it
when the process exits in any way (including SIGKILL). The file records the
holder's PID, host and start time: a second run is refused with them, and a
lock file left by a dead process is taken over with a message.
"""

import datetime
import fcntl
import json
import os
import socket

from audiodiff.run import console
from audiodiff.errors import UserError

LOCK_FILE = '.lock'


class WorkdirLock:
  """with WorkdirLock(workdir): ... holds the lock for the block."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._file = None

  def __enter__(self):
    os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
    handle = open(self.path, 'a+')  # pylint: disable=consider-using-with
    try:
      fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = _read_holder(handle)
      handle.close()
      raise UserError(
          f'{os.path.dirname(self.path)} is in use by another training run (PID '
          f'{holder.get("pid", "?")} on host {holder.get("host", "?")}, started '
          f'{holder.get("started", "?")}); wait for it to finish or use another '
          '--workdir.') from None
    previous = _read_holder(handle)
    if previous.get('pid') and not _is_this_process(previous):
      console.say(f'Took over the lock of {os.path.dirname(self.path)} from PID '
                  f'{previous["pid"]} on host {previous.get("host", "?")}, which is no '
                  'longer running.')
    handle.seek(0)
    handle.truncate()
    json.dump({'pid': os.getpid(), 'host': socket.gethostname(),
               'started': datetime.datetime.now().isoformat(timespec='seconds')}, handle)
    handle.flush()
    self._file = handle
    return self

  def __exit__(self, *exc_info):
    if self._file is not None:
      self._file.seek(0)
      self._file.truncate()
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None


def _read_holder(handle) -> dict:
  handle.seek(0)
  try:
    return json.loads(handle.read() or '{}')
  except ValueError:
    return {}


def _is_this_process(holder) -> bool:
  return holder.get('pid') == os.getpid() and holder.get('host') == socket.gethostname()
