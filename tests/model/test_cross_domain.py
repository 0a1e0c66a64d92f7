"""Cross-domain training on ml100k-mm's documented genre split (recmodel/data/domains.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recmodel.data.batches import eval_batch
from recmodel.data.domains import DOMAINS
from recmodel.data.loaders import load_items
from recmodel.model.recommender import Recommender
from recmodel.settings import RankerPaths
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import prepare_data
from recmodel.training.loop import train
from tests.model.conftest import TINY, random_features

DATA = RankerPaths().data_dir


@pytest.mark.skipif(not (DATA / "items.csv").exists(), reason="ml100k-mm not present")
def test_cross_domain_model_on_ml100k_genre_domains(tmp_path: Path) -> None:
    from encoders.features import save_features

    items = load_items(DATA / "items.csv")
    save_features(random_features(items.item_ids), tmp_path / "ml100k-mm")  # content is not under test here
    cfg = ExperimentConfig.model_validate(
        {
            **TINY,
            "data": {**TINY["data"], "genre_domains": True, "user_limit": 60},
            "model": {**TINY["model"], "cross_domain": True},
            "train": {**TINY["train"], "epochs": 1},
        }
    )
    split, catalogue = prepare_data(cfg, DATA, tmp_path, progress=False)
    assert split.domain_names == sorted(DOMAINS)
    assert set(np.unique(np.concatenate([s.domains for s in split.train]))) == {0, 1}
    result = train(cfg, split, catalogue)
    model = result.model
    assert model.cfg.num_domains == 2 and model.domain_query is not None

    batch = eval_batch(split.test, np.arange(8))
    table = catalogue.inputs()
    history = [c[batch.items] for c in model.item_vectors(table)]
    with torch.no_grad():
        users = {}
        for target in (0, 1):
            batch.seq.target_domains = torch.full_like(batch.seq.target_domains, target)
            users[target] = Recommender.last_state(model.encode(history, batch.seq), batch.lengths)
    assert torch.isfinite(users[0]).all()
    assert not torch.allclose(users[0], users[1]), "the target domain must change the user vector"
