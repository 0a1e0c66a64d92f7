"""Builders shared by the user-state tests."""

from __future__ import annotations

import time

from user_state.events import Event

T0 = 1_700_000_000_000  # 2023-11-14, in milliseconds


def ev(user: str, event_id: str, ts: int, item: str = "", domain: str = "", event_type: str = "click") -> Event:
    """A test event; the item defaults to 'item-<event_id>'."""
    return Event(event_id, user, item or f"item-{event_id}", ts, domain, event_type)


def ids(events: list[Event]) -> list[str]:
    return [e.event_id for e in events]


def now_ms() -> int:
    return int(time.time() * 1000)
