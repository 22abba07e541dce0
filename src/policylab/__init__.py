"""PolicyLab: executable, testable, explorable system-dynamics models of policy systems."""

from policylab.api import Model, __version__, load
from policylab.errors import PolicyLabError

__all__ = ["Model", "PolicyLabError", "__version__", "load"]
