"""Model artifact folder: weights, model config, item catalogue (ids + encoder features), domain names.

Layout (all written by :func:`save_artifact`; training adds config.yaml, metrics.json, training_curve.png and
checkpoints/)::

    model.pt            state dict of the Recommender
    model_config.json   ModelConfig
    catalogue.npz       item ids (row = item index) + raw encoder features + presence masks
    item_ids.json       item index -> item id (same order as catalogue.npz)
    domains.json        domain index -> domain name
    new_item_boost.npz  optional: the new-item boost (beta, trained items, score covariance; see new_item_boost)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from recmodel.model.catalogue import Catalogue
from recmodel.model.config import ModelConfig
from recmodel.model.new_item_boost import BOOST_FILE, NewItemBoost
from recmodel.model.recommender import Recommender

WEIGHTS = "model.pt"
MODEL_CONFIG = "model_config.json"
CATALOGUE = "catalogue.npz"
ITEM_IDS = "item_ids.json"
DOMAINS = "domains.json"


@dataclass
class LoadedArtifact:
    model: Recommender
    catalogue: Catalogue
    domain_names: list[str]
    version: str
    boost: NewItemBoost | None = None


def save_artifact(
    folder: Path,
    model: Recommender,
    catalogue: Catalogue,
    domain_names: list[str],
    boost: NewItemBoost | None = None,
) -> None:
    """Write the serving part of an artifact (weights last-but-one; each file via temp + rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BOOST_FILE).unlink(missing_ok=True)
    if boost is not None:
        boost.save(folder)
    _write_text(folder / MODEL_CONFIG, model.cfg.model_dump_json(indent=2))
    _write_text(folder / ITEM_IDS, json.dumps(catalogue.item_ids))
    _write_text(folder / DOMAINS, json.dumps(domain_names))
    catalogue.save(folder / CATALOGUE)
    tmp = folder / f"{WEIGHTS}.tmp"
    torch.save(model.state_dict(), tmp)
    tmp.replace(folder / WEIGHTS)


def load_artifact(folder: Path) -> LoadedArtifact:
    """Load a model artifact for inference (eval mode); errors name the missing file."""
    folder = Path(folder)
    for name in (WEIGHTS, MODEL_CONFIG, CATALOGUE, DOMAINS):
        if not (folder / name).exists():
            raise FileNotFoundError(f"artifact {folder}: missing {name}")
    cfg = ModelConfig.model_validate_json((folder / MODEL_CONFIG).read_text())
    model = Recommender(cfg)
    state = torch.load(folder / WEIGHTS, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    digest = hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()[:12]
    return LoadedArtifact(
        model=model,
        catalogue=Catalogue.load(folder / CATALOGUE),
        domain_names=json.loads((folder / DOMAINS).read_text()),
        version=f"{folder.name}-{digest}",
        boost=NewItemBoost.load(folder),
    )


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
