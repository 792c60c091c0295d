"""``python -m hf_transfer.cli`` is ``hf-transfer``."""

from . import main

main()
