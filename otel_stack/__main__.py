"""The `otel-stack` command (`python -m otel_stack`): up, load, verify, alerts, tools, renders.

The parser is `otel_stack.cli.parsers`, the subcommands `otel_stack.cli.commands`.
Exit codes: 0 on success, 1 when something failed at run time (a service did
not start, a contract check failed), 2 for unusable arguments (argparse's
convention), each with a one-line message on stderr and never a traceback.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence

from otel_stack.cli.commands import UsageError
from otel_stack.cli.console import Console
from otel_stack.cli.parsers import build_parser
from otel_stack.harness.load import LoadConfigError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run one subcommand, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    console = Console()
    command: Callable[[argparse.Namespace, Console], int] = args.command
    try:
        return command(args, console)
    except (UsageError, LoadConfigError) as error:
        console.error(f"otel-stack {args.subcommand}: error: {error}")
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
