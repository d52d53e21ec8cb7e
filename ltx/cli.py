"""The `ltx` command: parity, inspect, encode, generate, train, preprocess, bench."""

from __future__ import annotations

import argparse
import sys

from ltx import bench
from ltx.commands import encode, generate, inspect, parity, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ltx", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (parity, inspect, encode, generate, train, bench):
        command.add_parser(sub)
    train.add_preprocess_parser(sub)
    args = parser.parse_args(argv)
    from ltx.checkpoint import CheckpointError
    from ltx.config import ConfigError

    try:
        return args.run(args)
    except (CheckpointError, ConfigError, FileNotFoundError, ValueError) as e:  # bad input: a message, not a trace
        print(f"ltx {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
