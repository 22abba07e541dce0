"""PolicyLab: executable, testable, explorable system-dynamics models of policy systems.

``Model`` and ``load`` are imported on first use (PEP 562), so that importing the package --
and so ``policylab --help`` and ``--version`` -- does not load the whole engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from policylab.errors import PolicyLabError
from policylab.version import __version__

if TYPE_CHECKING:
    from policylab.api import Model, load

__all__ = ["Model", "PolicyLabError", "__version__", "load"]


def __getattr__(name: str) -> Any:
    if name in ("Model", "load"):
        from policylab import api

        return getattr(api, name)
    raise AttributeError(f"module 'policylab' has no attribute {name!r}")
