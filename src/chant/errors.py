"""Every error chant raises, under one root, and the exit code each one means.

::

    ChantError                      exit_code INVALID (2) unless a subclass says otherwise
    ├── UsageError                  bad command-line use (e.g. --local with --temporal)
    │   └── ParamError              an Op's parameter values do not fit (chant.params)
    ├── ConfigError                 chant.toml is unreadable or holds unknown keys
    │   └── ConfigErrors            several of those, reported together
    ├── ValidationError             Problems found loading the project (import errors too)
    ├── IRError                     an IR document does not match the schema (also a
    │                               ValueError)
    ├── OpNotFoundError             `chant run NAME` for an Op that does not exist
    ├── GateNotSupportedError       a gate in an Op run locally
    ├── SecretNotSetError           secret("NAME") with NAME missing from the environment
    ├── ProjectFileError            chant cannot write a file or folder of the project
    ├── AlreadyRunningError         Temporal: a run of the Op is open already
    ├── NotRunningError             Temporal: the Op has no open run (signal, cancel) or
    │                               never ran (status)
    ├── IRTooLargeError             Temporal: the Op's IR is over the 2 MiB payload limit
    ├── AlreadyServedError          another dev server serves the address
    │                               (`chant server start` reports it and exits 0)
    ├── RunNotFinishedError         chant.run: a Temporal run ended without its record,
    │                               or chant detached from it (exit 130 or 1)
    ├── RuntimeUnavailableError     exit_code UNAVAILABLE (3): the runtime cannot be reached
    └── ActivityError               exit_code FAILED (1): one attempt of a step failed
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
``non_retryable_error_types`` in a retry policy matches, as in Temporal. Every type
name chant records in a step's or run's error is an ``ErrorType``.

Not in the tree, on purpose, as they never reach a user (internal control flow; a test
holds this list to the code): ``imports.ImportEscape`` (a ``BaseException`` that
unwinds an op file calling ``sys.exit``/``os.fork`` while imported; it never leaves
discovery), ``activities.calling._OsExit`` (a ``SystemExit`` standing in for an
activity's ``os._exit``, reported as ``ActivityExitError``), ``jsontypes.NotJSONError``
(a ``TypeError`` ``to_json`` raises for its callers, which report it as
``ResultNotJSONError``) and ``argcheck.TooDeep`` (unwinds a too-deep value inside the
planner).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from chant.config import Config
    from chant.temporal.servers import OtherServer


class ExitCode(IntEnum):
    """What ``chant`` exits with (docs/cli.md, "Exit codes"): decided here only."""

    OK = 0
    """Success: the Op completed, or the command did what it was asked."""
    FAILED = 1
    """The Op failed: a step failed for good, a gate timed out, a Temporal run hit its
    execution timeout (also an internal error, a bug to report)."""
    INVALID = 2
    """Usage, definition or config error: nothing ran."""
    UNAVAILABLE = 3
    """The runtime chosen cannot be reached (Temporal down, the extra not installed)."""
    INTERRUPTED = 130
    """Ctrl-C, SIGTERM, SIGHUP or SIGQUIT, or a Temporal run cancelled or terminated."""

    @classmethod
    def of_run(cls, status: str | None, *, ok: bool = False) -> ExitCode:
        """The exit code of a run that ended with ``status``: a run record's (``ok``,
        ``failed``, ``interrupted``), or, for a Temporal run that left no record, the
        workflow's (``terminated``, ``canceled``, ``timed_out``, ``failed``), or
        ``detached`` when chant stopped following it."""
        if status in ("interrupted", "detached", "terminated", "canceled"):
            return cls.INTERRUPTED
        return cls.OK if ok else cls.FAILED


class ErrorType(StrEnum):
    """The ``type`` of every error chant records in a step's or run's ``error``: what a
    retry policy's ``non_retryable_error_types`` matches. Classes below carry their own
    name; the rest name failures no exception class stands for."""

    COMMAND_FAILED = "CommandFailedError"
    COMMAND_NOT_FOUND = "CommandNotFoundError"
    COMMAND_NOT_EXECUTABLE = "CommandNotExecutableError"
    ACTIVITY_TIMEOUT = "ActivityTimeoutError"
    HEARTBEAT_TIMEOUT = "HeartbeatTimeoutError"
    OUTCOME = "OutcomeError"
    UNRESOLVED_REFERENCE = "UnresolvedReferenceError"
    """A reference or condition had no value when its step was about to start."""
    RESULT_NOT_JSON = "ResultNotJSONError"
    UNKNOWN_ACTIVITY = "UnknownActivityError"
    ACTIVITY_EXIT = "ActivityExitError"
    TOOL_NOT_FOUND = "ToolNotFoundError"
    MANIFEST_NOT_FOUND = "ManifestNotFoundError"
    READINESS_FAILED = "ReadinessFailedError"
    SECRET_NOT_SET = "SecretNotSetError"
    CONFIG = "ConfigError"
    GATE_TIMEOUT = "GateTimeoutError"
    """A gate's signal did not come within its timeout."""
    CANCELLED = "Cancelled"
    """The step or run was cancelled (Ctrl-C on Temporal, ``chant cancel``)."""
    INTERRUPTED = "Interrupted"
    """A local run was interrupted (Ctrl-C, SIGTERM, SIGHUP, SIGQUIT)."""
    WORKER_STOPPED = "WorkerStopped"
    """The worker running an attempt stopped."""
    ACTIVITY_IMPORT = "ActivityImportError"
    """An activity of an installed package could not be imported."""
    INVALID_ARGUMENT = "InvalidArgumentError"
    """A built-in activity was given an argument it cannot use."""
    INVALID_OP = "InvalidOpError"
    """The workflow was given input that is not a valid Op."""
    OP_FAILED = "OpFailed"
    """The workflow's failure when the Op failed (its details hold the run record)."""
    WORKFLOW = "ChantWorkflowError"
    """An unexpected error inside chant's workflow."""
    HTTP_CHECK_FAILED = "HttpCheckFailedError"
    FOLDER_NOT_FOUND = "FolderNotFoundError"
    NOTHING_TO_BUILD = "NothingToBuildError"
    NOTHING_TO_TEAR_DOWN = "NothingToTearDownError"
    TEARDOWN_LOOP = "TeardownLoopError"
    UNKNOWN_ENVIRONMENT = "UnknownEnvironmentError"
    OBSERVE_OUTPUT = "ObserveOutputError"
    SNAPSHOT_READ = "SnapshotReadError"
    SNAPSHOT_WRITE = "SnapshotWriteError"
    SNAPSHOT_MISSING = "SnapshotMissingError"
    ACTIVITY = "ActivityError"
    """An ``ActivityError`` raised with no type of its own."""
    UNSCRIPTED_STEP = "UnscriptedStepError"
    """``chant.testing``: a step the test gave no fake for."""


class ChantError(Exception):
    """Root of every error chant reports. ``exit_code`` is what the CLI exits with."""

    exit_code: ExitCode = ExitCode.INVALID

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


class Problem(NamedTuple):
    """One thing wrong with an Op definition, located as precisely as chant knows. (A
    named tuple: ``import chant`` defines it, and a frozen dataclass costs more.)"""

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


class IRError(ChantError, ValueError):
    """An IR document does not match the schema; the message names the path. Also a
    ``ValueError``, as it was before it joined the tree."""


class AlreadyRunningError(ChantError):
    """The Op's workflow is already running; a second start is refused."""


class IRTooLargeError(ChantError):
    """The Op's IR is over Temporal's payload limit: it cannot be a workflow's input."""


class NotRunningError(ChantError):
    """The Op has no open run on Temporal (``chant signal``, ``chant cancel``), or no run
    at all (``chant status``). The hint gives the commands as this project needs them:
    without a ``[temporal]`` table a plain ``chant run`` is local, and a ``--profile``
    given (``chosen``) must be given again."""

    def __init__(
        self, op: str, config: Config, chosen: str | None = None, last: str | None = None
    ) -> None:
        was = f" (its last run {last})" if last else ""
        flag = f" --profile {chosen}" if chosen else ""
        mode = " --temporal" if config.temporal is None else ""
        super().__init__(
            f'Op "{op}" has no running workflow{was}',
            hint=f"start one with `chant run {op}{mode}{flag}`; `chant history {op}{flag}` "
            "lists past runs",
        )


class AlreadyServedError(ChantError):
    """Another dev server (another project's, or one started by hand) already serves the
    address: this project uses it, and starts none of its own."""

    def __init__(self, other: OtherServer) -> None:
        super().__init__(f"{other.describe(already=True)}; this project uses it")
        self.other = other


class RunNotFinishedError(ChantError):
    """``chant.run`` could not follow a Temporal run to its record: it detached (a stop
    signal; the run goes on on the cluster), or the workflow closed without finishing
    the Op (terminated, timed out). ``exit_code`` is what ``chant run`` exits with then
    (``ExitCode.of_run``)."""

    def __init__(self, message: str, *, code: ExitCode, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = code


class RuntimeUnavailableError(ChantError):
    """The runtime chosen for a run cannot be used (e.g. Temporal is unreachable)."""

    exit_code = ExitCode.UNAVAILABLE


class ActivityError(ChantError):
    """One attempt of a step failed. ``type`` is matched by non-retryable error types."""

    exit_code = ExitCode.FAILED
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


class UnresolvedReferenceError(ActivityError):
    """A reference (``out``, ``outcome``) or a condition could not be resolved just
    before its step started: the step fails at once, without an attempt."""

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
