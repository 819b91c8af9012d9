"""The one user-facing error family: the CLI turns these into a single clean line."""
from __future__ import annotations


class SanitizeError(Exception):
    """A runtime failure the user can act on (exit code 1)."""

    exit_code = 1


class InputError(SanitizeError):
    """Bad input or bad usage (exit code 2). Names the file and line when it can."""

    exit_code = 2

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")


class MissingModelError(SanitizeError):
    """A model (or optional backend) is not installed; the message names the pip command."""


class OutputRefused(SanitizeError):
    """The run finished, but what it would write fails the pipeline's checks (no record left,
    or more left out than --max-drop): nothing was written. `manifest` says what happened."""

    def __init__(self, message: str, manifest: dict):
        super().__init__(message)
        self.manifest = manifest
