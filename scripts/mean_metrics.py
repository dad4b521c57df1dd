"""Entry point: see qcpt.retrieval.evaluate.mean_main (an evalset that is the mean of others)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qcpt.retrieval.evaluate import mean_main

    raise SystemExit(mean_main())
