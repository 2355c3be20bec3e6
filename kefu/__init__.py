"""kefu (客服): a hybrid bot-plus-human support chat server for online shops."""

__version__ = "0.1.0"
__all__ = ["__version__"]
