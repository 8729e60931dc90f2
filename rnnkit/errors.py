"""Error classes of rnnkit and the exit codes the CLI maps them to.

Every expected failure is an :class:`RnnkitError` whose message is one line naming the file and
the key, column or row, what was found and what was expected. Bugs are anything else and keep
their traceback. This module imports nothing else from rnnkit.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_RUN = 4
EXIT_ENVIRONMENT = 5
EXIT_DIVERGED = 6
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141  # standard output's reader went away (`rnnkit runs | head`)
EXIT_SIGTERM = 143


class RnnkitError(Exception):
    """Base class of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        # One line, always: multi-line text would break the one-line-on-stderr contract.
        super().__init__(" ".join(str(message).split()))


class ConfigError(RnnkitError, ValueError):
    """The config file, a ``--set`` override or a command-line option is invalid."""

    exit_code = EXIT_CONFIG


class DataError(RnnkitError, ValueError):
    """A data file is missing, unreadable, or does not match what the config or schema expects."""

    exit_code = EXIT_DATA


class RunError(RnnkitError):
    """A run folder or model file is missing, incomplete, corrupt or would be overwritten."""

    exit_code = EXIT_RUN


class ResourceError(RnnkitError, OSError):
    """The environment failed: I/O error, full disk, missing package, a run held by another process."""

    exit_code = EXIT_ENVIRONMENT


class DivergedError(RnnkitError):
    """Training produced a NaN or infinite loss and was stopped."""

    exit_code = EXIT_DIVERGED


class Interrupted(RnnkitError):
    """Training was stopped by SIGINT or SIGTERM after saving what it could."""

    def __init__(self, message: str, exit_code: int = EXIT_SIGINT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives, so training can save and exit 143."""
