"""``rnnkit`` CLI that honours RNNKIT_BENCH_SOURCE (a pinned rnnkit snapshot); used by memory.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: F401  (applies RNNKIT_BENCH_SOURCE)

from rnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
