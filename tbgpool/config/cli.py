"""``tbgpool-check-config``: validate a configuration file from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tbgpool.config.parse import load_config
from tbgpool.errors import ConfigError


def main(argv: Sequence[str] | None = None) -> int:
    """``tbgpool-check-config FILE``: print "OK: FILE" and return 0, or the error and return 1."""
    parser = argparse.ArgumentParser(
        prog="tbgpool-check-config", description="Validate a tbgpool JSON configuration file."
    )
    parser.add_argument("file", help="the configuration file to check")
    arguments = parser.parse_args(argv)
    try:
        load_config(arguments.file)
    except ConfigError as e:
        print(f"ERROR: {e}")
        return 1
    print(f"OK: {arguments.file}")
    return 0
