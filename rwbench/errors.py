"""User errors: bad input the user can fix, reported by the CLI as one line (a traceback only with --debug).

A UserError is a ValueError (the project's bad-input convention), so callers catching ValueError keep working.
The CLI prints USER_ERRORS as `rwbench <command>: <message>`; `rwbench --debug <command>` or RWBENCH_DEBUG=1 shows
the traceback instead.
"""

from __future__ import annotations

import os

DEBUG_ENV = "RWBENCH_DEBUG"


class UserError(ValueError):
    """Bad input (a corrupt file, a wrong option): the message names the file or option and what to do."""


# exceptions the CLI reports as one line: bad input by the project's convention (ValueError, FileNotFoundError)
USER_ERRORS = (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def debug_enabled() -> bool:
    """True when RWBENCH_DEBUG is set to anything but '', '0', 'false' or 'no'."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (its type name when it has none)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


__all__ = ["DEBUG_ENV", "UserError", "USER_ERRORS", "debug_enabled", "first_line"]
