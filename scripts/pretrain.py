"""Pre-train an encoder (contrastive / cotmae / bottleneck); see qcpt/pretrain/driver.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qcpt.pretrain.driver import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
