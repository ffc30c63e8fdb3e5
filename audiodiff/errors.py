"""The project's own error for user mistakes.

A UserError names what is wrong, where, and the fix, in one line: a config
value, a flag, an input file, a work directory. `experiments/main.py` prints
it without a traceback and exits with status 2 (`--debug` shows the
traceback); a Stopped run exits 130 (Ctrl-C) or 143 (SIGTERM). Anything else is an internal error and keeps its traceback.
"""


class UserError(ValueError):
  """A mistake the user can fix; the message says how."""
  exit_code = 2


class Stopped(UserError):
  """The user stopped the run (Ctrl-C, SIGTERM); the message says what was
  saved and how to resume. Exits 128 + the signal's number, as shells expect."""

  def __init__(self, message: str, signal_number: int):
    super().__init__(message)
    self.exit_code = 128 + signal_number
