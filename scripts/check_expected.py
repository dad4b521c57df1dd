"""Reference scores vs our metrics files (see qcpt.expected)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qcpt.expected import main

    raise SystemExit(main())
