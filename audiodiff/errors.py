"""The project's own error for user mistakes.

A UserError names what is wrong, where, and the fix, in one line: a config
value, a flag, an input file, a work directory. `experiments/main.py` prints
it without a traceback and exits with status 2 (`--debug` shows the
traceback). Anything else is an internal error and keeps its traceback.
"""


class UserError(ValueError):
  """A mistake the user can fix; the message says how."""
