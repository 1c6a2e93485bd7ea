"""Schedules: a 5-field cron expression or ``every <duration>``, checked before any
server sees them."""

from __future__ import annotations

from chant.profiles import parse_duration

SCHEDULE_HELP = (
    'write a 5-field cron expression such as "*/5 * * * *" or "0 3 * * MON-FRI" '
    '(minute hour day-of-month month day-of-week), or an interval such as "every 1h"'
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def parse_schedule(text: object) -> float | None:
    """Check an Op's ``schedule``: the seconds between runs for ``every <duration>``
    (at least 1s), None for a 5-field cron expression. Raises ``ValueError`` saying
    what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("it is neither a cron expression nor an interval")
    words = text.split()
    if words[0] == "every":
        if len(words) != 2:
            raise ValueError('an interval is "every" and one duration, like "every 1h"')
        seconds = parse_duration(words[1])  # its ValueError names the accepted units
        if seconds < 1:
            raise ValueError("the interval is shorter than 1s")
        return seconds
    if len(words) != len(_CRON_FIELDS):
        fields = f"{len(words)} field{'s' if len(words) > 1 else ''}"
        raise ValueError(f"it has {fields}, but a cron expression has 5")
    for word, field in zip(words, _CRON_FIELDS, strict=True):
        why = _cron_field_problem(word, *field)
        if why:
            raise ValueError(why)
    return None


def _cron_field_problem(
    word: str, what: str, low: int, high: int, names: tuple[str, ...]
) -> str | None:
    """What is wrong with one cron field (``*``, ``5``, ``1-5``, ``*/15``, ``MON,WED``)."""
    for part in word.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) >= 1):
            return f'{what} "{word}": the step after / must be a whole number of at least 1'
        if span == "*":
            continue
        ends = span.split("-")
        if len(ends) > 2 or not all(ends):
            return f'{what} "{word}": "{part}" is not *, a value or a range a-b'
        for end in ends:
            if end.upper() in names:
                continue
            if not end.isdigit():
                named = f" or a name ({'/'.join(names[:2])}/…)" if names else ""
                return f'{what} "{word}": "{end}" is not a number{named}'
            if not low <= int(end) <= high:
                return f'{what} "{word}": {end} is out of range {low}-{high}'
    return None
