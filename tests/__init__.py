"""tbgpool tests (Twisted trial)."""
