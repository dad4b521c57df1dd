"""Entry point: see qcpt/retrieval/finetune/ (docs/artifacts.md for the CLI)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from qcpt.retrieval.finetune import main

    raise SystemExit(main())
