"""Talking to Bitcoin Core: JSON-RPC over HTTP, ZMQ block notices, the template source."""
