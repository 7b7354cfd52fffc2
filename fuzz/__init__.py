"""Fuzz targets (atheris) for everything a miner or a cache can hand the pool.

Each ``fuzz_*.py`` here is a script: ``python fuzz/fuzz_X.py [libFuzzer args] CORPUS``.
:mod:`fuzz.harness` holds what they share and imports no atheris, so tests can use it.
"""
