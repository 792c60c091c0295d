"""``python -m hf_transfer ...`` is ``hf-transfer ...``."""

from hf_transfer.cli import main

if __name__ == "__main__":
    main()
