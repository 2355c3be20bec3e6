"""The `kefu` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from redis.exceptions import RedisError

from kefu import __version__
from kefu.errors import KefuError
from kefu.faq.cli import add_faq_commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="kefu (客服): bot-plus-human support chat")
    parser.add_argument("--version", action="version", version=f"kefu {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    faq_commands = add_faq_commands(commands)
    # The server part (aiohttp, Redis) is imported only when the parser is built, not by kefu.faq.
    from kefu.reports.cli import add_qa_commands
    from kefu.server.cli import add_faq_import, add_server_commands
    from kefu.server.orders_cli import add_orders_commands

    add_faq_import(faq_commands)
    add_server_commands(commands)
    add_qa_commands(commands)
    add_orders_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KefuError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 1
    except (RedisError, ConnectionError) as exc:
        # Redis gone mid-command (before it, commands already say so in one line).
        print(f"kefu: Redis did not answer: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
