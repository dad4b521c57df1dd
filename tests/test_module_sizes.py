"""No module of the package is over 400 lines: a module that grows past it mixes concerns and is
split along them (a package of modules, as qcpt/pretrain/store/ and qcpt/corpus/irds/)."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

MAX_LINES = 400


def oversized(root: Path, limit: int = MAX_LINES) -> list[str]:
    """``"<path> (<lines> lines)"`` for every ``.py`` file under ``root`` longer than ``limit``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append(f"{path.relative_to(root.parent)} ({lines} lines)")
    return found


def test_no_package_module_is_over_400_lines():
    found = oversized(ROOT / "qcpt")
    assert not found, f"modules over {MAX_LINES} lines (split them along their concerns):\n  " + "\n  ".join(found)


def test_the_check_names_every_long_module(tmp_path):
    package = tmp_path / "qcpt"
    (package / "sub").mkdir(parents=True)
    (package / "short.py").write_text("x = 1\n" * MAX_LINES)
    (package / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (package / "sub" / "longer.py").write_text("x = 1\n" * 900)
    assert oversized(package) == ["qcpt/long.py (401 lines)", "qcpt/sub/longer.py (900 lines)"]
