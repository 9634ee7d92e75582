"""Rows of the stored dataclasses, shared by every backend: the fields are the columns.

The types in ``crowdsafe/types.py`` are the schema: each stored type's fields, in
declaration order, are its table's columns, so a backend never lists columns by hand
and a field added to a type without a column (or the reverse) fails the contract tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from enum import Enum
from operator import attrgetter
from types import UnionType
from typing import Any, Generic, TypeVar, cast, get_type_hints

from crowdsafe.types import Alert, AlertState, LineSample, ZoneRollup, ZoneSample

__all__ = [
    "ALERTS",
    "LINES",
    "ROLLUPS",
    "STORED_TYPES",
    "ZONES",
    "Codec",
    "alert_upsert",
    "check_limit",
    "state_values",
]

_Row = TypeVar("_Row", ZoneSample, LineSample, Alert, ZoneRollup)


class Codec(Generic[_Row]):
    """Rows of one stored dataclass: its fields are the columns, declared once.

    A field is written as its value (an enum as its string value, a ``bool`` as 0 or 1
    unless ``native_bool``: SQLite has no boolean, PostgreSQL does) and read back as its
    annotated type (``str``, ``int``, ``float``, ``bool``, an enum, or ``X | None``), so
    a sample read from the database equals the one written.
    """

    def __init__(self, cls: type[_Row], *, native_bool: bool = False) -> None:
        hints = get_type_hints(cls)
        self.cls: type[_Row] = cls
        self.names = tuple(f.name for f in fields(cls))
        self.columns = ", ".join(self.names)
        self.marks = ", ".join("?" * len(self.names))
        bases = [_base(hints[name]) for name in self.names]
        self._fix = tuple(
            (i, _decoder(hints[name]))
            for i, (name, b) in enumerate(zip(self.names, bases, strict=True))
            if issubclass(b, Enum) or b is bool
        )
        # Why by position: a batch of thousands of samples is encoded on the hot path
        # of every write, and one C-level attrgetter call per row plus a fix-up of the
        # few enum (and bool) columns is several times cheaper than a test per field.
        self._get = attrgetter(*self.names)
        self._enums = tuple(i for i, b in enumerate(bases) if issubclass(b, Enum))
        self._bools = () if native_bool else tuple(i for i, b in enumerate(bases) if b is bool)
        self.kinds: tuple[type, ...] = tuple(
            str if issubclass(b, Enum) else int if b is bool and not native_bool else b
            for b in bases
        )
        """Each column's value type as written: ``str`` (enums too), ``int``, ``float``
        or ``bool`` (``int`` unless ``native_bool``)."""

    def row(self, obj: _Row) -> tuple[Any, ...]:
        values: tuple[Any, ...] = self._get(obj)
        if not (self._enums or self._bools):
            return values
        out = list(values)
        for i in self._enums:  # a caller may give the plain string of a member
            if isinstance(out[i], Enum):
                # _value_, the member's own attribute: the .value property is a Python
                # call, made for two columns of every sample a city writes
                out[i] = out[i]._value_
        for i in self._bools:
            if isinstance(out[i], bool):
                out[i] = int(out[i])
        return tuple(out)

    def read(self, row: Sequence[Any]) -> _Row:
        # Why only some columns: a text, integer or double column comes back from both
        # drivers as the str, int or float it was written as (SQLite's REAL affinity
        # makes an integer a float), so only enums and booleans need turning back;
        # a 24-h chart at 1 min is 1,440 rows, and a call per field was most of its cost.
        if len(row) != len(self.names):
            raise ValueError(
                f"a {self.cls.__name__} row has {len(row)} columns, not {len(self.names)}"
            )
        if not self._fix:
            return self.cls(*row)
        values = list(row)
        for i, dec in self._fix:
            values[i] = dec(values[i])
        return self.cls(*values)


def _base(hint: Any) -> type:
    """The type of a field's values, ``X`` of ``X | None``."""
    if isinstance(hint, UnionType):
        (hint,) = (a for a in hint.__args__ if a is not type(None))
    if not isinstance(hint, type):
        raise TypeError(f"no column type for a field of type {hint!r}")
    return hint


def _decoder(hint: Any) -> Callable[[Any], Any]:
    """Turns a column value back into a field of type ``hint``."""
    if isinstance(hint, UnionType):
        (base,) = (a for a in hint.__args__ if a is not type(None))
        inner = _decoder(base)
        return lambda v: None if v is None else inner(v)
    if isinstance(hint, type) and issubclass(hint, Enum):
        enum = hint
        return lambda v: enum(str(v))
    if hint is bool:
        return lambda v: bool(int(v))
    if hint in (str, int, float):
        return cast("Callable[[Any], Any]", hint)
    raise TypeError(f"no column type for a field of type {hint!r}")


ZONES = Codec(ZoneSample)
LINES = Codec(LineSample)
ALERTS = Codec(Alert)
ROLLUPS = Codec(ZoneRollup)
STORED_TYPES: dict[str, type[ZoneSample | LineSample | Alert | ZoneRollup]] = {
    "zone_samples": ZoneSample,
    "line_samples": LineSample,
    "alerts": Alert,
    "zone_rollups_1m": ZoneRollup,
    "zone_rollups_1h": ZoneRollup,
}
"""Each table that holds a stored type, and that type: its fields are the columns."""


def check_limit(limit: int) -> int:
    """``limit`` of a read, which every backend refuses below 1 (ValueError)."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return limit


def state_values(states: Sequence[AlertState] | None) -> list[str]:
    """The stored values of the alert ``states`` a read asks for; None: every state."""
    return [s.value for s in (states or list(AlertState))]


def _rank(level: str) -> str:
    return f"CASE {level} WHEN 'advisory' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"


def alert_upsert(marks: str) -> str:
    """Inserts an alert or updates it by id, never moving its state backwards, on both
    backends.  Why: in a fleet the worker that owns a zone saves its alert on every
    sample while an operator acknowledges it through any API server; the worker learns of
    the acknowledgement a moment later (``NOTIFY crowdsafe_alert_state``), and a save in
    that moment must not turn "acknowledged" back into "open".  So an acknowledged alert
    stays acknowledged unless its level rises (an escalation must be seen again: the
    engine's own rule), its ``acknowledged_at`` is kept, and a resolved alert is final
    (the engine opens a new alert, with a new id, if the condition returns)."""
    keep_ack = (
        "alerts.state = 'acknowledged' AND excluded.state = 'open' "
        f"AND {_rank('excluded.level')} <= {_rank('alerts.level')}"
    )
    sets = []
    for name in ALERTS.names:
        if name == "id":
            continue
        if name == "state":
            sets.append(f"state = CASE WHEN {keep_ack} THEN 'acknowledged' ELSE excluded.state END")
        elif name == "acknowledged_at":
            sets.append(
                "acknowledged_at = COALESCE(excluded.acknowledged_at, alerts.acknowledged_at)"
            )
        else:
            sets.append(f"{name} = excluded.{name}")
    return (
        f"INSERT INTO alerts ({ALERTS.columns}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE "
        f"SET {', '.join(sets)} WHERE alerts.state <> 'resolved'"
    )
