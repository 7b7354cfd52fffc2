"""The embedded chain: an in-process stand-in for a regtest bitcoind."""
