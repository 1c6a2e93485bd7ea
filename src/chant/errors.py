"""Every error chant raises, under one root.

::

    ChantError                      exit_code 2 unless a subclass says otherwise
    ├── UsageError                  bad command-line use (e.g. --local with --temporal)
    ├── ConfigError                 chant.toml is unreadable or holds unknown keys
    │   └── ConfigErrors            several of those, reported together
    ├── ValidationError             Problems found loading the project (import errors too)
    ├── OpNotFoundError             `chant run NAME` for an Op that does not exist
    ├── GateNotSupportedError       a gate in an Op run locally
    ├── SecretNotSetError           secret("NAME") with NAME missing from the environment
    ├── ProjectFileError            chant cannot write a file or folder of the project
    ├── RuntimeUnavailableError     exit_code 3: the chosen runtime cannot be reached
    └── ActivityError               one attempt of a step failed (raised by activities)
        ├── CommandFailedError      a command exited non-zero
        │   ├── CommandNotFoundError       the shell found no such command: exit 127
        │   │                              (non-retryable)
        │   └── CommandNotExecutableError  the shell could not execute it: exit 126
        │                                  (non-retryable)
        ├── ActivityTimeoutError    an attempt ran past its start-to-close timeout
        ├── HeartbeatTimeoutError   an attempt stopped heartbeating
        ├── OutcomeError            the outcome's dot-path is not in the result
        ├── ResultNotJSONError      an activity returned a value JSON cannot hold
        ├── UnknownActivityError    the step names no registered activity
        ├── ActivityExitError       an activity called sys.exit or raised KeyboardInterrupt
        │                           or GeneratorExit (non-retryable)
        ├── ToolNotFoundError       a command-line tool is not on PATH (non-retryable)
        ├── ManifestNotFoundError   a manifest file does not exist (non-retryable)
        └── ReadinessFailedError    a rollout failed for good (non-retryable)

An ``ActivityError``'s ``type`` is its class name unless given; that string is what
``non_retryable_error_types`` in a retry policy matches, as in Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass


class ChantError(Exception):
    """Root of every error chant reports. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(ChantError):
    """The command line was used wrongly."""


class ConfigError(ChantError):
    """``chant.toml`` is malformed; ``file`` and ``line`` say where, when known."""

    def __init__(
        self, message: str, *, file: str, line: int | None = None, hint: str | None = None
    ) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}", hint=hint)
        self.file = file
        self.line = line


class ConfigErrors(ConfigError):
    """Several problems in ``chant.toml``, reported together."""

    def __init__(self, errors: list[ConfigError]) -> None:
        ChantError.__init__(
            self,
            f"{len(errors)} problems in {errors[0].file}:\n" + "\n".join(str(e) for e in errors),
        )
        self.errors = tuple(errors)
        self.file = errors[0].file
        self.line = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an Op definition, located as precisely as chant knows."""

    message: str
    where: str | None = None
    """``file:line`` of the declaration, when known."""
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text


class ValidationError(ChantError):
    """Building found problems; all of them are reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        body = "\n".join(str(p) for p in problems)
        super().__init__(f"{head} in the project:\n{body}")


class OpNotFoundError(ChantError):
    """No Op has the requested name."""


class GateNotSupportedError(ChantError):
    """Local mode cannot run gates."""


class SecretNotSetError(ChantError):
    """A ``secret("NAME")`` refers to an environment variable that is not set."""


class ProjectFileError(ChantError):
    """A file or folder chant must write in the project cannot be written: a read-only
    folder, a file where a folder must be, a symlink that leads out of the project. The
    message names the path and what failed; the hint says how to fix it."""


class RuntimeUnavailableError(ChantError):
    """The runtime chosen for a run cannot be used (e.g. Temporal is unreachable)."""

    exit_code = 3


class ActivityError(ChantError):
    """One attempt of a step failed. ``type`` is matched by non-retryable error types."""

    exit_code = 1
    NON_RETRYABLE = False
    """Subclasses whose every instance fails the step at once set this to True."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,  # mirrors Temporal's ApplicationError.type
        non_retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type or self.__class__.__name__
        self.non_retryable = self.NON_RETRYABLE if non_retryable is None else non_retryable


class CommandFailedError(ActivityError):
    """A command exited with a non-zero code."""

    def __init__(self, message: str, *, exit_code: int) -> None:
        super().__init__(message)
        self.command_exit_code = exit_code


class CommandNotFoundError(CommandFailedError):
    """A ``shell`` command exited with 127: the shell found no such command (a typo,
    a tool not installed, not on ``PATH``). Retrying cannot help."""

    NON_RETRYABLE = True


class CommandNotExecutableError(CommandFailedError):
    """A ``shell`` command exited with 126: the shell found the file but could not
    execute it (no execute permission, a folder). Retrying cannot help."""

    NON_RETRYABLE = True


class ActivityTimeoutError(ActivityError):
    """An attempt ran past its start-to-close timeout and was stopped."""


class HeartbeatTimeoutError(ActivityError):
    """An attempt went longer than its heartbeat timeout without heartbeating."""


class OutcomeError(ActivityError):
    """The outcome's dot-path does not exist in the step's result."""

    NON_RETRYABLE = True


class ResultNotJSONError(ActivityError):
    """An activity returned something that is not JSON and is not converted to it (a
    ``datetime``, a dataclass, an object of its own class; see ``chant.events.to_json``).
    Its message names the type, where it is in the result, and the step."""

    NON_RETRYABLE = True


class UnknownActivityError(ActivityError):
    """A step names an activity that is not registered."""

    NON_RETRYABLE = True


class ActivityExitError(ActivityError):
    """An activity tried to end the program (``sys.exit``, ``KeyboardInterrupt``,
    ``GeneratorExit``) instead of returning or raising an exception. It fails the step:
    chant decides when it exits. Not retried: the function chose to stop."""

    NON_RETRYABLE = True


class ToolNotFoundError(ActivityError):
    """A command-line tool an activity needs is not on ``PATH``; retrying cannot help."""

    NON_RETRYABLE = True


class ManifestNotFoundError(ActivityError):
    """A manifest file to apply does not exist; retrying cannot help."""

    NON_RETRYABLE = True


class ReadinessFailedError(ActivityError):
    """A rollout reached a terminal failure (e.g. ProgressDeadlineExceeded)."""

    NON_RETRYABLE = True
