"""Who a shopper is, as the shop's site says: a signed-in customer's id, display name and
`hash` = HMAC-SHA256(the shop's identity secret, id), computed on the shop's server — or, for a
claim that expires, HMAC-SHA256(secret, "id|exp") with `exp` in Unix seconds. The widget offers
them as the subprotocol `kefu.customer.<base64url of {"id","name","hash"[,"exp"]}>` (never in
the URL); a claim whose hash does not verify, that has expired, or that has no expiry where the
shop requires one is ignored — or refused, by the shop's setting."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Annotated

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, ValidationError

from kefu.errors import Forbidden, InvalidInput
from kefu.ids import CustomerId
from kefu.server.context import Context
from kefu.store.shops import ShopConfig

__all__ = ["CUSTOMER_PROTOCOL", "CustomerClaim", "offered_customer", "verified_customer"]

log = structlog.get_logger(__name__)

CUSTOMER_PROTOCOL = "kefu.customer."
# base64 of the longest valid claim (an id of 128, a name of 40 CJK characters, the hash, an
# expiry), with room to spare.
_MAX_OFFER = 600


class CustomerClaim(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: CustomerId
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
    # When the claim stops vouching for the customer (Unix seconds), signed with the id.
    exp: Annotated[StrictInt, Field(ge=0, le=2**53)] | None = None


def offered_customer(request: web.Request) -> CustomerClaim | None:
    """The customer claim a shopper's socket offers, if any (400 for a malformed one)."""
    for offered in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        offered = offered.strip()
        if not offered.startswith(CUSTOMER_PROTOCOL):
            continue
        encoded = offered[len(CUSTOMER_PROTOCOL) :]
        if len(encoded) > _MAX_OFFER:
            raise InvalidInput("the customer claim is too long", code="invalid_customer")
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            return CustomerClaim.model_validate(orjson.loads(raw))
        except (binascii.Error, ValueError, ValidationError):
            raise InvalidInput(
                "the customer claim is base64url of JSON {id, name, hash, exp (optional)}",
                code="invalid_customer",
            ) from None
    return None


async def verified_customer(
    ctx: Context, request: web.Request, shop: str, config: ShopConfig, client: str
) -> tuple[str, str] | None:
    """(id, name) of the signed-in customer the socket claims to be, if the hash verifies, the
    claim has not expired and carries an expiry where the shop requires one. A hash that does
    not verify counts against the client's budget of new sessions (429 past it): guessing
    hashes, or flooding the log with them, is as dear as opening sessions."""
    claim = offered_customer(request)
    if claim is None:
        return None
    problem = await _claim_problem(ctx, shop, config, claim)
    if problem is None:
        return claim.id, claim.name
    ctx.metrics.unverified_customers.labels(shop, problem).inc()
    if problem == "hash":
        # Only a hash that does not verify could be a guess; the shop's own claims that ran out
        # (tabs left open overnight, all reconnecting at once behind one office address) are not.
        await ctx.limits(shop).take(
            "claims",
            client,
            limit=ctx.settings.sessions_per_client_per_min,
            window_s=60,
            message="too many sign-ins that did not verify from your network; try again in a minute",
        )
    # A wrong hash may be a guess: a warning. A claim that ran out (or has no expiry where one
    # is required) is the shop's page being stale: routine, and free of the budget, so a line
    # at info — one per socket opened, as `shopper_connected` is.
    (log.warning if problem == "hash" else log.info)(
        "customer_unverified", shop=shop, customer_id=claim.id, reason=problem
    )
    if config.commerce.refuse_unverified:
        if problem == "expired":
            raise Forbidden(
                "the signed-in customer's claim has expired; the shop's page must sign a new one",
                code="customer_claim_expired",
            )
        raise Forbidden(
            "this shop only accepts signed-in customers whose hash verifies"
            + (" and whose claim carries an expiry" if problem == "no_expiry" else ""),
            code="customer_unverified",
        )
    return None


async def _claim_problem(ctx: Context, shop: str, config: ShopConfig, claim: CustomerClaim) -> str | None:
    """Why the claim does not vouch for its customer (`hash`, `expired`, `no_expiry`), or None.
    The signature is checked first, so an expiry nobody signed is never reported as one."""
    if not await ctx.commerce(shop).verify_customer(claim.id, claim.hash, claim.exp):
        return "hash"
    if claim.exp is None:
        return "no_expiry" if config.commerce.require_claim_expiry else None
    return "expired" if claim.exp <= time.time() else None
