"""Identifier types, drawn once: what a shop, FAQ, skill group or user name may look like.

Ids travel in URLs, Redis keys and CSS-free data attributes, so they are plain ASCII; what people
read (a group's "售前", a shop's name) is a separate display name in any script.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

__all__ = [
    "ID_PATTERN",
    "PATTERN_CODES",
    "CustomerId",
    "DisplayName",
    "ExternalId",
    "FaqId",
    "GroupName",
    "ShopId",
    "Username",
    "valid_shop_id",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
GROUP_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
USERNAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$"
# What a shop's own systems call a customer, an order or a product: numbers, e-mail addresses,
# UUIDs, "SO-2026-0042". Printable ASCII without spaces or key/URL separators beyond these.
EXTERNAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,127}$"

ShopId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
FaqId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN)]
ExternalId = Annotated[str, StringConstraints(pattern=EXTERNAL_PATTERN)]
CustomerId = ExternalId
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]

# A pattern mismatch reported by its meaning, so a form can say it in the reader's language.
PATTERN_CODES = {
    ID_PATTERN: "id_format",
    GROUP_PATTERN: "group_format",
    USERNAME_PATTERN: "username_format",
    EXTERNAL_PATTERN: "external_id_format",
}

_SHOP_ID = re.compile(ID_PATTERN)


def valid_shop_id(shop: str) -> bool:
    return bool(_SHOP_ID.match(shop))
