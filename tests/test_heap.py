"""Freezing start-up objects keeps them out of collections, and later garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from bot.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_startup_objects_are_frozen_and_new_cycles_are_still_collected() -> None:
    try:
        frozen = freeze_startup_objects()
        assert frozen > 0 and gc.get_freeze_count() == frozen
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector can free it
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()  # the rest of the test run collects as usual
