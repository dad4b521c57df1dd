"""Report: the papers' tables and figures, ours beside theirs (see qcpt.report.build)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qcpt.report.build import main

    raise SystemExit(main())
