"""Leaf utilities shared by frontdoor, controller and workerd. Never imports them."""

__version__ = "0.1.0"
