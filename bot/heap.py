"""Garbage collection in a long-running `waymark run` process.

CPython's full collection walks every object it tracks. Once started, a Waymark process holds
hundreds of thousands of long-lived objects (python-telegram-bot, SQLAlchemy, aiohttp and their
caches), and a full collection over them stopped message handling for about 100 ms every few
hundred messages: that was the p99 of bench/telegram_bench.py. Freezing what start-up built takes
those objects out of the collector's walk; everything made afterwards is collected as usual.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect once, then keep every surviving object out of later collections; returns how many."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
