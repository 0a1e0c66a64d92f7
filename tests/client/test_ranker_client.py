"""RankerClient and SyncRankerClient against real ranker and user-state processes (tiny trained artifact)."""

from __future__ import annotations

import uuid

import pytest

from kairos.client import (
    Degradation,
    Event,
    InvalidArgumentError,
    Item,
    ItemFilter,
    NotFoundError,
    RankerClient,
    SyncRankerClient,
    UserStateClient,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T0 = 1_700_000_000_000
HISTORY = ["1", "50", "100", "181", "258"]  # MovieLens ids of the tiny artifact's catalogue
# Rules every item passes, before and after the server serves filters: the request carries them all the same.
PASS_ALL = ItemFilter(exclude={"client-test-never-set": ["x", "y"]}, published_after_ms=0)


async def test_recommend_returns_k_items_a_model_version_and_no_degradation(
    ranker: str, user_state_address: str
) -> None:
    user = f"client-{uuid.uuid4().hex[:8]}"
    async with UserStateClient(user_state_address) as user_state:
        events = [Event(f"e{n}", user, item, T0 + n * 60_000) for n, item in enumerate(HISTORY)]
        await user_state.append_events(events)
    async with RankerClient(ranker, timeout_s=10) as client:
        rec = await client.recommend(user, k=7, exclude_seen=True, filter=PASS_ALL, request_time_ms=T0 + 3_600_000)
    assert len(rec.items) == 7 and rec.model_version
    assert not rec.degraded and rec.degradations == frozenset()
    assert rec.history_length == len(HISTORY) and rec.request_time_ms == T0 + 3_600_000
    assert not set(rec.item_ids) & set(HISTORY)
    assert [i.score for i in rec.items] == sorted((i.score for i in rec.items), reverse=True)
    assert rec.raw is not None and rec.raw.model_version == rec.model_version


async def test_degradations_are_surfaced(ranker: str, ranker_without_user_state: str) -> None:
    async with RankerClient(ranker) as client:
        rec = await client.recommend(f"nobody-{uuid.uuid4().hex[:8]}", k=3, candidate_ids=["1", "2", "no-such"])
    assert rec.degradations == {Degradation.POPULARITY_FALLBACK} and rec.degraded
    assert rec.unknown_candidate_ids == ("no-such",) and set(rec.item_ids) <= {"1", "2"}

    inline = [Event(f"r{n}", "u", item, T0 + n) for n, item in enumerate(HISTORY)]
    async with RankerClient(ranker_without_user_state, timeout_s=10) as client:
        rec = await client.recommend("u", k=4, recent_events=inline)
    assert Degradation.USER_STATE_UNAVAILABLE in rec.degradations and rec.degraded
    assert len(rec.items) == 4 and rec.history_length == len(HISTORY)


async def test_bad_input_raises_invalid_argument_naming_the_field(ranker: str) -> None:
    async with RankerClient(ranker) as client:
        with pytest.raises(InvalidArgumentError) as caught:
            await client.recommend("u", k=0)
        assert caught.value.field == "k" and "k: must be in 1.." in caught.value.message
        with pytest.raises(InvalidArgumentError, match=r"exclude_ids\[1\]"):
            await client.recommend("u", k=3, exclude_ids=["1", ""])
        with pytest.raises(InvalidArgumentError, match="item_ids"):
            await client.delete_items([])


async def test_similar_items_of_an_unknown_id_is_not_found(ranker: str) -> None:
    async with RankerClient(ranker) as client:
        similar = await client.similar_items("1", k=5, exclude_ids=["2"], filter=PASS_ALL)
        assert len(similar.items) == 5 and similar.model_version and not similar.degraded
        assert not {"1", "2"} & set(similar.item_ids)
        with pytest.raises(NotFoundError, match="item_id") as caught:
            await client.similar_items("no-such-item", k=5)
        assert caught.value.field == "item_id"
    with pytest.raises(ValueError, match="exactly one"):
        await client.similar_items("1", content=Item("q", text="a film"))


async def test_upsert_reports_rejected_items_and_delete_reports_unknown_ids(ranker: str) -> None:
    async with RankerClient(ranker) as client:
        upsert = await client.upsert_items([Item("empty", attributes={"region": "eu"}, published_ms=T0)])
        deleted = await client.delete_items(["no-such-item"])
    assert upsert.upserted == 0 and [r.item_id for r in upsert.failed] == ["empty"]
    assert upsert.failed[0].error.startswith("items[0]") and "needs at least one of" in upsert.failed[0].error
    assert (deleted.deleted, deleted.not_found) == (0, ("no-such-item",))


def test_the_blocking_client_does_the_same(ranker: str) -> None:
    with SyncRankerClient(ranker) as client:
        rec = client.recommend("blocking-user", k=2)
        assert len(rec.items) == 2 and Degradation.POPULARITY_FALLBACK in rec.degradations
        assert len(client.similar_items("1", k=3).items) == 3
        with pytest.raises(NotFoundError):
            client.similar_items("no-such-item")
        with pytest.raises(InvalidArgumentError, match="k: "):
            client.recommend("u", k=-1)
        assert client.delete_items(["no-such-item"]).not_found == ("no-such-item",)


async def test_filters_sent_by_the_client_narrow_the_answer(ranker: str) -> None:
    tag = f"client-{uuid.uuid4().hex[:8]}"
    items = [
        Item(f"{tag}-a", text="A comedy about a cat", attributes={"tag": tag, "stock": "in"}, published_ms=T0),
        Item(f"{tag}-b", text="A drama about a dog", attributes={"tag": tag, "stock": "out"}, published_ms=T0 + 1),
    ]
    async with RankerClient(ranker, timeout_s=30) as client:
        assert (await client.upsert_items(items)).upserted == 2
        only_tag = await client.recommend("anyone", k=10, filter=ItemFilter(include={"tag": tag}))
        assert set(only_tag.item_ids) == {f"{tag}-a", f"{tag}-b"}
        in_stock = ItemFilter(include={"tag": tag}, exclude={"stock": "out"})
        assert (await client.recommend("anyone", k=10, filter=in_stock)).item_ids == [f"{tag}-a"]
        newer = ItemFilter(include={"tag": tag}, published_after_ms=T0 + 1)
        assert (await client.similar_items("1", k=10, filter=newer)).item_ids == [f"{tag}-b"]
        await client.delete_items([i.item_id for i in items])
