"""Run every benchmark in bench/ (each prints ratios measured in one run; absolute times mean little)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).parent

if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}")
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:  # fix: each script ends with SystemExit(main()), which stopped the whole run
            if exc.code not in (0, None):
                raise
