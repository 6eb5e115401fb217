"""``python -m benchmarks NAME [--quick]``: run one benchmark, or ``all`` of them."""

from __future__ import annotations

import importlib
import sys

NAMES = (
    "e2e",
    "policy",
    "treatments",
    "audit",
    "search",
    "profile",
    "rss",
    "batches",
    "statistics",
)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(f"usage: python -m benchmarks {{{'|'.join(NAMES)}|all}} [--quick] [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    names = NAMES if name == "all" else (name,)
    for each in names:
        if each not in NAMES:
            print(
                f"unknown benchmark {each!r}; choose from {', '.join(NAMES)} or all",
                file=sys.stderr,
            )
            return 2
        module = importlib.import_module(f"benchmarks.{each}")
        module.main(rest)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
