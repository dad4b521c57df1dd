"""``python -m qcpt <command>``: the user-facing commands (the jobs' commands are scripts/qcpt.py's).

A command is one row of :data:`SUBCOMMANDS`, ``name -> (module, function, summary)``; the function
takes the arguments after the name. The module is imported only when its command runs.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "why": ("qcpt.rerun_reasons", "main", "per rule, how many jobs a run would start and why (snakemake -n, summed)"),
    "data": ("qcpt.inputs", "main", "list, check (--check) or download (--fetch) a config's external inputs"),
    "plan": ("qcpt.plan", "main", "jobs, GPU-hours, SLURM submissions and claim power of a config, before it runs"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = [f"  {name:<{width}}  {summary}" for name, (_, _, summary) in SUBCOMMANDS.items()]
    return "usage: python -m qcpt <command> [arguments]   (python -m qcpt <command> --help)\n\ncommands:\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name = argv[0]
    if name not in SUBCOMMANDS:
        print(f"python -m qcpt: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = SUBCOMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
