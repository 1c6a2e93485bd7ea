"""The resolved plan of an Op: what both executors walk.

``chant.plan.resolve_op`` checks a declared ``Op`` and resolves it (ids assigned,
profile names replaced by full profiles). ``Plan.of`` turns that resolved Op into a
``Plan``: phases of ``PlannedStep``s whose ids are strings and whose timings are
numbers (seconds), parsed once. Nothing downstream re-checks what the planner
guaranteed, and nothing re-parses a duration string.

The IR that ``chant build`` writes and a Temporal workflow receives stays the declared
form (``Op.to_dict``); a Plan is always derived from it, in the workflow too, so it is
pure: no clock, no file, no environment. (Named tuples rather than dataclasses: every
``chant run`` defines these classes, and a frozen dataclass costs about a millisecond.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from chant.errors import IRError
from chant.ir import (
    JSON,
    ActivityStep,
    Arg,
    GateStep,
    Op,
    Outcome,
    Phase,
    Profile,
    Retry,
    Step,
    args_to_json,
)
from chant.profiles import parse_duration
from chant.refs import dynamic
from chant.secrets import secret_names


class RetryPlan(NamedTuple):
    """A retry policy in numbers: Temporal's ``RetryPolicy`` fields, in seconds."""

    max_attempts: int
    """Attempts in all, the first included; 0 means unlimited."""
    initial_interval: float
    backoff_coefficient: float
    maximum_interval: float
    """The cap on any wait (100 × ``initial_interval`` when the profile gives none)."""
    maximum_interval_given: bool
    non_retryable_error_types: tuple[str, ...]

    @classmethod
    def of(cls, retry: Retry) -> RetryPlan:
        initial = parse_duration(retry.initial_interval)
        given = retry.maximum_interval is not None
        return cls(
            max_attempts=retry.max_attempts,
            initial_interval=initial,
            backoff_coefficient=float(retry.backoff_coefficient),
            maximum_interval=(
                parse_duration(retry.maximum_interval) if retry.maximum_interval else 100 * initial
            ),
            maximum_interval_given=given,
            non_retryable_error_types=tuple(retry.non_retryable_error_types),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next.

        Temporal's formula: ``min(initial * coefficient ** (attempt - 1), maximum)``."""
        ceiling = self.maximum_interval
        try:
            wait = self.initial_interval * self.backoff_coefficient ** (attempt - 1)
        except OverflowError:  # e.g. 100 ** 2_000_000_000: far past any ceiling
            return float(ceiling)
        return float(min(wait, ceiling)) if not math.isnan(wait) else float(ceiling)

    def allows(self, attempt: int, error_type: str, non_retryable: bool) -> bool:
        """Whether a step whose attempt ``attempt`` failed with ``error_type`` gets another."""
        if non_retryable or error_type in self.non_retryable_error_types:
            return False
        return self.max_attempts == 0 or attempt < self.max_attempts


class Timing(NamedTuple):
    """A resolved profile in numbers; ``declared`` is the profile as the IR has it."""

    timeout: float
    """Seconds one attempt may run (start-to-close)."""
    heartbeat_timeout: float | None
    retry: RetryPlan
    declared: Profile

    @classmethod
    def of(cls, profile: Profile) -> Timing:
        beat = profile.heartbeat_timeout
        return cls(
            timeout=parse_duration(profile.timeout),
            heartbeat_timeout=parse_duration(beat) if beat else None,
            retry=RetryPlan.of(profile.retry),
            declared=profile,
        )


class GatePlan(NamedTuple):
    signal: str
    timeout: float
    """Seconds to wait for the signal."""
    timeout_text: str
    """The timeout as declared (``"1h"``), for messages."""
    description: str


class PlannedStep(NamedTuple):
    """One step as the executors see it. Exactly one of ``timing`` (an activity step)
    and ``gate`` (a gate) is set."""

    id: str
    phase: str
    compensation: bool
    fn: str
    """The activity's name; ``"gate"`` for a gate."""
    args: Mapping[str, Arg]
    """The activity's arguments as declared (``Secret`` objects where secrets go)."""
    shown_args: Mapping[str, JSON]
    """The arguments events and records show (secrets as ``{"$secret": NAME}``)."""
    timing: Timing | None
    gate: GatePlan | None
    outcome: Outcome | None
    when: JSON = None
    """The step's condition (``chant.refs``), or None."""
    dynamic: bool = False
    """Whether ``args`` hold references, resolved just before the step starts."""


class PlannedPhase(NamedTuple):
    name: str
    parallel: bool
    fail_fast: bool
    max_concurrency: int | None
    compensation: bool
    steps: tuple[PlannedStep, ...]
    when: JSON = None
    """The phase's condition (``chant.refs``), or None."""


class Plan(NamedTuple):
    """A resolved Op, ready to run: its phases, its on_failure phases and its secrets."""

    op: Op
    """The resolved Op in its declared (IR) form."""
    phases: tuple[PlannedPhase, ...]
    on_failure: tuple[PlannedPhase, ...]
    secrets: tuple[str, ...]
    """The name of every secret the Op uses (values are never part of a plan)."""

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def steps(self) -> tuple[PlannedStep, ...]:
        """Every step, main phases first, in declared order."""
        return tuple(s for p in (*self.phases, *self.on_failure) for s in p.steps)

    @property
    def gates(self) -> tuple[PlannedStep, ...]:
        return tuple(s for s in self.steps if s.gate is not None)

    @classmethod
    def of(cls, op: Op) -> Plan:
        """The plan of ``op``, which ``chant.plan.resolve_op`` (or ``check_ir``) has
        checked: raises ``IRError`` for a step left unresolved."""
        timings: dict[int, Timing] = {}  # by id(profile): steps share their profile's
        return cls(
            op=op,
            phases=tuple(_phase(p, False, timings) for p in op.phases),
            on_failure=tuple(_phase(p, True, timings) for p in op.on_failure),
            secrets=tuple(secret_names(op)),
        )


def _phase(phase: Phase, compensation: bool, timings: dict[int, Timing]) -> PlannedPhase:
    return PlannedPhase(
        name=phase.name,
        parallel=phase.parallel,
        fail_fast=phase.fail_fast,
        max_concurrency=phase.max_concurrency,
        compensation=compensation,
        steps=tuple(_step(s, phase.name, compensation, timings) for s in phase.steps),
        when=phase.when,
    )


def _step(step: Step, phase: str, compensation: bool, timings: dict[int, Timing]) -> PlannedStep:
    if not isinstance(step.id, str):
        raise IRError(f'a step of phase "{phase}" has no id: resolve the Op before planning it')
    if isinstance(step, GateStep):
        gate = GatePlan(
            signal=step.signal,
            timeout=parse_duration(step.timeout),
            timeout_text=step.timeout,
            description=step.description,
        )
        shown: Mapping[str, JSON] = {"signal": step.signal, "timeout": step.timeout}
        return PlannedStep(
            id=step.id,
            phase=phase,
            compensation=compensation,
            fn="gate",
            args={},
            shown_args=shown,
            timing=None,
            gate=gate,
            outcome=None,
            when=step.when,
        )
    if not isinstance(step, ActivityStep) or not isinstance(step.profile, Profile):
        raise IRError(f'step "{step.id}" has no resolved profile: resolve the Op first')
    shown_json = args_to_json(step.args)
    timing = timings.get(id(step.profile))
    if timing is None:
        timing = timings[id(step.profile)] = Timing.of(step.profile)
    return PlannedStep(
        id=step.id,
        phase=phase,
        compensation=compensation,
        fn=step.fn,
        args=step.args,
        shown_args=dict(shown_json) if isinstance(shown_json, Mapping) else {},
        timing=timing,
        gate=None,
        outcome=step.outcome,
        when=step.when,
        dynamic=dynamic(step.args),
    )
