"""bench/pretrain_ranks.py end to end on a few hundred passages: two ranks map one store and draw an
epoch each; the JSON says what each rank costs beyond its baseline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_share_the_store_and_report_their_memory(tmp_path):
    out = tmp_path / "ranks.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "pretrain_ranks.py"), "--passages", "400",
                    "--queries-per-passage", "3", "--ranks", "2", "--out", str(out), "--keep", str(tmp_path / "w")],
                   check=True, capture_output=True, text=True, timeout=600)
    result = json.loads(out.read_text())
    assert result["sizes"] == {"passages": 400, "queries_per_passage": 3, "ranks": 2}
    assert result["loader"] == "store" and result["order"] == "shuffled"
    assert sorted(r["rank"] for r in result["ranks"]) == [0, 1]
    assert len({r["pid"] for r in result["ranks"]}) == 2
    for rank in result["ranks"]:
        assert rank["examples"] == 400  # every synthetic passage has a pool: one epoch draws each once
        assert rank["characters_drawn"] > 400 * 45
        beyond = rank["beyond_baseline"]
        assert beyond["peak_rss"] >= 0 and rank["peak_rss"] >= rank["baseline"]["rss"]
        assert set(beyond["after_epoch"]) == {"rss", "pss", "shared", "private", "anonymous"}
        assert rank["store_trims"] >= 0
    assert result["build"]["store_bytes"] > result["inputs"]["passages_bytes"] // 2
    assert (tmp_path / "w" / "passages.jsonl.qcpt-store" / "passages.arrow").is_file()
    summary = result["summary"]
    assert summary["max_epoch_seconds"] == max(r["epoch_seconds"] for r in result["ranks"])
