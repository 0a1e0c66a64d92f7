"""Garbage-collector pauses: move what start-up allocated out of the collector's reach (``gc.freeze``).

A full (generation-2) collection scans every tracked object. In a service that has loaded a model, an index and
its libraries, that is hundreds of thousands of long-lived objects, and one full collection measured up to
110 ms in the ranker under load: it stops the event loop and the compute thread alike and sets the p99 latency.
Frozen objects are still freed by reference counting; only reference cycles among them wait for ``refreeze``.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_heap() -> int:
    """Collect once, then freeze every surviving object; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("garbage collector: heap frozen", extra={"frozen_objects": frozen})
    return frozen


def refreeze_heap() -> int:
    """Unfreeze, collect everything (cycles among objects frozen earlier, e.g. a replaced model) and freeze
    again: one full pause, for rare events such as a hot reload."""
    gc.unfreeze()
    return freeze_heap()
