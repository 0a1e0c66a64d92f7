"""Request payloads of the load test: events, recommendation requests, items with text and a PNG image."""

from __future__ import annotations

import io
import random
import time
import uuid

from PIL import Image

from deploy.load.config import Workload
from kairos.v1 import events_pb2, ranker_pb2, user_state_pb2

_WORDS = (
    "space", "western", "comedy", "drama", "noir", "heist", "robot", "love", "war", "river", "city", "night",
    "summer", "winter", "detective", "family", "music", "island", "train", "ghost", "mountain", "secret",
    "letter", "garden", "storm", "empire", "dream",
)  # fmt: skip
_GENRES = ("Action", "Comedy", "Drama", "Sci-Fi", "Thriller", "Romance", "Animation", "Documentary")


def make_png(size: int, rng: random.Random) -> bytes:
    """A `size`x`size` RGB PNG: a colour gradient with a random tint, a few hundred bytes to a few KiB."""
    tint = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    image = Image.new("RGB", (size, size))
    image.putdata(
        [
            ((x * 255 // size + tint[0]) % 256, (y * 255 // size + tint[1]) % 256, tint[2])
            for y in range(size)
            for x in range(size)
        ]
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class PayloadFactory:
    """Generates the requests of one simulated client from the workload settings."""

    def __init__(self, workload: Workload, rng: random.Random, images: list[bytes]) -> None:
        if not images:
            raise ValueError("images: at least one encoded image is needed for UpsertItems payloads")
        self.workload = workload
        self.rng = rng
        self.images = images

    def user_id(self) -> str:
        return str(self.rng.randint(1, self.workload.users))

    def recommend(self) -> ranker_pb2.RecommendRequest:
        return ranker_pb2.RecommendRequest(user_id=self.user_id(), k=self.workload.recommend_k, exclude_seen=True)

    def append_events(self) -> user_state_pb2.AppendEventsRequest:
        user_id = self.user_id()
        now_ms = int(time.time() * 1000)
        events = [
            events_pb2.Event(
                event_id=f"load:{uuid.uuid4().hex}",
                user_id=user_id,
                item_id=str(self.rng.randint(1, self.workload.items)),
                timestamp_ms=now_ms - (self.workload.events_per_append - i),
                event_type="view",
            )
            for i in range(self.workload.events_per_append)
        ]
        return user_state_pb2.AppendEventsRequest(events=events)

    def upsert_items(self) -> ranker_pb2.UpsertItemsRequest:
        items = [
            ranker_pb2.Item(
                item_id=f"load-item-{uuid.uuid4().hex[:16]}",
                text_fields={
                    "title": " ".join(self.rng.choices(_WORDS, k=3)).title(),
                    "genres": "|".join(self.rng.sample(_GENRES, k=2)),
                    "plot": " ".join(self.rng.choices(_WORDS, k=24)),
                },
                image=self.rng.choice(self.images),
            )
            for _ in range(self.workload.items_per_upsert)
        ]
        return ranker_pb2.UpsertItemsRequest(items=items)
