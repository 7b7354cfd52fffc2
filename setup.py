"""Build shim: setuptools reads everything from setup.cfg; only cffi_modules lives here."""

from setuptools import setup

setup(cffi_modules=["tbgpool/_sha256_build.py:ffibuilder"])
