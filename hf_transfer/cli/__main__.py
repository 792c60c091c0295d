"""``python -m hf_transfer.cli`` is ``hf-transfer``."""

from hf_transfer.cli import main

main()
