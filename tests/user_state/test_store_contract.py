"""One behavioural contract, run against every store (embedded SQLite and a real redis-server)."""

from __future__ import annotations

import asyncio

from tests.user_state.builders import T0, ev, ids, now_ms
from tests.user_state.conftest import MakeStore
from user_state.store.base import EventStore, SequenceFilter

ALL = SequenceFilter()


async def one(store: EventStore, user: str, flt: SequenceFilter = ALL) -> list:
    [events] = await store.get_sequences([user], flt)
    return events


async def test_orders_by_timestamp_whatever_the_arrival_order(store: EventStore) -> None:
    result = await store.append([ev("u", "c", T0 + 30), ev("u", "a", T0 + 10), ev("u", "b", T0 + 20)])
    assert (result.appended, result.duplicates) == (3, 0)
    events = await one(store, "u")
    assert ids(events) == ["a", "b", "c"]
    assert [e.timestamp_ms for e in events] == [T0 + 10, T0 + 20, T0 + 30]
    assert events[0] == ev("u", "a", T0 + 10)  # every field round-trips


async def test_equal_timestamps_keep_arrival_order_across_calls(store: EventStore) -> None:
    await store.append([ev("u", "x1", T0), ev("u", "x2", T0)])
    await store.append([ev("u", "x3", T0), ev("u", "early", T0 - 1)])
    await store.append([ev("u", "x4", T0)])
    assert ids(await one(store, "u")) == ["early", "x1", "x2", "x3", "x4"]


async def test_late_event_lands_between_its_neighbours(store: EventStore) -> None:
    await store.append([ev("u", "a", T0 + 100), ev("u", "c", T0 + 300)])
    await store.append([ev("u", "b", T0 + 200)])
    assert ids(await one(store, "u")) == ["a", "b", "c"]


async def test_cap_keeps_the_newest_and_drops_the_oldest(make_store: MakeStore) -> None:
    store = await make_store(max_events_per_user=3)
    await store.append([ev("u", f"e{i}", T0 + i) for i in range(5)])
    assert ids(await one(store, "u")) == ["e2", "e3", "e4"]
    await store.append([ev("u", "e5", T0 + 5)])
    assert ids(await one(store, "u")) == ["e3", "e4", "e5"]
    # Older than everything a full user keeps: accepted, then dropped at once.
    result = await store.append([ev("u", "ancient", T0 - 1000)])
    assert result.appended == 1
    assert ids(await one(store, "u")) == ["e3", "e4", "e5"]
    # A late event newer than the oldest displaces it.
    await store.append([ev("u", "late", T0 + 4)])
    assert ids(await one(store, "u")) == ["e4", "late", "e5"]


async def test_retries_never_duplicate(store: EventStore) -> None:
    batch = [ev("u", "a", T0), ev("u", "b", T0 + 1), ev("v", "a", T0)]
    first = await store.append(batch)
    again = await store.append(batch)
    assert (first.appended, first.duplicates) == (3, 0)
    assert (again.appended, again.duplicates) == (0, 3)
    # Same id within one batch, and a retry carrying a different payload: the stored event wins.
    mixed = await store.append([ev("u", "c", T0 + 2), ev("u", "c", T0 + 2), ev("u", "a", T0 + 99, item="other")])
    assert (mixed.appended, mixed.duplicates) == (1, 2)
    u, v = await store.get_sequences(["u", "v"], ALL)
    assert ids(u) == ["a", "b", "c"]
    assert u[0].item_id == "item-a"
    assert ids(v) == ["a"]  # event ids are per user


async def test_concurrent_retries_store_once(store: EventStore) -> None:
    batch = [ev("u", f"e{i}", T0 + i) for i in range(4)]
    results = await asyncio.gather(*(store.append(batch) for _ in range(8)))
    assert sum(r.appended for r in results) == 4
    assert sum(r.duplicates for r in results) == 28
    assert ids(await one(store, "u")) == ["e0", "e1", "e2", "e3"]


async def test_filters_limit_window_and_domain(store: EventStore) -> None:
    await store.append(
        [
            ev("u", "m1", T0 + 10, domain="movies"),
            ev("u", "b1", T0 + 20, domain="books"),
            ev("u", "m2", T0 + 30, domain="movies"),
            ev("u", "b2", T0 + 40, domain="books"),
            ev("u", "m3", T0 + 50, domain="movies"),
        ]
    )
    assert ids(await one(store, "u", SequenceFilter(limit=2))) == ["b2", "m3"]
    assert ids(await one(store, "u", SequenceFilter(since_ms=T0 + 20))) == ["b1", "m2", "b2", "m3"]
    assert ids(await one(store, "u", SequenceFilter(until_ms=T0 + 30))) == ["m1", "b1"]  # until is exclusive
    window = SequenceFilter(since_ms=T0 + 20, until_ms=T0 + 50)
    assert ids(await one(store, "u", window)) == ["b1", "m2", "b2"]
    assert ids(await one(store, "u", SequenceFilter(domain="movies"))) == ["m1", "m2", "m3"]
    assert ids(await one(store, "u", SequenceFilter(limit=2, domain="movies"))) == ["m2", "m3"]
    assert ids(await one(store, "u", SequenceFilter(limit=1, since_ms=T0, until_ms=T0 + 35, domain="books"))) == ["b1"]
    assert await one(store, "u", SequenceFilter(domain="music")) == []


async def test_many_users_in_request_order_with_repeats_and_unknowns(store: EventStore) -> None:
    await store.append([ev("a", "1", T0), ev("b", "1", T0), ev("b", "2", T0 + 1)])
    result = await store.get_sequences(["b", "nobody", "a", "b"], ALL)
    assert [ids(s) for s in result] == [["1", "2"], [], ["1"], ["1", "2"]]
    assert all(e.user_id == "b" for e in result[0])


async def test_delete_user_removes_only_that_user(store: EventStore) -> None:
    await store.append([ev("u", "a", T0), ev("u", "b", T0 + 1), ev("v", "a", T0)])
    assert await store.delete_user("u") == 2
    assert await store.delete_user("u") == 0
    assert await store.delete_user("never-seen") == 0
    u, v = await store.get_sequences(["u", "v"], ALL)
    assert (u, ids(v)) == ([], ["a"])
    # A deleted user starts afresh, and ids from before the delete are no longer duplicates.
    result = await store.append([ev("u", "a", T0 + 5)])
    assert (result.appended, result.duplicates) == (1, 0)
    assert [e.timestamp_ms for e in await one(store, "u")] == [T0 + 5]


async def test_ttl_forgets_inactive_users(make_store: MakeStore) -> None:
    store = await make_store(ttl_s=1.0, ttl_sweep_interval_s=0.2)
    t = now_ms()
    await store.append([ev("u", "a", t), ev("keep", "a", t)])
    assert ids(await one(store, "u")) == ["a"]
    await asyncio.sleep(0.6)
    await store.append([ev("keep", "b", t + 1)])  # activity re-arms the TTL of that user only
    await asyncio.sleep(0.7)
    u, keep = await store.get_sequences(["u", "keep"], ALL)
    assert u == []
    assert ids(keep) == ["a", "b"]
    # An expired user's old ids are forgotten too: appending one again stores it.
    assert (await store.append([ev("u", "a", t + 2)])).appended == 1
    assert [e.timestamp_ms for e in await one(store, "u")] == [t + 2]


async def test_reopening_keeps_order_ids_and_arrival_ties(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([ev("u", "t1", T0), ev("u", "t2", T0), ev("u", "old", T0 - 5)])
    await store.close()
    reopened = await make_store()
    assert ids(await one(reopened, "u")) == ["old", "t1", "t2"]
    result = await reopened.append([ev("u", "t1", T0), ev("u", "t3", T0)])
    assert (result.appended, result.duplicates) == (1, 1)
    assert ids(await one(reopened, "u")) == ["old", "t1", "t2", "t3"]


async def test_small_hot_cache_still_answers_correctly(make_store: MakeStore) -> None:
    store = await make_store(hot_cache_users=2)
    users = [f"user-{i}" for i in range(6)]
    for round_ in range(3):
        await store.append([ev(u, f"{u}-{round_}", T0 + round_) for u in users])
        result = await store.get_sequences(list(reversed(users)), ALL)
        assert [len(s) for s in result] == [round_ + 1] * len(users)
        assert all(s[-1].event_id == f"{u}-{round_}" for u, s in zip(reversed(users), result, strict=True))


async def test_long_unicode_ids_and_braces_survive_trimming(make_store: MakeStore) -> None:
    store = await make_store(max_events_per_user=2)
    user = "ü{ser}:" + "x" * 200  # braces and colons must not break the Redis key layout
    long_ids = [f"{i}-" + "é" * 600 for i in range(3)]  # 1,202 UTF-8 bytes each
    await store.append([ev(user, event_id, T0 + i) for i, event_id in enumerate(long_ids)])
    assert ids(await one(store, user)) == long_ids[1:]
    again = await store.append([ev(user, long_ids[2], T0 + 2), ev(user, long_ids[0], T0 + 9)])
    assert (again.appended, again.duplicates) == (1, 1)  # the trimmed id was forgotten, the retained one not
    assert ids(await one(store, user)) == [long_ids[2], long_ids[0]]
