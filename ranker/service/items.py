"""UpsertItems / DeleteItems: validate → encode → project → persist → index, fanned out to every replica."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from encoders.errors import EncoderUnavailableError
from encoders.item_text import build_item_text
from kairos.service.errors import Unavailable
from kairos.v1 import ranker_pb2
from ranker.catalog.records import ItemRecord
from ranker.catalog.redis_feed import FeedEntry, FeedUnavailable, RedisItemFeed
from ranker.service.compute import ComputeWorker
from ranker.service.metrics import RankerMetrics
from ranker.service.settings import RankerSettings
from ranker.service.state import ServingState
from ranker.service.validation import RequestValidator, now_ms

log = logging.getLogger(__name__)


class ItemService:
    """Item writes. Per-item problems are reported per item; an encoder or fan-out outage fails the call whole."""

    def __init__(
        self,
        settings: RankerSettings,
        state: Callable[[], ServingState],
        encoders: Any,
        worker: ComputeWorker,
        metrics: RankerMetrics,
        feed: RedisItemFeed | None,
    ) -> None:
        self.s = settings
        self._state = state
        self._encoders = encoders
        self._worker = worker
        self._metrics = metrics
        self._feed = feed
        self._validator = RequestValidator(settings)

    async def upsert(self, request: ranker_pb2.UpsertItemsRequest) -> ranker_pb2.UpsertItemsResponse:
        started = time.perf_counter()
        self._validator.upsert_batch(request)
        items = list(request.items)
        texts = [item.text or build_item_text(dict(item.text_fields), self.s.text_field_order) for item in items]
        errors: list[str | None] = [
            self._validator.upsert_item(i, it, t) for i, (it, t) in enumerate(zip(items, texts, strict=True))
        ]
        text_vectors, image_vectors = await self.encode(items, texts, errors)
        records = []
        stamp = now_ms()
        for i, item in enumerate(items):
            if errors[i] is None:
                records.append(
                    ItemRecord(
                        item.item_id,
                        text_vectors.get(i),
                        image_vectors.get(i),
                        item.domain,
                        stamp,
                        dict(item.attributes),
                        item.published_ms or stamp,
                    )
                )
        if records:
            if self._feed is not None:
                try:
                    await self._feed.publish_upsert(records)
                except FeedUnavailable as exc:
                    raise Unavailable(f"item fan-out unavailable, nothing stored: {exc}") from exc
            await self._worker.run(self.apply_upsert, records, None)
            self._metrics.upsert_to_visible.labels("local").observe(time.perf_counter() - started)
        self._metrics.upsert_item_errors.inc(sum(e is not None for e in errors))
        results = [
            ranker_pb2.ItemResult(item_id=it.item_id, ok=e is None, error=e or "")
            for it, e in zip(items, errors, strict=True)
        ]
        return ranker_pb2.UpsertItemsResponse(results=results, upserted=len(records))

    async def encode(
        self,
        items: list[ranker_pb2.Item],
        texts: list[str],
        errors: list[str | None],
        field: Callable[[int], str] = lambda i: f"items[{i}]",
    ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
        """Embed the valid items' texts and images (one call each); record per-item failures in ``errors``, each
        naming the item's field (``field(i)``: ``items[i]`` for UpsertItems)."""
        text_rows = [i for i, t in enumerate(texts) if errors[i] is None and t]
        image_rows = [i for i, it in enumerate(items) if errors[i] is None and it.image]
        text_vectors: dict[int, np.ndarray] = {}
        image_vectors: dict[int, np.ndarray] = {}
        try:
            if text_rows:
                emb = await self._encoders.embed_texts(
                    [texts[i] for i in text_rows], timeout_s=self.s.encoders.timeout_s
                )
                for j, i in enumerate(text_rows):
                    if emb.errors[j] is not None:
                        errors[i] = f"{field(i)}.text: {emb.errors[j]}"
                    else:
                        text_vectors[i] = np.asarray(emb.vectors[j], dtype=np.float32)
            if image_rows:
                emb = await self._encoders.embed_images(
                    [bytes(items[i].image) for i in image_rows], timeout_s=self.s.encoders.timeout_s
                )
                for j, i in enumerate(image_rows):
                    if emb.errors[j] is not None:
                        errors[i] = f"{field(i)}.{_strip_field(emb.errors[j], 'image')}"
                    else:
                        image_vectors[i] = np.asarray(emb.vectors[j], dtype=np.float32)
        except EncoderUnavailableError as exc:
            raise Unavailable(f"item encoders unavailable, nothing stored: {exc}") from exc
        for vectors in (text_vectors, image_vectors):
            for i, v in list(vectors.items()):
                if not np.isfinite(v).all():
                    errors[i] = f"{field(i)}: the encoder returned non-finite values"
                    del vectors[i]
        return text_vectors, image_vectors

    async def delete(self, request: ranker_pb2.DeleteItemsRequest) -> ranker_pb2.DeleteItemsResponse:
        ids = self._validator.delete(request)
        if self._feed is not None:
            # Which ids exist is decided before publishing: this replica's tailer may apply the entry first.
            present = set(await self._worker.run(self._live, ids))
            try:
                await self._feed.publish_delete(ids)
            except FeedUnavailable as exc:
                raise Unavailable(f"item fan-out unavailable, nothing deleted: {exc}") from exc
            await self._worker.run(self.apply_delete, ids, None)
        else:
            present = set(await self._worker.run(self.apply_delete, ids, None))
        return ranker_pb2.DeleteItemsResponse(deleted=len(present), not_found=[i for i in ids if i not in present])

    def _live(self, item_ids: list[str]) -> list[str]:
        features = self._state().catalog.features
        return [i for i in item_ids if i in features]

    def apply_upsert(self, records: list[ItemRecord], cursor: str | None) -> None:
        """Worker thread: project with the serving model, persist, then make the items recommendable."""
        state = self._state()
        model = state.model
        text = np.stack([r.text if r.text is not None else np.zeros(model.text_dim, np.float32) for r in records])
        image = np.stack([r.image if r.image is not None else np.zeros(model.image_dim, np.float32) for r in records])
        has_text = np.array([r.text is not None for r in records])
        has_image = np.array([r.image is not None for r in records])
        vectors = model.item_vectors(text, image, has_text, has_image, item_ids=[r.item_id for r in records])
        state.catalog.upsert(records, cursor)
        state.index.upsert(
            [r.item_id for r in records], vectors, [r.attributes for r in records], [r.published_ms for r in records]
        )
        self._metrics.items_changed.labels("upsert", "local" if cursor is None else "stream").inc(len(records))
        self._metrics.newest_item_ms.set(max(r.updated_ms for r in records))
        self._metrics.index_size.set(len(state.index))

    def apply_delete(self, item_ids: list[str], cursor: str | None) -> list[str]:
        """Worker thread: persist the deletion, then remove from the catalogue and the index."""
        state = self._state()
        deleted = state.catalog.delete(item_ids, cursor)
        state.index.remove(item_ids)
        self._metrics.items_changed.labels("delete", "local" if cursor is None else "stream").inc(len(deleted))
        self._metrics.index_size.set(len(state.index))
        return deleted

    async def apply_entry(self, entry: FeedEntry) -> None:
        """Apply one stream entry (from any replica, this one included: re-applying is idempotent)."""
        if entry.records:
            await self._worker.run(self.apply_upsert, entry.records, entry.entry_id)
            entry_ms = int(entry.entry_id.split("-")[0])
            self._metrics.upsert_to_visible.labels("stream").observe(max(0.0, now_ms() - entry_ms) / 1000.0)
        else:
            await self._worker.run(self.apply_delete, entry.deleted_ids, entry.entry_id)


def _strip_field(error: str, name: str) -> str:
    """Encoder errors start with the field ('image: ...'); keep that form, adding it when missing."""
    return error if error.startswith(f"{name}:") else f"{name}: {error}"
