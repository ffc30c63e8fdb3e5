"""The project's own error for user mistakes.

A UserError names what is wrong, where, and the fix, in one line: a config
value, a flag, an input file, a work directory. `experiments/main.py` prints
it without a traceback and exits with status 2 (`--debug` shows the
traceback); a Stopped run exits 130 (Ctrl-C) or 143 (SIGTERM). Anything else is an internal error and keeps its traceback.
"""


import functools
import sys

from absl import app, flags


class UserError(ValueError):
  """A mistake the user can fix; the message says how."""
  exit_code = 2


class Stopped(UserError):
  """The user stopped the run (Ctrl-C, SIGTERM); the message says what was
  saved and how to resume. Exits 128 + the signal's number, as shells expect."""

  def __init__(self, message: str, signal_number: int):
    super().__init__(message)
    self.exit_code = 128 + signal_number


def one_line(main):
  """main, with a UserError printed as `error: ...` and exit status 2 (for
  scripts such as benchmarks/*.py: `app.run(one_line(main))`)."""
  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    try:
      return main(*args, **kwargs)
    except UserError as error:
      print(f'error: {error}', file=sys.stderr, flush=True)
      sys.exit(2)
  return wrapped


def run_script(main):
  """absl's app.run(main) for scripts (benchmarks/*.py): a flag error (an
  unknown flag, a wrong type, a failed validator) or a UserError is one
  `error: ...` line with exit status 2."""

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      print(f'error: {error}', file=sys.stderr, flush=True)
      sys.exit(2)

  app.run(one_line(main), flags_parser=parse)
