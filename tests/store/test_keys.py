"""keys.py owns every key name: the Lua scripts reach keys only through the generated `K`."""

import re
from importlib import resources

import pytest

from kefu.store.keys import ShopKeys, lua_keys
from kefu.store.scripts import SCRIPT_NAMES

LUA = ["prelude", *SCRIPT_NAMES]


def source(name: str) -> str:
    return resources.files("kefu.store").joinpath(f"lua/{name}.lua").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", LUA)
def test_scripts_build_no_key_name_of_their_own(name: str) -> None:
    text = source(name)
    # A key would be the prefix joined to something: only the generated table may do that.
    assert re.findall(r"\bP\s*\.\.", text) == []
    assert re.findall(r"ARGV\[1\]\s*\.\.", text) == []  # nor the raw prefix, under another name
    for member in re.findall(r"\bK\.([A-Za-z_]\w*)", text):
        assert member in vars(ShopKeys), f"{name}.lua uses K.{member}, which keys.py does not define"


def test_every_generated_key_is_exactly_the_python_one() -> None:
    """Evaluate the generated Lua (a tiny interpreter for its two forms) against ShopKeys."""
    keys = ShopKeys("shop-x")
    for line in lua_keys().splitlines()[1:]:
        if match := re.fullmatch(r"K\.(\w+) = P \.\. '(.*)'", line):
            assert getattr(keys, match[1]) == keys.prefix + match[2]
            continue
        match = re.fullmatch(r"function K\.(\w+)\(([\w, ]*)\) return (.*) end", line)
        assert match, line
        params = [p.strip() for p in match[2].split(",") if p.strip()]
        args = [f"arg{i}" for i in range(len(params))]
        built = ""
        for part in match[3].split(" .. "):
            if part == "P":
                built += keys.prefix
            elif part in params:
                built += args[params.index(part)]
            else:
                built += part.strip("'")
        assert getattr(keys, match[1])(*args) == built


def test_a_renamed_key_would_reach_the_scripts() -> None:
    """The generated table follows ShopKeys: what a member returns is what a script gets."""
    assert "function K.conversation(a0) return P .. 'conv:' .. a0 end" in lua_keys()
    assert "K.queues = P .. 'queues'" in lua_keys()
