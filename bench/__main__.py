"""`python -m bench [suites] --out DIR`: the same as `ltx bench` (ltx/bench)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ltx.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
