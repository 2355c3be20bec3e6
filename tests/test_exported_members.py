"""Each package's __init__ exports exactly its public names (like httpx's test of the same name)."""

import importlib
import types

import pytest

PACKAGES = ["kefu", "kefu.faq", "kefu.store", "kefu.server", "kefu.reports"]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_name(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        member
        for member, value in vars(module).items()
        if not member.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert {n for n in module.__all__ if not n.startswith("_")} == public
