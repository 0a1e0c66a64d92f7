"""The no-history fallback: items ranked by popularity (training counts plus decayed live counts), then by
recency of upsert."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

from user_state.events import Event

_REBASE = 30.0  # rebase the live counts' exponent before exp() can overflow


class PopularityRanker:
    """Popularity = a prior (the artifact's training counts) + exponentially decayed counts of live events.

    Live events are those the ranker sees (the histories it reads and the events requests carry); each is counted
    once: per user, only events newer than the newest one already counted are added (a bounded memory of users).
    An event's weight is 2^(-age / half-life), its age measured from the newest event seen so far, so one fresh
    event weighs as much as one training event and old traffic fades; the prior does not decay.
    """

    def __init__(self, half_life_s: float, remember_users: int = 1_000_000) -> None:
        self.rate = math.log(2) / (half_life_s * 1000.0)
        self._prior: dict[str, float] = {}
        self._live: dict[str, float] = {}  # in units of exp(rate * (t - base))
        self._base_ms: int | None = None
        self._newest_ms: int | None = None
        self._counted_until: OrderedDict[str, int] = OrderedDict()
        self._remember = remember_users
        self._ranking: list[str] | None = None
        self._scores: dict[str, float] | None = None

    @property
    def scores(self) -> dict[str, float]:
        """Current popularity of every item with a prior or live events (built once per change, not per call)."""
        if self._scores is None:
            scale = self._live_scale()
            out = dict(self._prior)
            for item, value in self._live.items():
                out[item] = out.get(item, 0.0) + value * scale
            self._scores = out
        return self._scores

    def _live_scale(self) -> float:
        if self._base_ms is None or self._newest_ms is None:
            return 1.0
        return math.exp(self.rate * (self._base_ms - self._newest_ms))

    def seed(self, counts: dict[str, float]) -> None:
        """Add prior counts (e.g. the artifact's training popularity)."""
        for item_id, count in counts.items():
            self._prior[item_id] = self._prior.get(item_id, 0.0) + float(count)
        self._ranking = self._scores = None

    def observe(self, events: Sequence[Event]) -> None:
        """Count the events (one user's, oldest first) newer than the ones counted before."""
        if not events:
            return
        user = events[-1].user_id
        until = self._counted_until.get(user, -1)
        if events[-1].timestamp_ms <= until:
            return
        fresh = [e for e in events if e.timestamp_ms > until]
        newest = max(e.timestamp_ms for e in fresh)
        if self._base_ms is None:
            self._base_ms = newest
        if self._newest_ms is None or newest > self._newest_ms:
            self._newest_ms = newest
        if self.rate * (self._newest_ms - self._base_ms) > _REBASE:
            factor = math.exp(self.rate * (self._base_ms - self._newest_ms))
            self._live = {item: value * factor for item, value in self._live.items()}
            self._base_ms = self._newest_ms
        for e in fresh:
            weight = math.exp(max(self.rate * (e.timestamp_ms - self._base_ms), -700.0))
            self._live[e.item_id] = self._live.get(e.item_id, 0.0) + weight
        self._counted_until[user] = events[-1].timestamp_ms
        self._counted_until.move_to_end(user)
        if len(self._counted_until) > self._remember:
            self._counted_until.popitem(last=False)
        self._ranking = self._scores = None

    def top(
        self,
        k: int,
        eligible: Callable[[str], bool],
        recent: Callable[[], list[str]],
        exclude: frozenset[str] = frozenset(),
        candidates: list[str] | None = None,
    ) -> list[tuple[str, float]]:
        """Best ``k`` ``eligible`` (live, passing the filter) items: by popularity, then the most recently upserted
        (score 0)."""
        scores = self.scores
        if candidates is not None:
            pool = [c for c in dict.fromkeys(candidates) if eligible(c) and c not in exclude]
            pool.sort(key=lambda c: -scores.get(c, 0.0))
            return [(c, scores.get(c, 0.0)) for c in pool[:k]]
        if self._ranking is None:
            self._ranking = sorted(scores, key=lambda c: -scores[c])
        out: list[tuple[str, float]] = []
        chosen: set[str] = set()
        for source in (self._ranking, recent()):
            for item_id in source:
                if len(out) >= k:
                    return out
                if item_id not in exclude and item_id not in chosen and eligible(item_id):
                    chosen.add(item_id)
                    out.append((item_id, scores.get(item_id, 0.0)))
        return out
