"""One exception type for every mistake a user can make.

The CLI prints a DisentangleError as a single line and exits non-zero; anything else is a bug and
gets a traceback only with ``--debug``. Raise it with a message that says what was wrong, where
(file, flag, plugin) and what to do about it.
"""


class DisentangleError(Exception):
    """A user-facing error: bad input, a missing file, a broken plugin."""
