"""Summary table over metrics files (see qcpt.summary)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qcpt.summary import main

    raise SystemExit(main())
