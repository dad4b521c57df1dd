"""The one command-line entry point: `python scripts/qcpt.py <command> [arguments]`.

The commands and the module each runs are the table in qcpt/cli.py (docs/artifacts.md lists them
with their arguments); the repository root goes on the path, so the package is found from a
checkout without installing it.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qcpt.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
