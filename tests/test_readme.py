"""The README's two set-up commands stay the ones CI runs."""

import re

from conftest import ROOT


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_ci_runs_the_readme_test_command():
    readme_test = [line for line in _bash_blocks()[1].splitlines() if line and not line.startswith("#")]
    ci = (ROOT / ".ci" / "run").read_text()
    assert len(readme_test) == 1
    assert readme_test[0] in ci


def test_readme_demo_command_installs_and_runs_snakemake():
    demo = [line for line in _bash_blocks()[0].splitlines() if line and not line.startswith("#")]
    assert len(demo) == 1 and demo[0].startswith("pip install") and "snakemake --cores" in demo[0]
