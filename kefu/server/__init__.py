"""The chat server: shopper and agent websockets, the REST API, kefu's pages."""

from kefu.server.app import create_app

__all__ = ["create_app"]
