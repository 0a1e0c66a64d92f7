"""The demo's look-alike and new-user steps against real servers (Triton encoders, user-state, ranker): a new
item with the poster and plot of a user's last film lands in that user's top 10 and below it for an unrelated
user; a user with no history gets the most popular items."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from deploy.local.demo import CatalogueItem, place_look_alike, read_items, show_new_user
from kairos.client import RankerClient, UserStateClient
from recmodel.model.content_channel import ContentChannel, ContentCodes
from recmodel.model.new_item_boost import NewItemBoost
from recmodel.model.serving import ServingModel
from recmodel.settings import RankerPaths
from tests.ranker_service.conftest import RankerFactory, copy_artifact
from tests.ranker_service.test_service_e2e import append

pytestmark = [pytest.mark.integration, pytest.mark.triton, pytest.mark.slow]


def with_content_channel(artifact: Path, target: Path) -> Path:
    """A copy of the tiny artifact whose new items are placed by a strong content channel (beta 0)."""
    folder = copy_artifact(artifact, target)
    model = ServingModel.load(folder)
    c = model.catalogue()
    assert c.trained is not None
    items = model.item_vectors(c.text, c.image, c.has_text, c.has_image, item_ids=list(c.item_ids))
    codes = ContentCodes.fit(c.text, c.image, c.has_text, c.has_image, c.trained, 32)
    boost = NewItemBoost.fit(items, list(c.item_ids), c.trained, 0.0)
    boost.with_content(ContentChannel(codes, 3.0, 3, 0.1)).save(folder)
    return folder


def _by_genre(items: list[CatalogueItem], trained: set[str], genre: str, avoid: str, n: int) -> list[str]:
    out = [i.item_id for i in items if genre in i.genres.split("|") and avoid not in i.genres and i.item_id in trained]
    assert len(out) >= n
    return out[:n]


def test_look_alike_ranks_for_the_matching_user_and_popular_items_for_a_new_one(
    tmp_path: Path, artifact: Path, user_state_address: str, triton_url: str, start_ranker: RankerFactory
) -> None:
    folder = with_content_channel(artifact, tmp_path / "content")
    model = ServingModel.load(folder)
    ranker = start_ranker(folder, user_state_address, "--triton", triton_url)
    items = read_items(RankerPaths().data_dir)
    by_id = {i.item_id: i for i in items}
    trained = set(model.popularity())
    append(user_state_address, "cat-fan", _by_genre(items, trained, "Animation", "Horror", 8))
    append(user_state_address, "horror-fan", _by_genre(items, trained, "Horror", "Animation", 8))

    async def run() -> tuple:
        async with RankerClient(ranker.address) as ranker_client, UserStateClient(user_state_address) as user_state:
            placed = await place_look_alike("cat-fan", ["horror-fan"], ranker_client, user_state, by_id, 200)
            popular = await show_new_user(ranker_client, {}, 5)
            return placed, popular

    placed, popular = asyncio.run(run())
    assert placed is not None
    result, other = placed
    assert other == "horror-fan"
    assert result.rank_matching is not None and result.rank_matching <= 10
    assert result.rank_unrelated is None or result.rank_unrelated > result.rank_matching
    assert result.visible_ms < 10_000
    counts = model.popularity()
    top = sorted(counts.values(), reverse=True)[:5]
    np.testing.assert_allclose(sorted((counts[i] for i in popular), reverse=True), top)
