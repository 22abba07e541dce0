"""PolicyLab's one exception tree.

::

    PolicyLabError(Exception)             every error a user can trigger
    ├── ModelFileError(ValueError)        a model file cannot be read or validated
    │   └── CheckError                    a validation check names something wrong (unknown variable, window outside the run...)
    ├── ExpressionError(ValueError)       an equation does not parse or names a bad call
    ├── UnknownNameError(KeyError)        an equation names a variable that does not exist
    ├── AlgebraicLoopError                auxiliaries depend on themselves within a step
    ├── UnitsError                        dimensional inconsistency (raised by ``check``)
    ├── SimulationError(ArithmeticError)  NaN/Inf or another failure while integrating
    ├── DataError(ValueError)             observed data or an analysis file (mapping) cannot be used
    ├── UsageError(ValueError)            an API or CLI call with bad arguments
    └── UnreadableFileError(ValueError)   a file is missing, not a regular file, or over its size limit

Every message names where the problem is (file, line, variable) and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# C0 and C1 controls but tab and newline, and the bidirectional overrides ("Trojan source")
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Location:
    """Where a piece of a model was written: file and 1-based line (0 when unknown)."""

    file: str = "<string>"
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class PolicyLabError(Exception):
    """Base class of every error PolicyLab raises on bad input."""


class ModelFileError(PolicyLabError, ValueError):
    """A model file cannot be parsed or validated."""


class CheckError(ModelFileError):
    """A check of the model's ``checks:`` section cannot be evaluated as written (``policylab validate``)."""


class ExpressionError(PolicyLabError, ValueError):
    """An equation cannot be parsed, or calls a builtin wrongly."""


class UnknownNameError(PolicyLabError, KeyError):
    """An equation names a variable the model does not define."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class AlgebraicLoopError(PolicyLabError):
    """Auxiliaries or flows depend on each other within one time step."""


class UnitsError(PolicyLabError):
    """Declared units are inconsistent with an equation."""


class SimulationError(PolicyLabError, ArithmeticError):
    """The integration failed (e.g. a variable became NaN or infinite)."""


class DataError(PolicyLabError, ValueError):
    """Observed data, or a file an analysis reads (e.g. a calibration mapping), is unusable."""


class UsageError(PolicyLabError, ValueError):
    """A function or command was called with arguments it cannot accept."""


class UnreadableFileError(PolicyLabError, ValueError):
    """A file cannot be read: missing, not a regular file, or over its size limit."""


def unprintable(text: str) -> str | None:
    """The first character of ``text`` that would act on a terminal instead of printing, if any."""
    found = _UNPRINTABLE.search(text)
    return found.group() if found else None


def printable(text: str) -> str:
    """``text`` with terminal control characters shown as escapes, so printing it cannot drive the terminal."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
