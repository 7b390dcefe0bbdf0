"""Parameter distributions of a search space: parsed from YAML, sampled with numpy.

A distribution is written in YAML as a one-key mapping, kind -> arguments::

    {uniform: [low, high]}        float in [low, high]
    {loguniform: [low, high]}     float, log-uniform, 0 < low
    {quniform: [low, high, q]}    multiple of q in [low, high]; low and high multiples of q
    {qloguniform: [low, high, q]} the same, drawn log-uniformly, 0 < low
    {int: [low, high]}            integer in [low, high], both ends INCLUSIVE
    {log_int: [low, high]}        integer in [low, high] inclusive, log-uniform (sizes like 32..512)
    {choice: [a, b, ...]}         one of the listed scalars, equally likely

The fields ``kind``, ``low``, ``high``, ``q`` and ``choices`` are kept plain so that the
Ray Tune / Optuna adapters can map them one to one. Mind one difference when doing so:
``int`` and ``log_int`` are inclusive here (as Optuna's ``suggest_int``), while Ray's
``tune.randint`` / ``tune.lograndint`` exclude the upper bound, so pass ``high + 1`` to Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces.errors import SearchSpaceError

CONTINUOUS = ("uniform", "loguniform")
QUANTISED = ("quniform", "qloguniform")
INTEGER = ("int", "log_int")
KINDS = CONTINUOUS + QUANTISED + INTEGER + ("choice",)
LOG_KINDS = ("loguniform", "qloguniform", "log_int")
MAX_STEPS = 10**9  # a finer quantisation is a continuous range in all but name (and overflows)
EXAMPLES = {
    "uniform": "{uniform: [0.0, 0.5]}",
    "loguniform": "{loguniform: [0.03, 1.0]}",
    "quniform": "{quniform: [0.0, 1.0, 0.1]}",
    "qloguniform": "{qloguniform: [8, 512, 8]}",
    "int": "{int: [0, 4]}",
    "log_int": "{log_int: [32, 512]}",
    "choice": "{choice: [32, 64, 128]}",
}


def format_value(value: Any) -> str:
    """Numbers as YAML would show them (0.03, 1e-05, 64), everything else by repr."""
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _finite(value: int | float) -> bool:
    """Finite and small enough that float arithmetic on it is exact for integers (|x| <= 2**53)."""
    if isinstance(value, int):
        return abs(value) <= 2**53
    return math.isfinite(value) and abs(value) <= 2.0**53


def _is_multiple(value: float, q: float) -> bool:
    ratio = value / q
    return abs(ratio - round(ratio)) <= 1e-9 * max(1.0, abs(ratio))


@dataclass(frozen=True)
class Distribution:
    """One searched parameter: ``kind`` in KINDS, bounds for ranges, ``choices`` for choice.

    Construction validates the arguments (raising SearchSpaceError), so every instance
    can be sampled. Integer kinds, and quantised kinds whose low, high and q are all
    integers, sample Python ints; the others sample Python floats.
    """

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    q: float | int | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SearchSpaceError(f"unknown distribution {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.kind == "choice":
            self._check_choices()
        else:
            self._check_range()

    def _check_choices(self) -> None:
        if self.low is not None or self.high is not None or self.q is not None:
            raise SearchSpaceError("choice takes only its list of values, no low/high/q")
        if not isinstance(self.choices, tuple) or not self.choices:
            raise SearchSpaceError(f"choice needs a non-empty list of values, e.g. {EXAMPLES['choice']}")
        for value in self.choices:
            # Optuna's categorical distribution holds only these; they also print and compare cleanly.
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise SearchSpaceError(f"choice values must be numbers, strings, booleans or null, got {value!r}; "
                                       "put structured values in base instead")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not _finite(value):
                raise SearchSpaceError(f"choice values must be finite numbers (|x| <= 2**53), got {value!r}")
        seen: list[Any] = []
        for value in self.choices:
            # `1 == 1.0 == True` in Python: compare type and value, so [1, true] is not a duplicate.
            if any(type(value) is type(other) and value == other for other in seen):
                raise SearchSpaceError(f"choice lists {format_value(value)} twice; a duplicate doubles its chance")
            seen.append(value)

    def _check_range(self) -> None:
        if self.choices:
            raise SearchSpaceError(f"{self.kind} takes low/high bounds, not choices")
        bounds = {"low": self.low, "high": self.high}
        if self.kind in QUANTISED:
            bounds["q"] = self.q
        elif self.q is not None:
            raise SearchSpaceError(f"{self.kind} takes no q; use {'quniform' if self.kind == 'uniform' else 'qloguniform'}")
        for name, value in bounds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
                raise SearchSpaceError(f"{self.kind} {name} must be a finite number (|x| <= 2**53), got {value!r}")
            if self.kind in INTEGER and not isinstance(value, int):
                raise SearchSpaceError(f"{self.kind} {name} must be an integer, got {value!r}")
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]  # numbers, checked above
        if not low < high:
            raise SearchSpaceError(f"{self.kind} needs low < high, got low={format_value(self.low)} high={format_value(self.high)}; "
                                   "put a fixed value in base instead of a range")
        if self.kind in LOG_KINDS and low <= 0:
            linear = {"loguniform": "uniform", "qloguniform": "quniform", "log_int": "int"}[self.kind]
            raise SearchSpaceError(f"{self.kind} needs low > 0 (a log scale cannot reach 0), got low={format_value(self.low)}; "
                                   f"raise low, or use {linear}")
        if self.kind in QUANTISED:
            q = float(self.q)  # type: ignore[arg-type]
            if q <= 0:
                raise SearchSpaceError(f"{self.kind} needs a step q > 0, got q={format_value(self.q)}")
            if (high - low) / q > MAX_STEPS:
                raise SearchSpaceError(f"{self.kind} step q={format_value(self.q)} cuts [low, high] into more than "
                                       f"{MAX_STEPS:.0e} steps; use a larger q, or {self.kind[1:]} without a step")
            for name, value in (("low", self.low), ("high", self.high)):
                # Ray rounds draws to multiples of q, Optuna steps from low by q: they agree only
                # when both ends are multiples of q.
                if not _is_multiple(float(value), q):  # type: ignore[arg-type]
                    raise SearchSpaceError(f"{self.kind} {name}={format_value(value)} is not a multiple of q={format_value(q)}; "
                                           "make low and high multiples of q")

    # ------------------------------------------------------------------ queries

    @property
    def is_log(self) -> bool:
        return self.kind in LOG_KINDS

    @property
    def samples_ints(self) -> bool:
        """True when samples are Python ints (int, log_int, or quantised with integer low/high/q)."""
        if self.kind in INTEGER:
            return True
        return self.kind in QUANTISED and all(isinstance(v, int) for v in (self.low, self.high, self.q))

    def probe_values(self) -> tuple[Any, ...]:
        """The extreme values a trial can get: (low, high) for ranges, every choice for choice.

        Config checks are ranges and one-sided limits, so a range whose ends give valid
        configs gives valid configs everywhere in between.
        """
        if self.kind == "choice":
            return self.choices
        if self.samples_ints:
            return (int(self.low), int(self.high))  # type: ignore[arg-type]
        return (float(self.low), float(self.high))  # type: ignore[arg-type]

    def contains(self, value: Any) -> bool:
        """Whether a trial of this distribution can get ``value`` (type and range; quantised: on a step)."""
        if self.kind == "choice":
            return any(type(value) is type(choice) and value == choice for choice in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            return False
        if self.samples_ints and not isinstance(value, int):
            return False
        if not float(self.low) <= float(value) <= float(self.high):  # type: ignore[arg-type]
            return False
        return self.kind not in QUANTISED or _is_multiple(float(value), float(self.q))  # type: ignore[arg-type]

    def describe(self) -> str:
        """One line, e.g. ``loguniform(0.03, 1)`` or ``int[0, 4]`` or ``choice(32, 64, 128)``."""
        if self.kind == "choice":
            return f"choice({', '.join(format_value(v) for v in self.choices)})"
        if self.kind in INTEGER:
            return f"{self.kind}[{format_value(self.low)}, {format_value(self.high)}]"
        if self.kind in QUANTISED:
            return f"{self.kind}({format_value(self.low)}, {format_value(self.high)}, q={format_value(self.q)})"
        return f"{self.kind}({format_value(self.low)}, {format_value(self.high)})"

    def to_yaml(self) -> dict[str, list[Any]]:
        """The YAML spelling, ``{kind: [args]}``; ``parse_distribution`` reads it back."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        args = [self.low, self.high] + ([self.q] if self.kind in QUANTISED else [])
        return {self.kind: args}

    # ------------------------------------------------------------------ sampling

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value (a Python scalar, never a numpy one) with ``rng``."""
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        low, high = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.kind == "uniform":
            return float(rng.uniform(low, high))
        if self.kind == "loguniform":
            return min(max(float(math.exp(rng.uniform(math.log(low), math.log(high)))), low), high)
        if self.kind == "int":
            return int(rng.integers(int(low), int(high) + 1))
        if self.kind == "log_int":
            # floor of a log-uniform draw over [low, high + 1) gives each integer its log-width share.
            x = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
            return min(max(int(math.floor(x)), int(low)), int(high))
        x = rng.uniform(low, high) if self.kind == "quniform" else \
            math.exp(rng.uniform(math.log(low), math.log(high)))
        return self._quantise(x)

    def _quantise(self, x: float) -> int | float:
        q = float(self.q)  # type: ignore[arg-type]
        steps = round(x / q)
        lo_steps, hi_steps = round(float(self.low) / q), round(float(self.high) / q)  # type: ignore[arg-type]
        steps = min(max(steps, lo_steps), hi_steps)
        if self.samples_ints:
            return int(steps) * int(self.q)  # type: ignore[arg-type]
        # steps * q carries float noise (3 * 0.1 = 0.30000000000000004); 12 significant digits drop it.
        return float(f"{steps * q:.12g}")


def _as_number(value: Any) -> Any:
    """Accept numeric strings as numbers: quoted bounds (``["1e-3", 0.1]``) and spaces built
    in code; the space loader already reads a bare ``1e-3`` as a number."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return value
    return value


def parse_distribution(raw: Any) -> Distribution:
    """``{loguniform: [0.03, 1.0]}`` -> ``Distribution('loguniform', 0.03, 1.0)``.

    Raises SearchSpaceError (without the key; the caller adds it) naming the problem and
    showing the right spelling.
    """
    if not isinstance(raw, dict) or len(raw) != 1:
        raise SearchSpaceError(
            f"a distribution is a one-key mapping such as {EXAMPLES['loguniform']} or {EXAMPLES['choice']}, "
            f"got {raw!r}; put fixed values in base")
    (kind, args), = raw.items()
    if kind not in KINDS:
        raise SearchSpaceError(f"unknown distribution {kind!r}; use one of {', '.join(KINDS)}")
    if not isinstance(args, list):
        raise SearchSpaceError(f"{kind} takes a list, e.g. {EXAMPLES[kind]}, got {args!r}")
    if kind == "choice":
        return Distribution("choice", choices=tuple(args))
    arity = 3 if kind in QUANTISED else 2
    if len(args) != arity:
        names = "[low, high, q]" if arity == 3 else "[low, high]"
        raise SearchSpaceError(f"{kind} takes {names}, e.g. {EXAMPLES[kind]}, got {len(args)} values {args!r}")
    numbers = [_as_number(v) for v in args]
    if kind in INTEGER:
        # 8.0 from YAML is an integer bound in spirit; 8.5 is refused by the constructor.
        numbers = [int(v) if isinstance(v, float) and v.is_integer() else v for v in numbers]
    elif kind in CONTINUOUS:
        numbers = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in numbers]
    if arity == 3:
        return Distribution(kind, numbers[0], numbers[1], numbers[2])
    return Distribution(kind, numbers[0], numbers[1])
