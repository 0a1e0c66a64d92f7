"""The no-history fallback: items ranked by decayed interaction counts, then by recency of upsert."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

from user_state.events import Event


class PopularityRanker:
    """Exponentially decayed interaction counts per item, learnt from the events the ranker sees.

    Each event is counted once: per user, only events newer than the newest one already counted are added
    (a bounded memory of users). Counts are weighted by exp(rate * t) with half-life ``half_life_s`` relative
    to a common reference time, so recent interactions weigh more.
    """

    def __init__(self, half_life_s: float, remember_users: int = 1_000_000) -> None:
        self.rate = math.log(2) / (half_life_s * 1000.0)
        self.scores: dict[str, float] = {}
        self._counted_until: OrderedDict[str, int] = OrderedDict()
        self._remember = remember_users
        self._ref_ms: int | None = None
        self._ranking: list[str] | None = None

    def seed(self, counts: dict[str, float]) -> None:
        """Start from prior counts (e.g. the artifact's training popularity)."""
        for item_id, count in counts.items():
            self.scores[item_id] = self.scores.get(item_id, 0.0) + float(count)
        self._ranking = None

    def observe(self, events: Sequence[Event]) -> None:
        """Count the events (one user's, oldest first) newer than the ones counted before."""
        if not events:
            return
        user = events[-1].user_id
        until = self._counted_until.get(user, -1)
        if events[-1].timestamp_ms <= until:
            return
        if self._ref_ms is None:
            self._ref_ms = events[0].timestamp_ms
        for e in reversed(events):
            if e.timestamp_ms <= until:
                break
            weight = math.exp(min(self.rate * (e.timestamp_ms - self._ref_ms), 50.0))
            self.scores[e.item_id] = self.scores.get(e.item_id, 0.0) + weight
        self._counted_until[user] = events[-1].timestamp_ms
        self._counted_until.move_to_end(user)
        if len(self._counted_until) > self._remember:
            self._counted_until.popitem(last=False)
        self._ranking = None

    def top(
        self,
        k: int,
        is_live: Callable[[str], bool],
        recent: Callable[[], list[str]],
        exclude: frozenset[str] = frozenset(),
        candidates: list[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Best ``k`` live items: by popularity, then the most recently upserted (score 0)."""
        if candidates is not None:
            pool = [c for c in dict.fromkeys(candidates) if is_live(c) and c not in exclude]
            pool.sort(key=lambda c: -self.scores.get(c, 0.0))
            return [(c, self.scores.get(c, 0.0)) for c in pool[:k]]
        if self._ranking is None:
            self._ranking = sorted(self.scores, key=lambda c: -self.scores[c])
        out: list[tuple[str, float]] = []
        chosen: set[str] = set()
        for source in (self._ranking, recent()):
            for item_id in source:
                if len(out) >= k:
                    return out
                if item_id not in exclude and item_id not in chosen and is_live(item_id):
                    chosen.add(item_id)
                    out.append((item_id, self.scores.get(item_id, 0.0)))
        return out
