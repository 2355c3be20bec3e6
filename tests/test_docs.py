"""The documents describe every frame, event and setting the code knows."""

import re
import typing
from pathlib import Path

from kefu.server import frames, wire
from kefu.settings import Settings
from kefu.store.events import Event

ROOT = Path(__file__).parent.parent
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")


def documented(name: str) -> bool:
    return re.search(rf"\| `{re.escape(name)}`", PROTOCOL) is not None


def literal_types(module: object) -> set[str]:
    out = set()
    for value in vars(module).values():
        hints = getattr(value, "__annotations__", {})
        kind = hints.get("type") if isinstance(hints, dict) else None
        if kind is not None and typing.get_origin(kind) is typing.Literal:
            out.update(typing.get_args(kind))
    return out


def test_every_outbound_frame_type_is_documented() -> None:
    sent = {"shopper", "agent", "bot", "message", "typing"}  # built by wire's frame functions
    for module in (wire.common, wire.shopper, wire.agent):
        sent |= literal_types(module)
    missing = sorted(t for t in sent if not documented(t))
    assert missing == []


def test_every_inbound_frame_type_is_documented() -> None:
    missing = sorted(t for t in literal_types(frames) if not documented(t))
    assert missing == []


def test_every_event_is_documented() -> None:
    union = typing.get_args(typing.get_args(Event)[0])
    kinds = {model.model_fields["event"].default for model in union}
    assert sorted(k for k in kinds if not documented(k)) == []


def test_every_setting_is_documented() -> None:
    """docs/deployment.md and the README name every KEFU_… variable (the limits among them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")
    )
    missing = [name for name in Settings.model_fields if f"KEFU_{name.upper()}" not in text]
    assert missing == []
