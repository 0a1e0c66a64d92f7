"""Tiny end-to-end runs: train CLI → artifact → ServingModel agrees with offline scores; evaluate CLI report."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from recmodel import evaluate as evaluate_cli
from recmodel import train as train_cli
from recmodel.data.batches import eval_batch
from recmodel.model.catalogue import Catalogue
from recmodel.model.serving import ServingModel
from recmodel.settings import REPO_ROOT
from recmodel.training.config import load_experiment
from recmodel.training.experiment import prepare_data
from recmodel.training.scoring import score_cases
from tests.support.ports import free_port


def train_args(config: Path, synthetic_root: Path, out: Path) -> list[str]:
    """``recmodel.train`` arguments for the synthetic dataset and its feature cache."""
    data, features = synthetic_root / "ml100k-mm", synthetic_root / "features"
    return ["--config", str(config), "--data", str(data), "--features", str(features), "--out", str(out)]


@pytest.fixture(scope="module")
def trained(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny model trained by the CLI on the synthetic dataset; returns (artifact, config)."""
    from tests.model.conftest import TINY

    folder = tmp_path_factory.mktemp("artifact")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = folder / "tiny-model"
    train_cli.main(train_args(config, synthetic_root, out))
    return out, config


def test_artifact_folder_is_complete(trained) -> None:
    out, _ = trained
    for name in (
        "model.pt",
        "model_config.json",
        "catalogue.npz",
        "item_ids.json",
        "config.yaml",
        "metrics.json",
        "training_curve.png",
        "checkpoints/last.pt",
    ):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"warm", "cold", "no_images", "no_texts", "warm_masked", "cold_unboosted"}
    assert metrics["new_item_boost"]["beta"] >= 0.0
    assert 0.0 <= metrics["test"]["warm"]["ndcg@10"] <= 1.0 and metrics["best_epoch"] >= 1


def test_serving_scores_match_offline_scores(trained, synthetic_root: Path) -> None:
    out, config = trained
    cfg = load_experiment(config)
    split, catalogue = prepare_data(cfg, synthetic_root / "ml100k-mm", synthetic_root / "features", progress=False)
    serving = ServingModel.load(out)
    assert serving.id_free and serving.version.startswith("tiny-model-")
    stored = serving.catalogue()
    assert stored.item_ids == catalogue.item_ids and np.array_equal(stored.text, catalogue.text)

    from recmodel.model.artifact import load_artifact

    offline = score_cases(load_artifact(out).model, catalogue, split.test)
    rows = np.arange(len(split.test))
    batch = eval_batch(split.test, rows)
    idx = batch.items.numpy()
    users = serving.user_vectors(
        catalogue.text[idx],
        catalogue.image[idx],
        catalogue.has_text[idx],
        catalogue.has_image[idx],
        batch.seq.times_ms.numpy(),
        batch.lengths.numpy(),
        split.test.target_times_ms,
    )
    items = serving.item_vectors(
        catalogue.text, catalogue.image, catalogue.has_text, catalogue.has_image, item_ids=catalogue.item_ids
    )
    online = users @ items.T
    assert users.shape == (len(rows), serving.dim) and items.shape == (len(catalogue), serving.dim)
    np.testing.assert_allclose(online, offline, rtol=1e-4, atol=1e-4)
    top_offline = np.argsort(-offline, axis=1)[:, :10]
    top_online = np.argsort(-online, axis=1)[:, :10]
    assert (top_offline == top_online).mean() > 0.99


def test_serving_scores_a_brand_new_item_and_rejects_bad_input(trained) -> None:
    out, _ = trained
    serving = ServingModel.load(out)
    rng = np.random.default_rng(1)
    text = rng.normal(size=(1, 384)).astype(np.float32)
    vec = serving.item_vectors(text, np.zeros((1, 1280), np.float32), np.array([True]), np.array([False]))
    assert vec.shape == (1, serving.dim) and np.isfinite(vec).all()
    long = 25  # longer than max_len: the most recent events are kept
    args = dict(
        history_text=rng.normal(size=(2, long, 384)).astype(np.float32),
        history_image=np.zeros((2, long, 1280), np.float32),
        history_has_text=np.ones((2, long), bool),
        history_has_image=np.zeros((2, long), bool),
        timestamps_ms=np.arange(long)[None, :].repeat(2, 0) * 1000 + 880_000_000_000,
        lengths=np.array([long, 3]),
        request_time_ms=np.array([881_000_000_000, 881_000_000_000]),
    )
    users = serving.user_vectors(**args)
    assert users.shape == (2, serving.dim) and np.isfinite(users).all()
    with pytest.raises(ValueError, match="lengths"):
        serving.user_vectors(**{**args, "lengths": np.array([0, 3])})
    with pytest.raises(ValueError, match="timestamps_ms"):
        serving.user_vectors(**{**args, "timestamps_ms": -args["timestamps_ms"]})
    with pytest.raises(ValueError, match="history_text"):
        serving.user_vectors(**{**args, "history_text": args["history_text"][:, :, :10]})


def test_the_artifact_seeds_the_popularity_fallback_with_each_items_training_events(
    trained, synthetic_root: Path
) -> None:
    """``ServingModel.popularity()`` (what the ranker seeds its no-history fallback with) is, for every item that
    had training events, the number of them in the training split: counted here from the split's sequences."""
    out, config = trained
    split, _ = prepare_data(
        load_experiment(config), synthetic_root / "ml100k-mm", synthetic_root / "features", progress=False
    )
    expected = Counter(split.item_ids[i] for seq in split.train for i in seq.items.tolist())
    popularity = ServingModel.load(out).popularity()
    assert popularity == {item: float(n) for item, n in expected.items()}
    assert len(popularity) > 0 and not any(split.item_ids[i] in popularity for i in np.flatnonzero(split.cold_items))


def test_serving_imports_no_training_code() -> None:
    code = (
        "import sys, recmodel.model.serving; "
        "bad = [m for m in sys.modules if m.startswith(('recmodel.training', 'recmodel.train', 'recmodel.evaluate'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


def test_evaluate_cli_writes_the_report(synthetic_root: Path, tmp_path: Path) -> None:
    from tests.model.conftest import TINY

    (tmp_path / "full.yaml").write_text(
        yaml.safe_dump({**TINY, "name": "full", "train": {**TINY["train"], "epochs": 1}})
    )
    (tmp_path / "sasrec.yaml").write_text(
        yaml.safe_dump(
            {
                "extends": "full.yaml",
                "name": "sasrec",
                "model": {"modalities": ["id"], "temporal_moe": False, "interactive_moe": False, "request_gap": False},
            }
        )
    )
    eval_cfg = tmp_path / "eval.yaml"
    eval_cfg.write_text(
        yaml.safe_dump(
            {
                "seeds": [0, 1],
                "models": {"full": "full.yaml", "sasrec": "sasrec.yaml"},
                "report_json": str(tmp_path / "r.json"),
                "report_markdown": str(tmp_path / "r.md"),
                "run_cache": str(tmp_path / "runs"),
            }
        )
    )
    args = ["--config", str(eval_cfg), "--data", str(synthetic_root / "ml100k-mm")]
    args += ["--features", str(synthetic_root / "features")]
    evaluate_cli.main(args)
    assert "this invocation trained 4 runs" in (tmp_path / "r.md").read_text()
    evaluate_cli.main(args)  # every run cached now
    assert "assembled from cached runs" in (tmp_path / "r.md").read_text()
    report = json.loads((tmp_path / "r.json").read_text())
    assert {"full", "sasrec", "train_seconds", "new_item_boost_beta", "paired", "headline"} <= set(report)
    assert set(report["baselines"]) == {"popularity", "content_knn_text", "content_knn_image", "content_knn_both"}
    assert report["headline"]["seeds"] == [0, 1] and report["headline"]["verdict"]
    assert len(report["new_item_boost_beta"]["full"]) == 2
    assert set(report["full"]) == {"warm", "cold", "no_images", "no_texts", "warm_masked", "cold_unboosted"}
    assert set(report["full"]["warm"]) == {f"{m}@{k}" for m in ("hr", "ndcg", "mrr") for k in (5, 10, 20, 50)}
    assert all(len(v) == 2 for v in report["sasrec"]["cold"].values())
    assert report["train_seconds"]["full"] > 0
    text = (tmp_path / "r.md").read_text()
    assert "## Headline" in text and "| sasrec | 2 (0, 1) |" in text and "## Paired comparisons" in text
    assert (tmp_path / "r.png").exists() or (tmp_path / "r.md").with_suffix(".png").exists()


@pytest.mark.slow
def test_two_process_ddp_training(synthetic_root: Path, tmp_path: Path) -> None:
    from tests.model.conftest import TINY

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 1}}))
    out = tmp_path / "ddp-model"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        "-m",
        "recmodel.train",
        *train_args(config, synthetic_root, out),
    ]
    env = {**__import__("os").environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0/2" in proc.stderr and "rank 1/2" in proc.stderr
    assert (out / "model.pt").exists()
    assert isinstance(Catalogue.load(out / "catalogue.npz"), Catalogue)
