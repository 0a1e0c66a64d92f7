"""The main job: train (or reuse) a model, start the suite, ingest the catalogue, replay events, recommend."""

from __future__ import annotations

import asyncio
import csv
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from tqdm import tqdm

from deploy.local.dataset import resolve_dataset
from deploy.local.settings import REPO_ROOT, SuiteSettings
from deploy.local.suite import LocalSuite
from kairos.client import Event, Item, RankerClient, Recommendation, UserStateClient
from kairos.v1 import ranker_pb2

log = logging.getLogger(__name__)
console = Console()

UPSERT_BATCH = 32
APPEND_BATCH = 1000
RPC_TIMEOUT_S = 30.0
MAX_K = 1000  # the most items one Recommend returns


@dataclass(frozen=True)
class CatalogueItem:
    item_id: str
    title: str
    year: str
    genres: str
    plot: str
    image_path: Path | None


def read_items(data_dir: Path) -> list[CatalogueItem]:
    """items.csv of an ml100k-mm folder (image paths resolved against the folder)."""
    with (data_dir / "items.csv").open(newline="") as f:
        return [
            CatalogueItem(
                row["item_id"], row["title"], row["year"], row["genres"], row["plot"],
                data_dir / row["image"] if row["image"] else None,
            )
            for row in csv.DictReader(f)
        ]  # fmt: skip


def read_events(data_dir: Path) -> list[Event]:
    """interactions.csv as events: timestamps in ms, a stable event id per row so replays are idempotent."""
    with (data_dir / "interactions.csv").open(newline="") as f:
        return [
            Event(
                event_id=f"ml100k:{n}", user_id=row["user_id"], item_id=row["item_id"],
                timestamp_ms=int(row["timestamp"]) * 1000, event_type="rating",
            )
            for n, row in enumerate(csv.DictReader(f))
        ]  # fmt: skip


def to_item(item: CatalogueItem, item_id: str | None = None, title: str | None = None) -> Item:
    """The catalogue item as UpsertItems content (optionally under another id and title)."""
    fields = {"title": title or item.title, "genres": item.genres.replace("|", ", "), "plot": item.plot}
    image = item.image_path.read_bytes() if item.image_path and item.image_path.is_file() else b""
    return Item(item_id=item_id or item.item_id, text_fields={k: v for k, v in fields.items() if v}, image=image)


def degradation_names(reply: Recommendation) -> list[str]:
    """The answer's degradation flags as kairos.v1 names (e.g. DEGRADATION_POPULARITY_FALLBACK)."""
    return [ranker_pb2.Degradation.Name(d.value) for d in sorted(reply.degradations, key=lambda d: d.value)]


def ensure_artifact(settings: SuiteSettings, data_dir: Path) -> Path:
    """Reuse the trained artifact, or train one on `data_dir` (progress shown by the trainer)."""
    if all((settings.artifact_dir / name).is_file() for name in ("config.yaml", "model.pt")):
        console.print(f"[green]reusing model artifact[/] {settings.artifact_dir}")
        return settings.artifact_dir
    console.print(f"[bold]training a model[/] on {data_dir} → {settings.artifact_dir}")
    cmd = [sys.executable, "-m", "recmodel.train", "--config", str(settings.train_config),
           "--data", str(data_dir), "--out", str(settings.artifact_dir)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO_ROOT)
    return settings.artifact_dir


async def ingest_catalogue(ranker: RankerClient, items: list[CatalogueItem]) -> int:
    """UpsertItems the whole catalogue through the encoders; returns how many were indexed."""
    upserted = 0
    with tqdm(total=len(items), desc="UpsertItems", unit="item") as bar:
        for start in range(0, len(items), UPSERT_BATCH):
            batch = items[start : start + UPSERT_BATCH]
            reply = await ranker.upsert_items([to_item(i) for i in batch], timeout_s=RPC_TIMEOUT_S)
            for result in reply.failed:
                log.warning("item rejected: %s", result.error)
            upserted += reply.upserted
            bar.update(len(batch))
    return upserted


async def replay_events(user_state: UserStateClient, events: list[Event]) -> int:
    """AppendEvents every interaction in batches; returns how many were newly stored."""
    appended = 0
    with tqdm(total=len(events), desc="AppendEvents", unit="event") as bar:
        for start in range(0, len(events), APPEND_BATCH):
            batch = events[start : start + APPEND_BATCH]
            reply = await user_state.append_events(batch, timeout_s=RPC_TIMEOUT_S)
            appended += reply.appended
            bar.update(len(batch))
    return appended


async def show_user(
    user_id: str,
    ranker: RankerClient,
    user_state: UserStateClient,
    titles: dict[str, str],
    k: int,
) -> None:
    """Print what the user watched last and what Kairos recommends next."""
    seq = await user_state.get_sequence(user_id, limit=5, timeout_s=5)
    reply = await ranker.recommend(user_id, k, exclude_seen=True, timeout_s=5)
    table = Table(title=f"user {user_id} — model {reply.model_version}", show_lines=False)
    table.add_column("watched last (newest last)")
    table.add_column("recommended next")
    table.add_column("score", justify="right")
    watched = [titles.get(e.item_id, e.item_id) for e in seq.events]
    for row in range(max(len(watched), len(reply.items))):
        w = watched[row] if row < len(watched) else ""
        r = reply.items[row] if row < len(reply.items) else None
        table.add_row(w, titles.get(r.item_id, r.item_id) if r else "", f"{r.score:.3f}" if r else "")
    console.print(table)
    if reply.degraded:
        names = degradation_names(reply)
        console.print(f"[yellow]degraded:[/] {', '.join(names)}")


@dataclass(frozen=True)
class LookAlike:
    """Where a brand-new look-alike of a user's last item lands, for that user and for an unrelated one."""

    item_id: str
    title: str
    source_title: str
    acked_ms: float
    visible_ms: float
    rank_matching: int | None  # 1-based; None when not within the first `depth` items
    rank_unrelated: int | None
    depth: int


async def _rank_of(ranker: RankerClient, user_id: str, item_id: str, depth: int) -> int | None:
    reply = await ranker.recommend(user_id, depth, exclude_seen=True, timeout_s=5)
    ranked = reply.item_ids
    return ranked.index(item_id) + 1 if item_id in ranked else None


async def last_items(user_state: UserStateClient, user_id: str, n: int) -> list[str]:
    """The user's ``n`` most recent item ids, oldest first."""
    return (await user_state.get_sequence(user_id, limit=n, timeout_s=5)).item_ids


def unrelated_user(candidates: dict[str, list[str]], source: CatalogueItem, by_id: dict[str, CatalogueItem]) -> str:
    """The candidate whose recent items share the fewest genres with ``source`` (first on ties)."""
    genres = set(source.genres.split("|")) - {""}

    def overlap(items: list[str]) -> int:
        return sum(len(genres & set(by_id[i].genres.split("|"))) for i in items if i in by_id)

    return min(candidates, key=lambda u: overlap(candidates[u]))


async def place_look_alike(
    matching: str,
    others: list[str],
    ranker: RankerClient,
    user_state: UserStateClient,
    by_id: dict[str, CatalogueItem],
    depth: int,
) -> tuple[LookAlike, str] | None:
    """Upsert a new item with the poster and plot of ``matching``'s last item, wait until Recommend can return
    it, then rank it for ``matching`` and for the most unrelated of ``others``; None when it never showed."""
    source = by_id[(await last_items(user_state, matching, 1))[-1]]
    new_id = f"new-{int(time.time())}"
    item = to_item(source, item_id=new_id, title=f"{source.title}: The Sequel")
    start = time.perf_counter()
    reply = await ranker.upsert_items([item], timeout_s=RPC_TIMEOUT_S)
    acked = time.perf_counter()
    if not reply.results[0].ok:
        raise RuntimeError(f"upsert failed: {reply.results[0].error}")
    rank = None
    while rank is None and time.perf_counter() - acked < 10:
        rank = await _rank_of(ranker, matching, new_id, depth)
        if rank is None:
            await asyncio.sleep(0.01)
    visible = time.perf_counter()
    if rank is None:
        return None
    recent = {u: await last_items(user_state, u, 5) for u in others}
    other = unrelated_user(recent, source, by_id)
    return LookAlike(
        new_id,
        item.text_fields["title"],
        source.title,
        1000 * (acked - start),
        1000 * (visible - acked),
        rank,
        await _rank_of(ranker, other, new_id, depth),
        depth,
    ), other


async def show_fresh_item(
    users: list[str], ranker: RankerClient, user_state: UserStateClient,
    by_id: dict[str, CatalogueItem],
) -> LookAlike | None:  # fmt: skip
    """Create a brand-new look-alike of the first user's last watch; print how soon and where it is recommended."""
    placed = await place_look_alike(users[0], users[1:], ranker, user_state, by_id, depth=MAX_K)
    if placed is None:
        console.print("[red]the new item did not become recommendable within 10 s[/]")
        return None
    result, other = placed
    console.print(
        f"\n[bold]new item[/] {result.item_id!r} '{result.title}' (poster and plot of '{result.source_title}')"
    )
    catalogue = len(by_id) + 1
    unrelated = f"rank {result.rank_unrelated}" if result.rank_unrelated else f"below rank {result.depth}"
    console.print(
        f"upsert acknowledged in {result.acked_ms:.0f} ms; recommendable {result.visible_ms:.0f} ms later "
        f"(no retraining): rank {result.rank_matching} of {catalogue} for user {users[0]}, who just watched "
        f"'{result.source_title}'; {unrelated} of {catalogue} for user {other}, whose recent films share the "
        "fewest genres with it"
    )
    return result


async def show_new_user(ranker: RankerClient, titles: dict[str, str], k: int) -> list[str]:
    """Recommend for a user nobody has seen: the currently most popular items, flagged as the fallback."""
    reply = await ranker.recommend("demo-new-user", k, timeout_s=5)
    names = degradation_names(reply)
    table = Table(title=f"a user with no history ({', '.join(names) or 'not degraded'})")
    table.add_column("recommended (most popular now)")
    table.add_column("popularity", justify="right")
    for r in reply.items:
        table.add_row(titles.get(r.item_id, r.item_id), f"{r.score:.1f}")
    console.print(table)
    return reply.item_ids


async def drive(suite: LocalSuite, data_dir: Path, settings: SuiteSettings) -> None:
    items = read_items(data_dir)
    events = read_events(data_dir)
    titles = {i.item_id: f"{i.title} ({i.year})" if i.year else i.title for i in items}
    async with (
        RankerClient(suite.ranker_address, timeout_s=RPC_TIMEOUT_S) as ranker,
        UserStateClient(suite.user_state_address, timeout_s=RPC_TIMEOUT_S) as user_state,
    ):
        console.print(f"[bold]ingesting {len(items)} items[/] through UpsertItems → Triton encoders → index")
        upserted = await ingest_catalogue(ranker, items)
        console.print(f"indexed {upserted} items")
        console.print(f"[bold]replaying {len(events)} events[/] through AppendEvents")
        appended = await replay_events(user_state, events)
        console.print(f"stored {appended} new events ({len(events) - appended} already there)")
        for user_id in settings.demo_users:
            await show_user(user_id, ranker, user_state, titles, settings.demo_k)
        await show_new_user(ranker, titles, settings.demo_k)
        await show_fresh_item(settings.demo_users, ranker, user_state, {i.item_id: i for i in items})


def run_demo(settings: SuiteSettings) -> None:
    """The whole main job, unattended; the suite is always shut down at the end."""
    data_dir = resolve_dataset(settings.data_dir, settings.fallback_data_dir)
    artifact = ensure_artifact(settings, data_dir)
    suite = LocalSuite(settings)
    console.print("[bold]starting the local suite[/] (Triton, user-state, ranker)")
    try:
        suite.start(artifact)
        asyncio.run(drive(suite, data_dir, settings))
    finally:
        console.print("[bold]shutting down[/]")
        suite.stop()
