"""How a search trial ended: one typed value, decided once, read by the summary, the table and Optuna.

:func:`decide_outcome` turns what Tune recorded about a trial (its error, last result and
status) into a :class:`TrialOutcome`; ``trials.csv`` stores its parts as columns
(``outcome``, ``outcome_reason``, ``outcome_epoch``) beside the display text (``status``),
and :meth:`TrialOutcome.from_row` reads them back, so nothing parses the display text.
Tables written before those columns existed have only ``status``; :meth:`from_label` reads
that text, for those files alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping

from optuna.trial import TrialState

from ssl_core.eval.collapse_rule import collapse_reason

# Tune statuses of a trial the search did not get to finish (the driver was interrupted).
UNFINISHED_TUNE_STATUSES = ("RUNNING", "PENDING", "PAUSED")
COLUMNS = ("outcome", "outcome_reason", "outcome_epoch")


class Outcome(str, enum.Enum):
    COMPLETED = "completed"  # trained every epoch of the budget
    PRUNED = "pruned"  # stopped by ASHA below a rung's median
    COLLAPSED = "collapsed"  # stopped by the collapse rule (reason: which rule)
    FAILED = "failed"  # an error, a non-finite loss, out of memory (reason: what)
    INTERRUPTED = "interrupted"  # the search stopped before the trial finished (resume continues it)


# What the search told Optuna for each (trainables/optuna_search.py): stopped trials keep
# their partial score as an intermediate value, so they are PRUNED, not COMPLETE.
OPTUNA_STATES = {Outcome.COMPLETED: TrialState.COMPLETE, Outcome.PRUNED: TrialState.PRUNED,
                 Outcome.COLLAPSED: TrialState.PRUNED, Outcome.INTERRUPTED: TrialState.PRUNED,
                 Outcome.FAILED: TrialState.FAIL}


@dataclass(frozen=True)
class TrialOutcome:
    kind: Outcome
    reason: str = ""  # collapsed / failed: why, in a line
    epoch: int = 0  # epochs the trial trained

    @property
    def scored(self) -> bool:
        """Whether the trial's objective may rank it (failed trials' scores are not trusted)."""
        return self.kind is not Outcome.FAILED

    @property
    def optuna_state(self) -> TrialState:
        return OPTUNA_STATES[self.kind]

    def label(self) -> str:
        """The display text: ``completed``, ``pruned``, ``interrupted at epoch 3``, ``failed: ...``."""
        if self.kind is Outcome.INTERRUPTED:
            return f"interrupted at epoch {self.epoch}"
        return f"{self.kind.value}: {self.reason}" if self.reason else self.kind.value

    def columns(self) -> dict[str, Any]:
        """The ``trials.csv`` cells that store this outcome."""
        return {"outcome": self.kind.value, "outcome_reason": self.reason, "outcome_epoch": self.epoch}

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> "TrialOutcome":
        """Read back from a ``trials.csv`` row (its ``outcome*`` columns; old tables: ``status``)."""
        if row.get("outcome"):
            try:
                kind = Outcome(row["outcome"])
            except ValueError:
                raise ValueError(f"outcome {row['outcome']!r} is not one of "
                                 f"{', '.join(o.value for o in Outcome)}") from None
            epoch = row.get("outcome_epoch") or row.get("epochs") or "0"
            return cls(kind, row.get("outcome_reason") or "", int(float(epoch)))
        return cls.from_label(row.get("status", ""), int(float(row.get("epochs") or 0)))

    @classmethod
    def from_label(cls, text: str, epochs: int = 0) -> "TrialOutcome":
        """Parse a display label; only for tables written before the ``outcome`` columns."""
        head, _, reason = text.partition(":")
        word = (head.split() or [""])[0]
        try:
            kind = Outcome(word)
        except ValueError:
            raise ValueError(f"status {text!r}; expected completed, pruned, interrupted at epoch N, "
                             "collapsed: ... or failed: ...") from None
        if kind is Outcome.INTERRUPTED:
            number = head.split()[-1]
            return cls(kind, "", int(number) if number.isdigit() else epochs)
        return cls(kind, reason.strip(), epochs)


def decide_outcome(error: BaseException | str | None, metrics: Mapping[str, Any], tune_status: str | None,
                   full_epochs: int, grace_epochs: int, failure_key: str) -> TrialOutcome:
    """The outcome of one trial from what Tune kept of it.

    Args:
        error: the trial's error (Tune's ``Result.error``), if it raised.
        metrics: its last reported result.
        tune_status: Tune's status (TERMINATED, ERROR, or one of the unfinished ones).
        full_epochs: the budget's epochs per trial; fewer means stopped early.
        grace_epochs: the collapse rule's grace period (ASHA's).
        failure_key: the result key a trial reports its own failure under.
    """
    epoch = int(metrics.get("epoch", 0) or 0)
    if error is not None:
        return TrialOutcome(Outcome.FAILED, str(error).strip().splitlines()[-1][:160], epoch)
    if metrics.get(failure_key):
        return TrialOutcome(Outcome.FAILED, str(metrics[failure_key]), epoch)
    collapsed = collapse_reason(metrics, grace_epochs)
    if collapsed is not None:
        return TrialOutcome(Outcome.COLLAPSED, collapsed, epoch)
    if tune_status in UNFINISHED_TUNE_STATUSES:
        return TrialOutcome(Outcome.INTERRUPTED, "", epoch)
    if epoch < full_epochs:
        return TrialOutcome(Outcome.PRUNED, "", epoch)
    return TrialOutcome(Outcome.COMPLETED, "", epoch)
