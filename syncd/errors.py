"""Errors that decide a command's exit status (see docs/interface.md)."""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1  # deploy failed and was rolled back
EXIT_USAGE = 2  # usage or config error
EXIT_BLOCKED = 3  # conflict, dirty tree, quarantined, bad signature, force push, bad secrets


class SyncdError(Exception):
    exit_code = EXIT_USAGE


class ConfigError(SyncdError):
    """Invalid configuration: names the file, the key and what was expected."""

    exit_code = EXIT_USAGE

    def __init__(self, file: object, key: str | None, expected: str) -> None:
        self.file, self.key, self.expected = str(file), key, expected
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + expected)


class UsageError(SyncdError):
    exit_code = EXIT_USAGE


class Blocked(SyncdError):
    """The deploy must not go ahead; nothing was (or will be) touched."""

    exit_code = EXIT_BLOCKED


class EnvError(Blocked):
    """Bad environment input (an env file or a value). Names file and line, never a value."""


class SecretsError(Blocked):
    """Undecryptable, tampered or malformed secrets. Names file, line and variable, never a value."""


class StepFailed(SyncdError):
    """A step after the first mutation failed: the deploy is undone."""

    exit_code = EXIT_FAILED


class VersionFailed(StepFailed):
    """The new version failed its own part (a pre_restart hook): undone, not quarantined (may pass next time)."""


class Unhealthy(VersionFailed):
    """The restarted new version was judged unhealthy: undone and quarantined. Only this quarantines."""


class StorageError(SyncdError, OSError):
    """A file syncd keeps (state dir, drop-in) cannot be written, or a state file cannot be parsed.

    One line naming the file; an OSError too, so code that tolerates I/O errors still does."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str):
        SyncdError.__init__(self, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ToolError(SyncdError):
    """An external tool (git, systemctl) failed in a way that is not a decision."""

    exit_code = EXIT_FAILED

    def __init__(self, argv: Sequence[object], returncode: int, stderr: str) -> None:
        self.argv, self.returncode, self.stderr = list(argv), returncode, stderr
        super().__init__(f"{' '.join(map(str, argv[:4]))}... exited {returncode}: {stderr.strip()[-500:]}")
