"""Event stores behind one interface: the embedded SQLite store and the Redis store."""

from user_state.store.base import EventStore, SequenceFilter

__all__ = ["EventStore", "SequenceFilter"]
