"""`kefu orders import SHOP FILE`: orders from a shop's export (CSV or JSON lines), for a shop
without a live feed to the orders API. Every row is validated before any is stored; stored
the way the API stores them (idempotent by id and version, never backwards)."""

from __future__ import annotations

import argparse
import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from kefu.errors import KefuError
from kefu.ids import valid_shop_id
from kefu.store.commerce import Commerce, Order
from kefu.store.scripts import Scripts
from kefu.store.shops import ShopStore, shop_exists

__all__ = ["add_orders_commands", "read_orders"]

# CSV columns besides Order's own fields: `items` is a JSON array, or one item's title.
_OPTIONAL = ("paid_at", "shipped_at", "delivered_at", "courier", "tracking_number", "currency")


def add_orders_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    orders = commands.add_parser("orders", help="a shop's orders (the orders API's offline twin)")
    orders_commands = orders.add_subparsers(dest="orders_command", required=True, metavar="COMMAND")
    imp = orders_commands.add_parser(
        "import",
        help="import orders from a CSV or JSON-lines export",
        description="Columns (CSV) or keys (JSON lines): id, customer_id, version, status, amount, "
        "created_at, and optionally currency, paid_at, shipped_at, delivered_at, courier, "
        "tracking_number, items (a JSON array of {title, quantity, price, product_id}, or in CSV "
        "one item's title). Times are ISO 8601 with a time zone.",
    )
    imp.add_argument("shop")
    imp.add_argument("file", type=Path)
    imp.set_defaults(handler=_import)


def _row(data: dict[str, Any]) -> dict[str, Any]:
    """A CSV row as an order: empty cells left out, `items` parsed."""
    row: dict[str, Any] = {k: v for k, v in data.items() if k and v not in (None, "")}
    items = row.get("items")
    if isinstance(items, str):
        text = items.strip()
        row["items"] = orjson.loads(text) if text.startswith("[") else [{"title": text}]
    return row


def read_orders(text: str, *, name: str) -> list[Order]:
    """Every order of an export, or a KefuError naming each bad line (nothing half-read)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    if name.endswith((".jsonl", ".ndjson", ".json")):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((number, orjson.loads(line)))
                except orjson.JSONDecodeError as exc:
                    problems.append(f"line {number}: not JSON ({exc})")
    else:
        reader = csv.DictReader(io.StringIO(text))
        try:
            columns = reader.fieldnames or []
            # DictReader keeps the last of two same-named columns: the other would be dropped
            # unsaid. (Unnamed ones, the blank trailing columns spreadsheets write, are not read.)
            problems.extend(
                f"line 1: column {c} appears {columns.count(c)} times"
                for c in dict.fromkeys(columns)
                if c and columns.count(c) > 1
            )
            for data in reader:
                # The line the row begins on: blank lines are skipped, a quoted cell may span lines.
                number = reader.line_num - sum(v.count("\n") for v in data.values() if isinstance(v, str))
                try:
                    rows.append((number, _row(data)))
                except orjson.JSONDecodeError:
                    problems.append(f"line {number}: items is not a JSON array")
        except csv.Error as exc:  # a field over the csv module's limit, for one
            problems.append(f"line {reader.line_num + 1}: not readable as CSV ({exc})")
    orders: list[Order] = []
    for number, data in rows:
        try:
            orders.append(Order.model_validate(data))
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
            problems.append(f"line {number}: {fields}")
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise KefuError("nothing imported:\n  " + "\n  ".join(problems[:20]) + more)
    return orders


def _import(args: argparse.Namespace) -> int:
    from kefu.server.cli import run_command

    shop = args.shop
    if not valid_shop_id(shop):
        raise KefuError(f"invalid shop id {shop!r}")
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise KefuError(f"cannot read {args.file}: {exc.strerror}") from None
    orders = read_orders(text, name=args.file.name)

    async def command(redis: Redis) -> None:
        if not await shop_exists(redis, shop):
            raise KefuError(f"no shop {shop!r}")
        config = await ShopStore(redis, shop).config()
        commerce = Commerce(redis, Scripts(redis), shop)
        results = Counter([(await commerce.put_order(order, config)).result for order in orders])
        summary = ", ".join(
            f"{results[r]} {r}" for r in ("created", "updated", "stale", "conflict") if results[r]
        )
        print(f"{shop}: {len(orders)} order versions read: {summary}")

    return run_command(command)
