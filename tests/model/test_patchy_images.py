"""The patchy-catalogue check: only a share of the items keep their image, for training and test alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recmodel.model.catalogue import Catalogue
from recmodel.training.config import ExperimentConfig
from recmodel.training.experiment import PreparedData, prepare_dataset
from tests.model.conftest import TINY


def test_images_kept_on_an_exact_seeded_share_and_the_rest_look_image_free(synthetic_catalogue: Catalogue) -> None:
    before = synthetic_catalogue
    with_image = int(before.has_image.sum())
    patchy = before.with_images_on(0.4, seed=7)
    assert int(patchy.has_image.sum()) == round(0.4 * with_image)
    assert not np.any(patchy.has_image & ~before.has_image)  # nobody gains an image
    dropped = before.has_image & ~patchy.has_image
    assert dropped.sum() == with_image - round(0.4 * with_image)
    assert np.all(patchy.image[dropped] == 0.0)
    np.testing.assert_array_equal(patchy.image[patchy.has_image], before.image[patchy.has_image])
    np.testing.assert_array_equal(patchy.text, before.text)
    assert np.any(before.image[dropped] != 0.0)  # the original table is left as it was
    np.testing.assert_array_equal(before.with_images_on(0.4, seed=7).has_image, patchy.has_image)
    assert not np.array_equal(before.with_images_on(0.4, seed=8).has_image, patchy.has_image)
    np.testing.assert_array_equal(before.with_images_on(1.0, seed=7).has_image, before.has_image)
    with pytest.raises(ValueError, match="fraction"):
        before.with_images_on(0.0, seed=0)


def test_image_fraction_applies_to_the_prepared_catalogue_not_the_split(synthetic_root: Path) -> None:
    def prepared(fraction: float) -> PreparedData:
        raw = {**TINY, "data": {**TINY["data"], "image_fraction": fraction}}
        cfg = ExperimentConfig.model_validate(raw)
        return prepare_dataset(cfg, synthetic_root / "ml100k-mm", synthetic_root / "features", progress=False)

    full, patchy = prepared(1.0), prepared(0.4)
    assert int(patchy.catalogue.has_image.sum()) == round(0.4 * int(full.catalogue.has_image.sum()))
    np.testing.assert_array_equal(patchy.split.test.targets, full.split.test.targets)
    assert patchy.split.item_ids == full.split.item_ids
    with pytest.raises(ValueError, match="image_fraction"):
        ExperimentConfig.model_validate({**TINY, "data": {"image_fraction": 1.5}})
