"""``python -m qcpt <subcommand>``: the user-facing commands (the jobs' commands are scripts/qcpt.py's).

One line per subcommand in :data:`SUBCOMMANDS`: name -> (module, function taking argv, one-line help).
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("qcpt.inputs", "main", "list, check (--check) or download (--fetch) a config's external inputs"),
}


def usage() -> str:
    lines = ["usage: python -m qcpt <subcommand> [arguments]   (<subcommand> --help for its own)", "", "subcommands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, _, help_text) in sorted(SUBCOMMANDS.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in SUBCOMMANDS:
        print(f"python -m qcpt: unknown subcommand {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = SUBCOMMANDS[argv[0]]
    return getattr(importlib.import_module(module), func)(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
