"""Targets for the trained A-Z sorter (issue 14): every seed >= 99.5% at lengths 1-16 and >= 98% at 17-32.

The same script as benchmarks/sort_train.py with --vocab A-Z (so `make bench` runs both targets);
extra arguments (--seeds, --set KEY=VALUE, --recipe old, --threads) pass through. Seeds 0, 1 and 2,
softmax and T = 0 decoding, training times; the last line is one JSON object.
"""

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.argv = [sys.argv[0], "--vocab", "A-Z", *sys.argv[1:]]
    runpy.run_path(str(Path(__file__).with_name("sort_train.py")), run_name="__main__")
