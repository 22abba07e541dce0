"""PolicyLab: executable, testable, explorable system-dynamics models of policy systems."""

from policylab.api import Model, load
from policylab.errors import PolicyLabError
from policylab.version import __version__

__all__ = ["Model", "PolicyLabError", "__version__", "load"]
