"""Exceptions shared across tbgpool."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is invalid; the message names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key {key!r}: {message}")
        self.key = key
        self.detail = message


class RPCError(Exception):
    """A JSON-RPC error returned by a Bitcoin node (code and message are Core's)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"RPC error {code}: {message}")
        self.code = code
        self.message = message


class RPCUnavailable(Exception):
    """The node could not be reached, timed out, or did not answer JSON-RPC."""


class AddressError(ValueError):
    """A payout address failed to decode, failed its checksum, or is for another network."""
