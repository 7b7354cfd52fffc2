"""The embedded chain: an in-process stand-in for a regtest bitcoind.

It deliberately shares no serialization, hashing or target code with the pool
(``tbgpool.coinbase``, ``tbgpool.difficulty``, the C module): it plays the part
of Bitcoin Core checking the pool's blocks, and a check that reused the pool's
own code could not catch the pool's own mistakes.
"""
