"""Target: a trained V=26 (A-Z) sorter on lengths <= 16 reaches >= 99% exact match at lengths 1-16.

The same script as benchmarks/sort_train.py with --v26 (so `make bench` runs both targets); extra
arguments (--d-model, --steps, --seed, --threads) pass through. The last line is one JSON object.
"""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "--v26", *sys.argv[1:]]
    runpy.run_path(str(Path(__file__).with_name("sort_train.py")), run_name="__main__")
