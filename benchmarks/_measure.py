"""Run a Python script or ``hf-transfer`` in this process, then print its peak resident memory.

    python benchmarks/_measure.py OUT.json -- script.py args...     # a plain script
    python benchmarks/_measure.py OUT.json -- hf-transfer args...   # the hf-transfer command

OUT.json receives {"wall_seconds", "peak_rss_bytes", "exit"}: wall from this process's start (imports
included) to the end of the command, and the process's peak RSS (ru_maxrss).
"""

from __future__ import annotations

import json
import os
import resource
import runpy
import sys
import time

START = time.perf_counter()


def main() -> None:
    out, sep, *command = sys.argv[1:]
    assert sep == "--", "usage: _measure.py OUT.json -- command ..."
    code = 0
    try:
        if command[0] == "hf-transfer":
            from hf_transfer.cli import main as cli

            cli(argv=command[1:])
        else:
            sys.argv = command
            sys.path.insert(0, os.path.dirname(os.path.abspath(command[0])))  # as `python script.py` does
            runpy.run_path(command[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    result = {
        "wall_seconds": round(time.perf_counter() - START, 2),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "exit": code,
    }
    with open(out, "w") as f:
        json.dump(result, f)
    sys.exit(code)


if __name__ == "__main__":
    main()
