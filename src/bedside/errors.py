"""Errors a user can act on.

Every error carries a one-line message that names the problem and, where there is one, the fix.
The CLI prints it as ``bedside: error: <message>`` and exits with ``exit_code``; no traceback.
"""

from __future__ import annotations


class BedsideError(Exception):
    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(BedsideError):
    exit_code = 2


class InputError(BedsideError):
    """Bad user input: empty prompt, unreadable file, invalid schema..."""

    exit_code = 2


class UnknownModelError(BedsideError):
    exit_code = 3


class ModelUnavailableError(BedsideError):
    """The model is known but its file is missing, corrupt, or needs a download that is not allowed."""

    exit_code = 4


class BackendError(BedsideError):
    """The engine refused or failed the request."""

    exit_code = 5


class ContextWindowError(BackendError):
    pass


class StructuredOutputError(BackendError):
    """The engine's output did not satisfy the requested schema or choices."""


class AuditError(BedsideError):
    exit_code = 6


class AuditChainBroken(AuditError):
    exit_code = 7


class DeidentificationError(BedsideError):
    """Text could not be de-identified, so the request that needed it was not sent."""
