"""Command line: ``python -m asha_nb demo [--simulated] [--workers N] [--trials N] [--dir D]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asha_nb")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a real ASHA search on sklearn's digits")
    demo.add_argument("--simulated", action="store_true", help="print a simulated run instead")
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--trials", type=int, default=30)
    demo.add_argument("--dir", default=None, help="journal folder (default: a temp folder)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from . import demo as d

        if args.simulated:
            d.simulated()
        else:
            d.main(args.dir, n_workers=args.workers, max_trials=args.trials)
    return 0


if __name__ == "__main__":
    sys.exit(main())
