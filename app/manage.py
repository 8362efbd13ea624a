#!/usr/bin/env python3
"""Development shim: same as the installed `preau-manage` console script."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from preau.manage import main  # noqa: E402

if __name__ == "__main__":
    main()
