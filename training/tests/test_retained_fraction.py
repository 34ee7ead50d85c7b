"""Retained-fraction pooling, the COHb factor and the global factor modes.

Expected values are computed here with NumPy or by hand from the documented formulas,
not by calling the code under test a second time.
"""

import math

import numpy as np
import pytest
import torch

from dlco_train.aggregators import cohb_factor
from dlco_train.config import GLOBAL_FACTORS, TrainConfig
from dlco_train.manifest import METADATA_FEATURES, METADATA_INDEX
from dlco_train.model import build_model

M = len(METADATA_FEATURES)
GLI_MEAN = 26.0
STATS = {
    "num_zone_codes": 4,
    "metadata_mean": [
        *(50.0, 0.5, 170.0, 75.0, 25.0, 0.3, 0.4, 0.3, 20.0, 14.0, 2.0),
        GLI_MEAN,
    ],
    "metadata_std": [10.0, 0.5, 10.0, 12.0, 4.0, 0.5, 0.5, 0.5, 15.0, 1.5, 1.0, 5.0],
    "conductance_scale": 0.005,
    "log_variance_init": math.log(25.0),
}
# A 61-year-old man with Hb 12 g/dL and COHb 6 %. The last value is his GLI predicted
# DLCO, set here rather than computed because these tests only need a known reference.
METADATA = [61.0, 1, 178, 84, 26.5, 0, 1, 0, 25, 12.0, 6.0, 27.5]
HB_FACTOR = 1.7 * 12.0 / (10.22 + 12.0)
COHB_FACTOR = 0.95


def make_aggregator(seed=1, **overrides):
    """Return a retained-fraction aggregator whose heads all have random weights."""
    values = dict(
        pooling="retained_fraction",
        global_factor="hb+cohb+learned",
        encoder_channels=[4, 8],
        embedding_dim=8,
        hidden_dim=8,
    )
    values.update(overrides)
    torch.manual_seed(0)
    aggregator = build_model(TrainConfig(**values), STATS).aggregator.eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in aggregator.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.25)
    return aggregator


def force_retained_one(aggregator):
    """Make every retained fraction exactly 1 in float32 (sigmoid(60) rounds to 1)."""
    with torch.no_grad():
        aggregator.retained_head[2].weight.zero_()
        aggregator.retained_head[2].bias.fill_(60.0)
    return aggregator


def random_bag(count, seed=0, metadata=METADATA):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(count, 8, generator=generator),
        torch.rand(count, generator=generator) * 30 + 1,
        torch.randint(0, 4, (count,), generator=generator).to(torch.uint8),
        torch.randint(1, 3, (count,), generator=generator).to(torch.uint8),
        torch.tensor(metadata, dtype=torch.float32),
    )


def learned_factor(aggregator, metadata):
    """exp(tanh(w . z + b)) with z the z-scored metadata, computed in NumPy."""
    z = (np.asarray(metadata, dtype=np.float64) - STATS["metadata_mean"]) / STATS[
        "metadata_std"
    ]
    z = np.where(np.isnan(z), 0.0, z)
    weight = aggregator.factor_head.weight.detach().numpy().astype(np.float64)[0]
    bias = float(aggregator.factor_head.bias.detach())
    return math.exp(math.tanh(float(weight @ z) + bias))


def test_contributions_sum_to_estimate():
    outputs = make_aggregator()(*random_bag(13))
    assert float(outputs["contributions"].sum()) == pytest.approx(
        float(outputs["dlco"]), rel=1e-5
    )
    assert float(outputs["patch_weights"].sum()) == pytest.approx(1.0, rel=1e-5)


def test_contributions_are_expected_times_retained():
    outputs = make_aggregator()(*random_bag(13))
    retained = outputs["retained_fraction"].detach().numpy()
    np.testing.assert_allclose(
        outputs["contributions"].detach().numpy(),
        outputs["expected"].detach().numpy() * retained,
        rtol=1e-6,
    )
    assert np.all(retained > 0)
    assert np.all(retained < 1)
    assert np.ptp(retained) > 0


def test_expected_matches_numpy_reference():
    aggregator = make_aggregator()
    embeddings, lung_ml, zone, side, metadata = random_bag(13)
    outputs = aggregator(embeddings, lung_ml, zone, side, metadata)

    factor = HB_FACTOR * COHB_FACTOR * learned_factor(aggregator, METADATA)
    assert float(outputs["global_factor"]) == pytest.approx(factor, rel=1e-5)
    expected = outputs["expected"].detach().numpy()
    assert expected.sum() == pytest.approx(27.5 * factor, rel=1e-5)

    # Healthy weight w_n = lung_ml_n exp(tanh(p(zone_n, side_n))), normalised in a bag.
    head = aggregator.perfusion_head
    weight = head.weight.detach().numpy().astype(np.float64)[0]
    bias = float(head.bias.detach())
    zone_np, side_np = zone.numpy().astype(int), side.numpy().astype(int)
    perfusion = weight[zone_np] + weight[4 + side_np] + bias
    healthy = lung_ml.numpy() * np.exp(np.tanh(perfusion))
    np.testing.assert_allclose(
        expected, 27.5 * factor * healthy / healthy.sum(), rtol=1e-5
    )


def test_fully_retained_bag_gives_reference():
    aggregator = force_retained_one(make_aggregator(global_factor="hb+cohb"))
    outputs = aggregator(*random_bag(9))
    assert np.all(outputs["retained_fraction"].detach().numpy() == 1.0)
    # 27.5 x 1.7 x 12 / 22.22 x 0.95
    assert float(outputs["dlco"]) == pytest.approx(23.9852, abs=1e-4)
    assert float(outputs["dlco"]) == pytest.approx(
        27.5 * HB_FACTOR * COHB_FACTOR, rel=1e-6
    )
    np.testing.assert_allclose(
        outputs["contributions"].detach().numpy(),
        outputs["expected"].detach().numpy(),
        rtol=1e-6,
    )


def test_duplicated_patches_keep_estimate():
    aggregator = make_aggregator()
    embeddings, lung_ml, zone, side, metadata = random_bag(7)
    single = aggregator(embeddings, lung_ml, zone, side, metadata)
    double = aggregator(
        torch.cat([embeddings, embeddings]),
        torch.cat([lung_ml, lung_ml]),
        torch.cat([zone, zone]),
        torch.cat([side, side]),
        metadata,
    )
    assert float(double["dlco"]) == pytest.approx(float(single["dlco"]), rel=1e-5)
    halves = double["contributions"].detach().numpy().reshape(2, 7)
    np.testing.assert_allclose(
        halves[0], single["contributions"].detach().numpy() / 2, rtol=1e-5
    )
    np.testing.assert_allclose(halves[0], halves[1], rtol=1e-6)


def test_missing_gli_uses_training_mean():
    metadata = list(METADATA)
    metadata[METADATA_INDEX["gli_dlco_predicted"]] = math.nan
    aggregator = force_retained_one(make_aggregator(global_factor="hb+cohb"))
    outputs = aggregator(*random_bag(6, metadata=metadata))
    assert float(outputs["dlco"]) == pytest.approx(
        GLI_MEAN * HB_FACTOR * COHB_FACTOR, rel=1e-6
    )
    assert bool(torch.isfinite(outputs["sigma"]).all())


def test_all_metadata_missing_uses_means():
    aggregator = force_retained_one(make_aggregator())
    outputs = aggregator(*random_bag(6, metadata=[math.nan] * M))
    # Hb and COHb factors are 1 when missing, and the learned factor gets z = 0.
    factor = learned_factor(aggregator, [math.nan] * M)
    assert float(outputs["dlco"]) == pytest.approx(GLI_MEAN * factor, rel=1e-5)


@pytest.mark.parametrize("volume_scale", [None, 2.5])
def test_image_only_reference_is_lung_volume(volume_scale):
    aggregator = force_retained_one(make_aggregator(use_metadata=False))
    embeddings, lung_ml, zone, side, metadata = random_bag(8)
    scale = None if volume_scale is None else torch.tensor(volume_scale)
    outputs = aggregator(embeddings, lung_ml, zone, side, metadata, scale)
    volume = float(lung_ml.sum()) * (volume_scale or 1.0)
    assert float(outputs["global_factor"]) == 1.0
    assert float(outputs["dlco"]) == pytest.approx(
        STATS["conductance_scale"] * volume, rel=1e-5
    )
    other = aggregator(embeddings, lung_ml, zone, side, metadata * 2, scale)
    assert torch.equal(other["dlco"], outputs["dlco"])


def test_volume_scale_ignored_with_metadata():
    # The reference is the subject's GLI value, so a subsample needs no volume scaling.
    aggregator = make_aggregator()
    bag = random_bag(8)
    plain = aggregator(*bag)["dlco"]
    scaled = aggregator(*bag, volume_scale=torch.tensor(2.5))["dlco"]
    assert float(scaled) == pytest.approx(float(plain), rel=1e-6)


def test_occluded_patch_changes_only_its_term():
    config = TrainConfig(
        pooling="retained_fraction",
        global_factor="hb+cohb+learned",
        encoder_channels=[4, 8],
        embedding_dim=8,
        hidden_dim=8,
    )
    torch.manual_seed(0)
    model = build_model(config, STATS).eval()
    model.aggregator.load_state_dict(make_aggregator().state_dict())
    generator = torch.Generator().manual_seed(5)
    count, occluded = 6, 2
    hu = torch.randint(-1000, -300, (count, 8, 8, 8), generator=generator)
    hu = hu.to(torch.int16)
    mask = torch.ones(count, 8, 8, 8, dtype=torch.uint8)
    lung_ml = torch.rand(count, generator=generator) * 20 + 1
    zone = torch.randint(0, 4, (count,), generator=generator).to(torch.uint8)
    side = torch.randint(1, 3, (count,), generator=generator).to(torch.uint8)
    metadata = torch.tensor(METADATA)

    def run(patches):
        with torch.no_grad():
            embeddings = model.encoder(patches, mask)
            return model.aggregator(embeddings, lung_ml, zone, side, metadata)

    before = run(hu)
    changed = hu.clone()
    changed[occluded] = 40  # soft-tissue density in place of lung
    after = run(changed)

    others = [n for n in range(count) if n != occluded]
    delta = (after["contributions"] - before["contributions"]).numpy()
    assert abs(delta[occluded]) > 1e-4
    np.testing.assert_array_equal(delta[others], 0.0)
    assert torch.equal(after["expected"], before["expected"])
    # float32 sums of about 3 ml/min/mmHg round at about 1e-6.
    assert float(after["dlco"] - before["dlco"]) == pytest.approx(
        float(delta[occluded]), abs=2e-6
    )


@pytest.mark.parametrize(
    "cohb, factor",
    [(1.0, 1.0), (0.4, 1.0), (6.0, 0.95), (11.0, 0.90), (math.nan, 1.0)],
)
def test_cohb_factor_values(cohb, factor):
    metadata = torch.full((M,), math.nan)
    metadata[METADATA_INDEX["cohb_percent"]] = cohb
    assert float(cohb_factor(metadata)) == pytest.approx(factor, abs=1e-6)


def test_cohb_factor_batches():
    metadata = torch.full((3, M), math.nan)
    metadata[:, METADATA_INDEX["cohb_percent"]] = torch.tensor([2.0, 6.0, math.nan])
    np.testing.assert_allclose(
        cohb_factor(metadata).numpy(), [0.99, 0.95, 1.0], rtol=1e-6
    )


@pytest.mark.parametrize(
    "mode, terms",
    [
        ("none", set()),
        ("hb", {"hb"}),
        ("learned", {"learned"}),
        ("hb+learned", {"hb", "learned"}),
        ("hb+cohb", {"hb", "cohb"}),
        ("hb+cohb+learned", {"hb", "cohb", "learned"}),
    ],
)
def test_global_factor_terms(mode, terms):
    assert TrainConfig(global_factor=mode).global_factor_terms == terms
    image_only = TrainConfig(global_factor=mode, use_metadata=False)
    assert image_only.global_factor_terms == set()


def test_every_global_factor_mode_tested():
    tested = {"none", "hb", "learned", "hb+learned", "hb+cohb", "hb+cohb+learned"}
    assert set(GLOBAL_FACTORS) == tested


@pytest.mark.parametrize("pooling", ["additive", "attention", "retained_fraction"])
@pytest.mark.parametrize("mode", GLOBAL_FACTORS)
def test_global_factor_by_mode(pooling, mode):
    aggregator = make_aggregator(pooling=pooling, global_factor=mode)
    outputs = aggregator(*random_bag(5))
    expected = 1.0
    if mode.startswith("hb"):
        expected *= HB_FACTOR
    if "+cohb" in mode:
        expected *= COHB_FACTOR
    if mode.endswith("learned"):
        expected *= learned_factor(aggregator, METADATA)
    assert float(outputs["global_factor"]) == pytest.approx(expected, rel=1e-5)


def test_hb_mode_leaves_out_cohb():
    # "cohb" contains "hb", so a substring test would apply COHb in the "hb" mode too.
    hb_only = make_aggregator(global_factor="hb")(*random_bag(5))
    with_cohb = make_aggregator(global_factor="hb+cohb")(*random_bag(5))
    assert float(hb_only["global_factor"]) == pytest.approx(HB_FACTOR, rel=1e-6)
    assert float(with_cohb["global_factor"]) == pytest.approx(
        HB_FACTOR * 0.95, rel=1e-6
    )


def test_without_zone_side_expected_follows_lung_volume():
    aggregator = make_aggregator(use_zone_side=False)
    embeddings, lung_ml, zone, side, metadata = random_bag(9)
    outputs = aggregator(embeddings, lung_ml, zone, side, metadata)
    expected = outputs["expected"].detach().numpy().astype(np.float64)
    shares = lung_ml.numpy().astype(np.float64) / float(lung_ml.sum())
    np.testing.assert_allclose(expected / expected.sum(), shares, rtol=1e-5)
    assert not hasattr(aggregator, "perfusion_head")
