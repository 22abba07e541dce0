"""XMILE (OASIS standard) reader and writer: ``read_xmile(path) -> Model``, ``write_xmile(model) -> str``.

See ``docs/xmile.md`` for what is supported, how arrays and modules are flattened, the
repairs the reader makes to messy files, and the PolicyLab extension namespace.
"""

from policylab.formats.xmile.reader import XmileRepairWarning, read_xmile, read_xmile_bytes
from policylab.formats.xmile.writer import save_xmile, write_xmile

__all__ = ["XmileRepairWarning", "read_xmile", "read_xmile_bytes", "save_xmile", "write_xmile"]
