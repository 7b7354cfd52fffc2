"""Stratum v1: per-connection sessions and the line framing over them."""
