"""Model shapes, padding invariance, missing-modality handling and cross-domain attention."""

from __future__ import annotations

import pytest
import torch

from recmodel.model.attention import attention_mask
from recmodel.model.config import ModelConfig
from recmodel.model.recommender import ItemInputs, Recommender, SequenceInputs, request_times

B, L, T, V = 3, 6, 384, 1280


def _model(**overrides) -> Recommender:
    torch.manual_seed(0)
    cfg = ModelConfig(dim=16, max_len=8, moe_experts=2, temporal_experts=2, **overrides)
    return Recommender(cfg).eval()


def _items(shape: tuple[int, ...], seed: int = 0) -> ItemInputs:
    g = torch.Generator().manual_seed(seed)
    return ItemInputs(
        text=torch.randn(*shape, T, generator=g),
        image=torch.randn(*shape, V, generator=g),
        has_text=torch.ones(shape, dtype=torch.bool),
        has_image=torch.ones(shape, dtype=torch.bool),
        index=torch.randint(0, 20, shape, generator=g),
    )


def _seq(lengths: list[int], length: int = L, domains: torch.Tensor | None = None) -> SequenceInputs:
    lengths_t = torch.tensor(lengths)
    times = torch.arange(length).repeat(len(lengths), 1) * 3_600_000 + 880_000_000_000
    mask = torch.arange(length)[None, :] < lengths_t[:, None]
    times = torch.where(mask, times, torch.zeros_like(times))
    request = torch.full((len(lengths),), 881_000_000_000)
    return SequenceInputs(
        times_ms=times,
        mask=mask,
        request_ms=request_times(times, lengths_t, request),
        domains=domains,
        target_domains=torch.zeros(len(lengths), length, dtype=torch.long),
    )


def _user(model: Recommender, items: ItemInputs, seq: SequenceInputs, lengths: list[int]) -> torch.Tensor:
    with torch.no_grad():
        states = model.encode(model.item_vectors(items), seq)
        return Recommender.last_state(states, torch.tensor(lengths))


@pytest.mark.parametrize("modalities", [["text", "image"], ["id"], ["id", "text", "image"], ["text"]])
def test_shapes(modalities: list[str]) -> None:
    model = _model(modalities=modalities, num_items=20)
    user = _user(model, _items((B, L)), _seq([6, 3, 1]), [6, 3, 1])
    assert user.shape == (B, 16 * len(modalities))
    items = torch.cat(model.item_vectors(_items((7,))), dim=-1)
    assert items.shape == (7, 16 * len(modalities))
    assert torch.isfinite(user).all()


def test_padding_does_not_change_the_user_vector() -> None:
    model = _model()
    items = _items((1, L))
    short = _user(model, items, _seq([4]), [4])
    garbage = _items((1, L), seed=9)
    padded = ItemInputs(
        text=torch.cat([items.text[:, :4], garbage.text[:, 4:]], dim=1),
        image=torch.cat([items.image[:, :4], garbage.image[:, 4:]], dim=1),
        has_text=items.has_text,
        has_image=items.has_image,
    )
    seq = _seq([4])
    seq.times_ms[0, 4:] = 123  # pad timestamps are arbitrary, even out of order
    assert torch.allclose(short, _user(model, padded, seq, [4]), atol=1e-5)


def test_missing_modality_uses_the_absent_vector_without_nan() -> None:
    model = _model()
    items = _items((2,))
    items.has_image = torch.tensor([True, False])
    items.image[1] = float("nan")  # whatever sits in an absent row is ignored
    _, image_vecs = model.item_vectors(items)
    assert torch.equal(image_vecs[1], model.projections["image"].absent)
    assert torch.isfinite(image_vecs).all()
    history = _items((B, L))
    history.has_text[:] = False
    history.has_image[:] = False
    assert torch.isfinite(_user(model, history, _seq([6, 2, 1]), [6, 2, 1])).all()


def test_imputation_predicts_a_missing_modality_from_the_present_one() -> None:
    model = _model(impute_missing=True)
    items = _items((4,))
    items.has_image = torch.tensor([True, False, True, False])
    items.has_text = torch.tensor([True, True, False, False])
    items.image[1] = float("nan")
    items.text[2] = float("nan")
    with torch.no_grad():
        text_vecs, image_vecs = model.item_vectors(items)
        text_only = model.projections["text"](items.text[1:2], items.has_text[1:2])
        image_only = model.projections["image"](items.image[2:3], items.has_image[2:3])
        assert torch.allclose(image_vecs[1], model.imputers["image"](text_only)[0])
        assert torch.allclose(text_vecs[2], model.imputers["text"](image_only)[0])
    assert torch.equal(image_vecs[3], model.projections["image"].absent)  # nothing to impute from
    assert torch.equal(text_vecs[3], model.projections["text"].absent)
    assert torch.isfinite(text_vecs).all() and torch.isfinite(image_vecs).all()
    plain = _model()
    assert plain.imputers is None and "imputers.image.weight" not in plain.state_dict()


def test_intra_domain_mask_is_causal_and_same_domain() -> None:
    mask = torch.tensor([[True, True, True, False]])
    domains = torch.tensor([[0, 1, 0, 1]])
    allowed = attention_mask(mask, domains)[0, 0]
    assert allowed.tolist() == [
        [True, False, False, False],
        [False, True, False, False],
        [True, False, True, False],
        [False, True, False, True],  # a pad row (never read) may see valid keys; never empty
    ]


def test_cross_domain_target_domain_changes_scores() -> None:
    model = _model(cross_domain=True, num_domains=2)
    torch.nn.init.normal_(model.domain_query.weight)
    domains = torch.tensor([[0, 1, 0, 1, 0, 1]] * B)
    seq = _seq([6, 4, 2], domains=domains)
    items = _items((B, L))
    to_zero = _user(model, items, seq, [6, 4, 2])
    seq.target_domains = torch.ones_like(seq.target_domains)
    to_one = _user(model, items, seq, [6, 4, 2])
    assert not torch.allclose(to_zero, to_one)


def test_id_free_config_and_validation() -> None:
    assert ModelConfig().id_free and not ModelConfig(modalities=["id"]).id_free
    with pytest.raises(ValueError, match="num_items"):
        Recommender(ModelConfig(modalities=["id"]))
    with pytest.raises(ValueError, match="modalities"):
        ModelConfig(modalities=["text", "text"])
