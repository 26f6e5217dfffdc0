"""One error style for every `quantop` command: `quantop COMMAND: what went wrong and what to do`, on one line.

argparse already writes `quantop COMMAND: error: ...` for a bad flag; these helpers give the
commands' own errors the same prefix, and `quantop.cli` turns a `CommandError` (or a file the
user named that cannot be opened) into that line instead of a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Exit code of a command that could not run (bad flag, unreadable file, unknown model).
EXIT_USAGE = 2


class CommandError(Exception):
    """A user error: printed as one `quantop COMMAND: ...` line, then the command exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def error_line(command: str, message: str) -> str:
    """`quantop COMMAND: MESSAGE`, with the message's line breaks folded so the error stays one line."""
    return f"quantop {command}: " + " ".join(str(message).split())


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    """Print the error line on stderr and return ``code``, for `return fail("plan", "...")`."""
    print(error_line(command, message), file=sys.stderr)
    return code


def checked(parse: Callable[[T], R], value: T, what: str) -> R:
    """Parse user input; a ValueError (pydantic's ValidationError is one) becomes a CommandError naming `what`."""
    try:
        return parse(value)
    except ValueError as exc:
        raise CommandError(f"{what}: {exc}") from None
