"""The mining settings: the pool tag, version rolling, the difficulties and vardiff."""

from __future__ import annotations

import math
import re

from tbgpool.config.checks import number_text, show
from tbgpool.config.keys import VARDIFF_KEYS
from tbgpool.config.model import BTCSIG_MAX_BYTES
from tbgpool.config.section import Section
from tbgpool.errors import ConfigError
from tbgpool.vardiff import VardiffSettings


def parse_btcsig(top: Section) -> str:
    """The pool tag: printable ASCII, short enough for the coinbase scriptSig."""
    btcsig = top.string("btcsig", "/tbgpool/", allow_empty=True)
    if not all(0x20 <= ord(c) <= 0x7E for c in btcsig):
        raise ConfigError("btcsig", "must be printable ASCII (0x20..0x7e)")
    if len(btcsig) > BTCSIG_MAX_BYTES:
        raise ConfigError(
            "btcsig",
            f"is {len(btcsig)} bytes; at most {BTCSIG_MAX_BYTES} fit in the coinbase "
            "(ckpool would truncate it)",
        )
    return btcsig


def parse_version_mask(top: Section) -> int:
    """The BIP310 version-rolling mask, from 1..8 hex digits; bit 31 may not roll."""
    text = top.string("version_mask", "1fffe000")
    if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", text):
        raise ConfigError("version_mask", f"must be 1 to 8 hex digits without 0x, got {show(text)}")
    mask = int(text, 16)
    if mask & 0x80000000:
        raise ConfigError(
            "version_mask", "must not include bit 31 (0x80000000): versions would turn negative"
        )
    return mask


def parse_difficulties(top: Section) -> tuple[float, float, float]:
    """(mindiff, startdiff, maxdiff), consistent with each other."""
    mindiff = top.number("mindiff", 1.0, 0, lo_open=True)
    maxdiff = top.number("maxdiff", 0.0, 0)
    if maxdiff and maxdiff < mindiff:
        raise ConfigError(
            "maxdiff",
            f"must be 0 (no maximum) or at least mindiff ({number_text(mindiff)}), "
            f"got {number_text(maxdiff)}",
        )
    if not top.present("startdiff"):
        startdiff = min(max(42.0, mindiff), maxdiff or math.inf)
        return mindiff, startdiff, maxdiff
    startdiff = top.number("startdiff", 42.0, 0, lo_open=True)
    if startdiff < mindiff:
        raise ConfigError(
            "startdiff",
            f"must be at least mindiff ({number_text(mindiff)}), got {number_text(startdiff)}",
        )
    if maxdiff and startdiff > maxdiff:
        raise ConfigError(
            "startdiff",
            f"must be at most maxdiff ({number_text(maxdiff)}), got {number_text(startdiff)}",
        )
    return mindiff, startdiff, maxdiff


def parse_vardiff(
    top: Section, mindiff: float, startdiff: float, maxdiff: float
) -> VardiffSettings:
    """The vardiff knobs, with the top-level difficulties copied in."""
    section = top.section("vardiff", VARDIFF_KEYS)
    defaults = VardiffSettings()
    return VardiffSettings(
        enabled=section.boolean("enabled", defaults.enabled),
        target_share_interval_s=section.number(
            "target_share_interval", defaults.target_share_interval_s, 0, 3600, lo_open=True
        ),
        retarget_interval_s=section.number(
            "retarget_interval", defaults.retarget_interval_s, 0, 86400, lo_open=True
        ),
        ema_alpha=section.number("ema_alpha", defaults.ema_alpha, 0, 1, lo_open=True),
        dampening=section.number("dampening", defaults.dampening, 0, 1, lo_open=True),
        dead_band_percent=section.number("dead_band_percent", defaults.dead_band_percent, 0, 100),
        reconnect_memory_ttl_s=section.number(
            "reconnect_memory_ttl", defaults.reconnect_memory_ttl_s, 0
        ),
        mindiff=mindiff,
        maxdiff=maxdiff,
        startdiff=startdiff,
    )
