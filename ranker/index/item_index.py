"""The item index: exact top-k by matmul up to a configured size, ANN shortlist + exact re-scoring above it."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ranker.index.ann import IvfShortlist
from ranker.index.calibration import CALIBRATION_MIN_ITEMS, first_pass_faster, log_choice, time_exact_paths
from ranker.index.config import IndexConfig
from ranker.index.exact import ColumnScorer, flat_positions
from ranker.index.facets import FacetColumns, ItemFilterSpec
from ranker.index.prefilter import make_prefilter, prefilter_kind
from ranker.index.query import SearchQuery, SearchResult
from ranker.index.vector_table import VectorTable


class ItemIndex:
    """Projected item vectors addressed by item id. All methods are thread-safe (one internal lock)."""

    def __init__(
        self, dim: int, config: IndexConfig | None = None, score_columns: Sequence[int] | np.ndarray | None = None
    ) -> None:
        self.dim = dim
        self.config = config or IndexConfig()
        # Exact scoring reads only the columns a user vector can make count (see ServingModel.score_columns).
        self._cols = None if score_columns is None else np.asarray(score_columns, dtype=np.int64)
        self._cols_t = None if self._cols is None else torch.from_numpy(self._cols)
        self._score_dim = dim if self._cols is None else len(self._cols)
        self._table = VectorTable(dim)
        self._facets = FacetColumns()
        self._ann = IvfShortlist(self.config, dim)
        self._exact_kind = prefilter_kind(self.config.exact_prefilter)  # None: float32 only
        self._prefilter = make_prefilter(self._exact_kind or "off", self._score_dim)
        # float32 columns only when there is no first pass (which re-scores from the row-major table)
        self._columns: ColumnScorer | None = None if self._prefilter is not None else ColumnScorer(self._score_dim)
        self._lock = threading.RLock()
        self._version = 0  # bumped by every upsert and removal

    @classmethod
    def build(
        cls,
        ids: list[str],
        vectors: np.ndarray,
        config: IndexConfig | None = None,
        attributes: Sequence[Mapping[str, str]] | None = None,
        published_ms: Sequence[int] | np.ndarray | None = None,
        score_columns: Sequence[int] | np.ndarray | None = None,
    ) -> ItemIndex:
        """An index over ``vectors`` (rows aligned with ``ids``, and with ``attributes``/``published_ms`` when
        given), with the ANN trained when it is large; exact scoring reads ``score_columns`` only (None: all)."""
        index = cls(vectors.shape[1], config, score_columns)
        index._table = VectorTable(vectors.shape[1], capacity=max(len(ids), 1024))
        index._facets = FacetColumns(max(len(ids), 1024))
        index._table.upsert(list(ids), np.asarray(vectors, dtype=np.float32))
        index._write_facets(list(ids), attributes, published_ms)
        index._maybe_train_ann()
        index._refresh_exact_copies()
        if (
            index.config.exact_prefilter == "auto"
            and index._prefilter is not None
            and len(ids) >= CALIBRATION_MIN_ITEMS
        ):
            index._calibrate_exact()
        return index

    @property
    def score_columns(self) -> np.ndarray | None:
        """The columns exact scoring reads (None: every column)."""
        return self._cols

    def _scored(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` (n, dim) reduced to the scored columns."""
        return vectors if self._cols is None else np.ascontiguousarray(vectors[:, self._cols])

    @property
    def exact_scoring(self) -> str:
        """How whole-catalogue queries are scored: 'ann', 'float32', or 'int8'/'bfloat16' (first pass + float32)."""
        if self._ann.trained:
            return "ann"
        return self._exact_kind or "float32"

    def _calibrate_exact(self) -> None:
        """Time the first pass against float32 columns on this index and keep only the faster copy."""
        prefilter, columns = self._prefilter, ColumnScorer(self._score_dim)
        columns.write(np.arange(self._table.rows), self._scored(self._table.vectors))

        def run(kind: str, users: np.ndarray, k: int) -> None:
            self._prefilter, self._columns = (prefilter, None) if kind == "first_pass" else (None, columns)
            self._search_exact(users, [SearchQuery(user=b, k=k) for b in range(len(users))], [None] * len(users))

        seconds = time_exact_paths(run, self._table.vectors[self._table.valid])
        if first_pass_faster(seconds):
            self._prefilter, self._columns = prefilter, None
        else:
            self._prefilter, self._columns, self._exact_kind = None, columns, None
        log_choice(self._table.live, self.exact_scoring, seconds)

    def __len__(self) -> int:
        return self._table.live

    @property
    def version(self) -> int:
        """Changes whenever items are upserted or removed: a cache key for anything derived from the rows."""
        return self._version

    @property
    def uses_ann(self) -> bool:
        return self._ann.trained

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._table.row_of

    @property
    def row_of(self) -> Mapping[str, int]:
        """Live item id -> row of :attr:`vectors`. A live view: read it on the thread that mutates the index."""
        return self._table.row_of

    @property
    def vectors(self) -> np.ndarray:
        """(rows, dim) item vectors, deleted rows zero: each item's cached projection (history inputs too).

        A view valid until the next mutation: read it on the thread that mutates the index.
        """
        return self._table.vectors

    def ids(self) -> list[str]:
        """Live item ids (a copy)."""
        with self._lock:
            return list(self._table.row_of)

    def ids_of_rows(self, rows: np.ndarray) -> list[str]:
        """Item ids of rows of :attr:`vectors` (read on the thread that mutates the index, like ``vectors``)."""
        ids = self._table.ids
        return [ids[r] for r in rows.tolist()]

    def vectors_of(self, ids: list[str]) -> np.ndarray:
        """(len(ids), dim) vectors of live ids; raises KeyError naming the first unknown id."""
        with self._lock:
            rows = [self._table.row_of[i] for i in ids]
            return self._table.vectors[rows].copy()

    def upsert(
        self,
        ids: list[str],
        vectors: np.ndarray,
        attributes: Sequence[Mapping[str, str]] | None = None,
        published_ms: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Add or replace items with their filter facets (none given: no attributes, published at 0). No rebuild:
        the ANN, when on, is updated in place, and retrained only once more than ``ann_overflow_max`` items lie
        above its norm bound."""
        vectors = np.asarray(vectors, dtype=np.float32)
        with self._lock:
            self._version += 1
            replaced, appended = self._table.upsert(list(ids), vectors)
            self._write_facets(list(ids), attributes, published_ms)
            rows = np.concatenate([replaced, appended])
            if self._prefilter is not None:
                self._prefilter.write(rows, self._scored(self._table.vectors[rows]))
            if self._columns is not None:
                self._columns.write(rows, self._scored(self._table.vectors[rows]))
            if self._ann.trained:
                self._ann.add(rows, self._table.vectors[rows])
                if self._ann.needs_retrain:  # too many items above the ANN's norm bound (see IvfShortlist)
                    self._retrain_ann()
            else:
                self._maybe_train_ann()

    def _write_facets(
        self,
        ids: list[str],
        attributes: Sequence[Mapping[str, str]] | None,
        published_ms: Sequence[int] | np.ndarray | None,
    ) -> None:
        rows = np.array([self._table.row_of[i] for i in ids], dtype=np.int64)
        self._facets.write(
            rows,
            attributes if attributes is not None else [{}] * len(ids),
            published_ms if published_ms is not None else np.zeros(len(ids), np.int64),
        )

    def attributes_of(self, item_id: str) -> dict[str, str]:
        """The attributes stored for a live item (empty when it has none or is unknown)."""
        with self._lock:
            row = self._table.row_of.get(item_id)
            return {} if row is None else self._facets.attributes_of(row)

    def allows(self, item_id: str, spec: ItemFilterSpec | None) -> bool:
        """Whether a live item passes ``spec`` (False for an unknown item)."""
        with self._lock:
            row = self._table.row_of.get(item_id)
            return row is not None and (spec is None or self._facets.allows(row, spec))

    def remove(self, ids: list[str]) -> list[str]:
        """Delete items; return the ids that were present."""
        with self._lock:
            present = [i for i in dict.fromkeys(ids) if i in self._table.row_of]
            self._version += bool(present)
            rows = self._table.remove(present)
            self._facets.clear(rows)
            self._ann.remove(rows)
            if self._table.rows > 1024 and self._table.deleted_share() >= self.config.compact_ratio:
                self._compact()
            return present

    def _compact(self) -> None:
        self._facets = self._facets.taken(np.flatnonzero(self._table.valid))
        self._table = self._table.compacted()
        self._refresh_exact_copies()
        if self._ann.trained:
            self._retrain_ann()

    def _retrain_ann(self) -> None:
        self._ann = IvfShortlist(self.config, self.dim)
        self._maybe_train_ann(force=True)

    def _refresh_exact_copies(self) -> None:
        """Rebuild the exact-scoring copy (the first pass's bfloat16/int8 rows, or float32 columns) from the table."""
        rows = np.arange(self._table.rows)
        if self._prefilter is not None:
            self._prefilter = make_prefilter(self._exact_kind or "off", self._score_dim)
            assert self._prefilter is not None
            self._prefilter.write(rows, self._scored(self._table.vectors))
        if self._columns is not None:
            self._columns = ColumnScorer(self._score_dim)
            self._columns.write(rows, self._scored(self._table.vectors))

    def _maybe_train_ann(self, force: bool = False) -> None:
        if self._table.live == 0:
            return
        if force or self._table.live > self.config.exact_max_items:
            self._ann.train_and_add(self._table.vectors, self._table.valid)
            self._prefilter = None  # ANN search serves from now on: the exact-scoring copies would be dead memory
            self._columns = None

    def search(self, users: np.ndarray, queries: list[SearchQuery]) -> list[SearchResult]:
        """Top-k per query for user vectors ``users`` (B, dim): one matmul for every whole-catalogue query.

        Filters are applied inside the search (masked scores on the exact path; over-fetch, or exact scoring of
        the eligible rows, on the ANN path), so a query gets k items whenever k eligible items exist.
        """
        users = np.ascontiguousarray(users, dtype=np.float32)
        results: list[SearchResult | None] = [None] * len(queries)
        with self._lock:
            allowed = [self._allowed_rows(q) for q in queries]
            full = [i for i, q in enumerate(queries) if q.candidate_ids is None]
            if full:
                if self._ann.trained:
                    found = self._search_ann(users, [queries[i] for i in full], [allowed[i] for i in full])
                else:
                    found = self._search_exact(users, [queries[i] for i in full], [allowed[i] for i in full])
                for i, result in zip(full, found, strict=True):
                    results[i] = result
            for i, q in enumerate(queries):
                if q.candidate_ids is not None:
                    results[i] = self._search_candidates(users[q.user], q, allowed[i])
        return [r for r in results if r is not None]

    def _allowed_rows(self, q: SearchQuery) -> np.ndarray | None:
        """(rows,) bool mask of the rows ``q``'s filter lets through; None without a filter."""
        if not q.filtered:
            return None
        assert q.filter is not None
        return self._facets.mask(q.filter, self._table.rows)

    def _excluded_rows(self, q: SearchQuery) -> list[int]:
        row_of = self._table.row_of
        return [row_of[i] for i in q.exclude_ids if i in row_of]

    def _eligible_rows(self, q: SearchQuery, allowed: np.ndarray) -> np.ndarray:
        """Live rows that pass ``q``'s filter and are not excluded."""
        eligible = allowed & self._table.valid
        excluded = self._excluded_rows(q)
        if excluded:
            eligible[excluded] = False
        return np.flatnonzero(eligible)

    def _search_exact(
        self, users: np.ndarray, queries: list[SearchQuery], allowed: list[np.ndarray | None]
    ) -> list[SearchResult]:
        table = self._table
        n = table.rows
        if n == 0:
            return [SearchResult([], np.zeros(0, np.float32)) for _ in queries]
        rows_of_users = torch.as_tensor([q.user for q in queries])
        u = torch.from_numpy(users).index_select(0, rows_of_users)
        scored = u if self._cols_t is None else u.index_select(1, self._cols_t).contiguous()
        k_max = min(max(q.k for q in queries), n)
        invalid = torch.from_numpy(~table.valid) if table.live < n else None
        excluded = [self._excluded_rows(q) for q in queries]
        blocked = [None if a is None else torch.from_numpy(~a) for a in allowed]
        if self._prefilter is not None:
            size = min(max(self.config.exact_prefilter_shortlist, 2 * k_max), n)
            top_scores, top_rows = self._top_k_prefiltered(u, scored, n, invalid, excluded, blocked, size, k_max)
        else:
            assert self._columns is not None
            top_scores, top_rows = self._columns.top_k(scored, n, invalid, excluded, k_max, blocked)
            top_scores, order = torch.sort(top_scores, dim=1, descending=True)
            top_rows = top_rows.gather(1, order)
        top_scores_np, top_rows_np = top_scores.numpy(), top_rows.numpy()
        out = []
        for b, q in enumerate(queries):
            s, r = top_scores_np[b, : q.k], top_rows_np[b, : q.k]
            keep = np.isfinite(s)
            out.append(SearchResult([table.ids[j] for j in r[keep]], s[keep].astype(np.float32)))
        return out

    def _top_k_prefiltered(
        self,
        u: torch.Tensor,
        scored: torch.Tensor,
        n: int,
        invalid: torch.Tensor | None,
        excluded: list[list[int]],
        blocked: list[torch.Tensor | None],
        size: int,
        k: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k (scores, rows): a bfloat16 or int8 pass over all rows (their scored columns: ``scored``) keeps
        ``size`` candidates, re-scored exactly in float32 from the full vectors."""
        assert self._prefilter is not None
        candidates = self._prefilter.shortlist(scored, n, invalid, excluded, size, blocked)  # (B, size)
        vectors = torch.from_numpy(self._table.vectors)[candidates]  # (B, size, dim)
        scores = torch.bmm(vectors, u.unsqueeze(-1)).squeeze(-1)  # exact float32 scores of the shortlist
        if invalid is not None:
            scores[invalid[candidates]] = -torch.inf
        flat = flat_positions(excluded, n)
        if flat is not None:
            keys = candidates + torch.arange(len(excluded)).unsqueeze(1) * n  # positions in the flattened (B, n)
            scores[torch.isin(keys, flat)] = -torch.inf
        for b, mask in enumerate(blocked):
            if mask is not None:
                scores[b, mask[candidates[b]]] = -torch.inf
        top_scores, positions = torch.topk(scores, k, dim=1)
        return top_scores, candidates.gather(1, positions)

    def _search_ann(
        self, users: np.ndarray, queries: list[SearchQuery], allowed: list[np.ndarray | None]
    ) -> list[SearchResult]:
        u = users[[q.user for q in queries]]
        out: list[SearchResult | None] = [None] * len(queries)
        eligible: list[np.ndarray | None] = [None] * len(queries)
        fetch = [q.k + len(q.exclude_ids) for q in queries]
        live = max(self._table.live, 1)
        for b, (q, mask) in enumerate(zip(queries, allowed, strict=True)):
            if mask is None:
                continue
            rows = eligible[b] = self._eligible_rows(q, mask)
            # over-fetch by how rare eligible items are; a rare filter is cheaper scored exactly
            fetch[b] = math.ceil(2 * fetch[b] * live / max(len(rows), 1))
            if len(rows) <= self.config.filter_exact_max or fetch[b] > self.config.filter_overfetch_max:
                out[b] = self._top_k_of_rows(u[b], rows, q.k)
        pending = [b for b in range(len(queries)) if out[b] is None]
        if pending:
            labels = self._ann.search(u[pending], max(self.config.ann_shortlist, max(fetch[b] for b in pending)))
            for j, b in enumerate(pending):
                q, mask = queries[b], allowed[b]
                rows = labels[j][labels[j] >= 0]
                excluded = self._excluded_rows(q)
                if excluded:
                    rows = rows[~np.isin(rows, excluded)]
                if mask is not None:
                    rows = rows[mask[rows]]
                    kept = eligible[b]
                    assert kept is not None
                    if len(rows) < min(q.k, len(kept)):  # the ANN found too few: score every eligible row
                        rows = kept
                out[b] = self._top_k_of_rows(u[b], rows, q.k)
        return [r for r in out if r is not None]

    def _search_candidates(self, user: np.ndarray, q: SearchQuery, allowed: np.ndarray | None) -> SearchResult:
        row_of = self._table.row_of
        assert q.candidate_ids is not None
        unknown = [c for c in q.candidate_ids if c not in row_of]
        rows = np.array(
            [row_of[c] for c in dict.fromkeys(q.candidate_ids) if c in row_of and c not in q.exclude_ids],
            dtype=np.int64,
        )
        if allowed is not None:
            rows = rows[allowed[rows]]
        result = self._top_k_of_rows(user, rows, q.k)
        result.unknown_candidate_ids = unknown
        return result

    def _top_k_of_rows(self, user: np.ndarray, rows: np.ndarray, k: int) -> SearchResult:
        """Exact scores of ``rows`` for one user, best ``k`` first (the ANN re-scoring step)."""
        if len(rows) == 0:
            return SearchResult([], np.zeros(0, np.float32))
        scores = self._table.vectors[rows] @ user
        if len(rows) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[part], scores[part]
        order = np.argsort(-scores, kind="stable")
        return SearchResult([self._table.ids[r] for r in rows[order]], scores[order].astype(np.float32))
