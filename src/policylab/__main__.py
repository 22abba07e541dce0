"""``python -m policylab``: the same as the ``policylab`` command."""

from policylab.cli import main

main()
