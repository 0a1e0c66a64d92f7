"""Inference contract used by the ranker service; imports no training or evaluation code.

    model = ServingModel.load(Path("artifacts/ml100k-full"))
    items = model.item_vectors(text, image, has_text, has_image,          # (n, dim) from encoder outputs
                               item_ids=ids)                              # (ids: needed with a new-item boost)
    users = model.user_vectors(h_text, h_image, h_has_text, h_has_image,  # (B, L, ...) right-padded
                               timestamps_ms, lengths, request_time_ms)   # (B, dim), one forward pass
    users = model.user_vectors_from_item_vectors(items[h_rows],           # same, from cached item vectors
                                                 timestamps_ms, lengths, request_time_ms)
    scores = users @ items.T                                              # higher is better
    bias = model.history_bias(timestamps_ms, lengths, request_time_ms)   # (B, L) or None, see below
    users, bias = model.user_vectors_and_history_bias(items[h_rows], ...)  # both, sequence inputs built once

Item vectors depend only on an item's content (text and image encoder outputs, either may be absent), so an
item created after training is scorable as soon as it is encoded. The history of a user is given as the raw
encoder features of its items, in time order, padded on the right; histories longer than the model's
``max_len`` keep their most recent ``max_len`` events; a service that keeps every item's vector can pass the
history as those vectors instead (``user_vectors_from_item_vectors``: same result, no per-request projection).
With a new-item boost in the artifact (``recmodel.model.new_item_boost``) both vectors carry its columns, so that
``users @ items.T`` includes the boost of items without training events, except a closest-recent-item content
match, which :meth:`NewItemBoost.served_terms` gives (a service adds it to the new items after retrieval). With a repeat
bias (``recmodel.model.repeat_bias``) an item already in a user's history scores ``users @ items.T`` plus the sum
of :meth:`history_bias` over its history positions, also added after retrieval. ``catalogue()`` returns the
training item table stored in the artifact. All calls run under a lock, so one instance may be shared by threads.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from recmodel.model.artifact import load_artifact
from recmodel.model.catalogue import Catalogue
from recmodel.model.history_cache import HistoryStateCache, history_key
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.recommender import ItemInputs, Recommender, SequenceInputs
from recmodel.model.serving_checks import check_times
from recmodel.model.serving_sequence import sequence_inputs


class ServingModel:
    """A loaded, immutable model artifact. ``score(user, item) = user_vec @ item_vec``."""

    def __init__(
        self,
        model: Recommender,
        catalogue: Catalogue,
        domain_names: list[str],
        version: str,
        history_cache_size: int = 0,
        boost: NewItemBoost | None = None,
    ) -> None:
        if model.simtier is not None:
            raise ValueError("artifact: SimTier models are offline-only (not a dot-product scorer)")
        self._model = model.eval()
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self.version = version
        self._boost = boost
        self.new_item_boost = boost.beta if boost is not None else 0.0
        self.model_dim = model.cfg.user_dim
        self.dim = model.cfg.user_dim + (boost.width if boost is not None else 0)
        self.repeat_bias = model.repeat_bias is not None
        self.id_free = model.cfg.id_free
        self.max_len = model.cfg.max_len
        self.text_dim = model.cfg.text_dim
        self.image_dim = model.cfg.image_dim
        self.domain_names = list(domain_names)
        self._inputs = functools.partial(sequence_inputs, max_len=self.max_len, domain_count=len(self.domain_names))
        self._item_index = {item: i for i, item in enumerate(catalogue.item_ids)}
        trained = catalogue.trained if catalogue.trained is not None else np.ones(len(catalogue), dtype=bool)
        # dual-path artifacts: items with training events carry their residual, every other item is content alone
        self._residual_rows = (
            {item: i for i, item in enumerate(catalogue.item_ids) if trained[i]} if model.residual is not None else None
        )
        self._history_cache = HistoryStateCache(history_cache_size)

    @classmethod
    def load(cls, artifact_dir: Path, history_cache_size: int = 0) -> ServingModel:
        """Load an artifact folder written by training; ``history_cache_size`` > 0 caches that many history
        states (see :class:`recmodel.model.history_cache.HistoryStateCache`)."""
        loaded = load_artifact(Path(artifact_dir))
        return cls(
            loaded.model, loaded.catalogue, loaded.domain_names, loaded.version, history_cache_size, loaded.boost
        )

    def take_history_cache_counts(self) -> tuple[int, int]:
        """(hits, misses) of the history-state cache since the previous call."""
        with self._lock:
            return self._history_cache.take_counts()

    @property
    def score_columns(self) -> np.ndarray | None:
        """Columns of user and item vectors that can change a score; None: all of them. With a content channel,
        items carry their content code in a block where every user vector is zero (the code is there for history
        look-ups, :meth:`user_vectors_from_item_vectors`), so an index need not read it when scoring."""
        if self._boost is None or self._boost.content is None:
            return None
        start = self.model_dim + 1
        return np.r_[0:start, start + self._boost.content.codes.dim : self.dim].astype(np.int64)

    @property
    def boost(self) -> NewItemBoost | None:
        """The artifact's new-item boost; with :attr:`NewItemBoost.exact` a service adds
        :meth:`NewItemBoost.served_terms` to the new items' scores."""
        return self._boost

    def catalogue(self) -> Catalogue:
        """The training item table (ids, raw encoder features, presence masks) stored in the artifact."""
        return self._catalogue

    def popularity(self) -> dict[str, float]:
        """Training interaction counts of the items that had training events (empty for an artifact that
        predates the counts)."""
        counts = self._catalogue.train_counts
        if counts is None:
            return {}
        return {item: float(n) for item, n in zip(self._catalogue.item_ids, counts, strict=True) if n > 0}

    def domain_index(self, name: str) -> int:
        """Index of a domain name known to the model."""
        try:
            return self.domain_names.index(name)
        except ValueError:
            raise ValueError(f"target_domain: unknown domain {name!r}; known {self.domain_names}") from None

    def catalogue_index(self, item_ids: list[str]) -> np.ndarray:
        """Training item indices of ``item_ids`` (needed only by ID-enabled artifacts)."""
        unknown = [i for i in item_ids if i not in self._item_index]
        if unknown:
            raise ValueError(f"item_ids: not in the training catalogue, e.g. {unknown[:5]}")
        return np.array([self._item_index[i] for i in item_ids], dtype=np.int64)

    def item_vectors(
        self,
        text: np.ndarray,
        image: np.ndarray,
        has_text: np.ndarray,
        has_image: np.ndarray,
        item_index: np.ndarray | None = None,
        item_ids: list[str] | None = None,
    ) -> np.ndarray:
        """(n, dim) float32 item vectors from encoder outputs (``item_index`` only for ID-enabled artifacts;
        ``item_ids`` required when the artifact has a new-item boost, which marks the untrained ones)."""
        n = len(has_text)
        if (self._boost is not None or self._residual_rows is not None) and (item_ids is None or len(item_ids) != n):
            raise ValueError(f"item_ids: {n} ids required (the artifact has a new-item boost or item residuals)")
        inputs = self._items(text, image, has_text, has_image, (n,), item_index)
        if self._residual_rows is not None and item_ids is not None:
            rows = np.array([self._residual_rows.get(i, -1) for i in item_ids], dtype=np.int64)
            inputs = replace(inputs, index=torch.from_numpy(rows))
        with self._lock, torch.inference_mode():
            out = torch.cat(self._model.item_vectors(inputs), dim=-1).numpy().astype(np.float32, copy=False)
        if self._boost is None:
            return out
        assert item_ids is not None
        codes = self._boost.codes(text, image, has_text, has_image) if self._boost.content is not None else None
        return np.concatenate([out, self._boost.item_columns(list(item_ids), codes)], axis=1)

    def _with_boost(self, users: np.ndarray, history_codes: np.ndarray | None, lengths: np.ndarray) -> np.ndarray:
        """User vectors with the boost columns appended (unchanged without a boost); ``history_codes`` (B, L, r)
        are the history items' content codes (content channel only)."""
        if self._boost is None:
            return users
        profiles = None
        if self._boost.content is not None:
            assert history_codes is not None
            profiles = self._boost.content.profiles(history_codes, lengths)
        return np.concatenate([users, self._boost.user_columns(users, profiles)], axis=1)

    def _history_codes(
        self, text: np.ndarray, image: np.ndarray, has_text: np.ndarray, has_image: np.ndarray
    ) -> np.ndarray | None:
        """(B, L, r) content codes of raw history features, or None without a content channel."""
        if self._boost is None or self._boost.content is None:
            return None
        b, length = np.asarray(has_text).shape
        flat = self._boost.codes(
            np.asarray(text, np.float32).reshape(b * length, -1),
            np.asarray(image, np.float32).reshape(b * length, -1),
            np.asarray(has_text, bool).reshape(-1),
            np.asarray(has_image, bool).reshape(-1),
        )
        return flat.reshape(b, length, -1)

    def user_vectors(
        self,
        history_text: np.ndarray,
        history_image: np.ndarray,
        history_has_text: np.ndarray,
        history_has_image: np.ndarray,
        timestamps_ms: np.ndarray,
        lengths: np.ndarray,
        request_time_ms: np.ndarray,
        domains: np.ndarray | None = None,
        target_domain: np.ndarray | None = None,
        history_item_index: np.ndarray | None = None,
        history_item_ids: list[list[str]] | None = None,
    ) -> np.ndarray:
        """(B, dim) user vectors for B right-padded histories in one batched forward pass.

        Shapes: history_text (B, L, text_dim), history_image (B, L, image_dim), masks and timestamps (B, L),
        lengths (B,) with 1 <= length <= L, request_time_ms (B,), domains (B, L) and target_domain (B,) as
        domain indices (cross-domain models; default domain 0). ``history_item_ids`` (B rows of ids, oldest
        first) are required by artifacts with item residuals: trained ids carry theirs, others are new items.
        """
        times, lengths, request = check_times(timestamps_ms, lengths, request_time_ms)
        b, length = times.shape
        items = self._items(
            history_text,
            history_image,
            history_has_text,
            history_has_image,
            (b, length),
            history_item_index,
            prefix="history_",
        )
        if self._residual_rows is not None:
            if history_item_ids is None or len(history_item_ids) != b:
                raise ValueError(
                    f"history_item_ids: {b} rows of ids required (the artifact has item residuals; or pass the "
                    "history items' item_vectors rows to user_vectors_from_item_vectors)"
                )
            rows = np.full((b, length), -1, dtype=np.int64)
            for row, ids in enumerate(history_item_ids):
                for col, item in enumerate(list(ids)[:length]):
                    rows[row, col] = self._residual_rows.get(item, -1)
            items = replace(items, index=torch.from_numpy(rows))
        seq, keep, lengths_t = self._inputs(times, lengths, request, domains, target_domain)
        codes = self._history_codes(history_text, history_image, history_has_text, history_has_image)
        with self._lock, torch.inference_mode():
            users = self._encode(self._model.item_vectors(items), seq, keep, lengths_t)
        return self._with_boost(users, codes, lengths)

    def user_vectors_and_history_bias(
        self,
        history_vectors: np.ndarray,
        timestamps_ms: np.ndarray,
        lengths: np.ndarray,
        request_time_ms: np.ndarray,
        domains: np.ndarray | None = None,
        target_domain: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`user_vectors_from_item_vectors` and :meth:`history_bias` of one batch, whose sequence inputs are
        built and checked once."""
        times, lengths, request = check_times(timestamps_ms, lengths, request_time_ms)
        seq, keep, lengths_t = self._inputs(times, lengths, request, domains, target_domain)
        users = self._users_from_vectors(history_vectors, times, lengths, seq, keep, lengths_t)
        return users, self._history_bias(seq, keep, times.shape)

    def user_vectors_from_item_vectors(
        self,
        history_vectors: np.ndarray,
        timestamps_ms: np.ndarray,
        lengths: np.ndarray,
        request_time_ms: np.ndarray,
        domains: np.ndarray | None = None,
        target_domain: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`user_vectors` from the history items' precomputed item vectors, (B, L, dim) right-padded.

        An item's vector (a row of :meth:`item_vectors`) is the concatenation of its projected modality inputs,
        which depend on the item alone (not on position or time): a service caches them per item and skips
        projecting every history position on each request. Same result as the raw-feature path.
        """
        times, lengths, request = check_times(timestamps_ms, lengths, request_time_ms)
        seq, keep, lengths_t = self._inputs(times, lengths, request, domains, target_domain)
        return self._users_from_vectors(history_vectors, times, lengths, seq, keep, lengths_t)

    def _users_from_vectors(
        self,
        history_vectors: np.ndarray,
        times: np.ndarray,
        lengths: np.ndarray,
        seq: SequenceInputs,
        keep: torch.Tensor,
        lengths_t: torch.Tensor,
    ) -> np.ndarray:
        b, length = times.shape
        vectors = np.asarray(history_vectors, dtype=np.float32)
        if vectors.shape != (b, length, self.dim):
            raise ValueError(f"history_vectors: expected shape {(b, length, self.dim)}, got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError("history_vectors: NaN or infinite values")
        width = self._model.cfg.user_dim  # the boost columns, if any, are not model inputs
        codes = None
        if self._boost is not None and self._boost.content is not None:  # the middle block: every item's code
            codes = vectors[..., width + 1 : width + 1 + self._boost.content.codes.dim]
        with self._lock, torch.inference_mode():
            per_modality = list(torch.from_numpy(vectors[..., :width]).split(self._model.cfg.dim, dim=-1))
            users = self._encode(per_modality, seq, keep, lengths_t)
        return self._with_boost(users, codes, lengths)

    def history_bias(
        self, timestamps_ms: np.ndarray, lengths: np.ndarray, request_time_ms: np.ndarray
    ) -> np.ndarray | None:
        """(B, L) float32 learned repeat bias of each history position's item for a request at
        ``request_time_ms`` (B,), 0 at pads and at events older than the most recent ``max_len``; None when the
        artifact has no repeat bias. An item's score gains the sum over its positions."""
        if self._model.repeat_bias is None:
            return None
        times, lengths, request = check_times(timestamps_ms, lengths, request_time_ms)
        seq, keep, _ = self._inputs(times, lengths, request, None, None)
        return self._history_bias(seq, keep, times.shape)

    def _history_bias(self, seq: SequenceInputs, keep: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray | None:
        if self._model.repeat_bias is None:
            return None
        with self._lock, torch.inference_mode():
            bias = self._model.repeat_bias.last_position(seq.times_ms, seq.mask, seq.request_ms[:, -1])
        out = np.zeros(shape, dtype=np.float32)
        np.put_along_axis(out, keep.numpy(), bias.numpy().astype(np.float32), axis=1)
        return out

    def _encode(
        self, projected: list[torch.Tensor], seq: SequenceInputs, keep: torch.Tensor, lengths_t: torch.Tensor
    ) -> np.ndarray:
        """User vectors from per-modality history item vectors (B, L, d); call under the lock.

        With the history cache on, only histories not seen before go through the transformers; every user gets
        its request terms (time since the last event, target domain) added afresh.
        """
        history = [v.gather(1, keep.unsqueeze(-1).expand(-1, -1, v.shape[-1])) for v in projected]
        cache = self._history_cache
        if cache.capacity == 0:
            states = self._model.encode(history, seq)
            return Recommender.last_state(states, lengths_t).numpy().astype(np.float32, copy=False)
        joined = torch.cat(history, dim=-1).numpy()
        times, lengths = seq.times_ms.numpy(), lengths_t.numpy()
        # Domains shape the state only in cross-domain models (hierarchical attention); elsewhere they are no key.
        if self._model.cfg.cross_domain:
            if seq.domains is None:
                raise ValueError("a cross-domain model needs the history's domains")
            domains = seq.domains.numpy()
        else:
            domains = np.zeros_like(times[:, :0])
        keys = [history_key(joined[b, :n], times[b, :n], domains[b, :n]) for b, n in enumerate(lengths)]
        base = np.empty((len(keys), self._model.cfg.user_dim), dtype=np.float32)
        missing = []
        for b, key in enumerate(keys):
            state = cache.get(key)
            if state is None:
                missing.append(b)
            else:
                base[b] = state
        if missing:
            rows = torch.as_tensor(missing)
            sub = seq.select(rows)
            states = self._model.encode([h[rows] for h in history], sub, with_request_terms=False)
            fresh = Recommender.last_state(states, lengths_t[rows]).numpy()
            for j, b in enumerate(missing):
                base[b] = fresh[j]
                cache.put(keys[b], fresh[j].copy())
        terms = self._model.request_terms(seq)
        if terms is not None:
            last = (lengths_t - 1).view(-1, 1, 1).expand(-1, 1, terms.shape[-1])
            base += terms.gather(1, last).squeeze(1).numpy()
        return base

    def _items(
        self,
        text: np.ndarray,
        image: np.ndarray,
        has_text: np.ndarray,
        has_image: np.ndarray,
        lead: tuple[int, ...],
        index: np.ndarray | None,
        prefix: str = "",
    ) -> ItemInputs:
        arrays = {
            "text": (np.asarray(text, dtype=np.float32), (*lead, self.text_dim)),
            "image": (np.asarray(image, dtype=np.float32), (*lead, self.image_dim)),
            "has_text": (np.asarray(has_text, dtype=bool), lead),
            "has_image": (np.asarray(has_image, dtype=bool), lead),
        }
        for name, (arr, shape) in arrays.items():
            if arr.shape != shape:
                raise ValueError(f"{prefix}{name}: expected shape {shape}, got {arr.shape}")
        for name in ("text", "image"):
            present = arrays[f"has_{name}"][0]
            if not np.isfinite(arrays[name][0][present]).all():
                raise ValueError(f"{prefix}{name}: NaN or infinite features")
        if not self.id_free:
            if index is None:
                raise ValueError(f"{prefix}item_index: this artifact uses item IDs; pass catalogue indices")
            index_t: torch.Tensor | None = torch.from_numpy(np.asarray(index, dtype=np.int64).reshape(lead))
        else:
            index_t = None
        return ItemInputs(
            text=torch.from_numpy(arrays["text"][0]),
            image=torch.from_numpy(arrays["image"][0]),
            has_text=torch.from_numpy(arrays["has_text"][0]),
            has_image=torch.from_numpy(arrays["has_image"][0]),
            index=index_t,
        )
