import math

import numpy as np
import pytest
import torch

from dlco_train.aggregators import cotes_hb_factor
from dlco_train.bags import NO_DATA_HU
from dlco_train.config import TrainConfig
from dlco_train.manifest import METADATA_FEATURES, METADATA_INDEX
from dlco_train.model import (
    DENSITY_FEATURE_GAIN,
    PatchEncoder,
    build_model,
    lung_density_features,
)

M = len(METADATA_FEATURES)
STATS = {
    "num_zone_codes": 4,
    "metadata_mean": [
        *(50.0, 0.5, 170.0, 75.0, 25.0, 0.3, 0.4, 0.3, 20.0, 14.0, 2.0),
        26.0,  # gli_dlco_predicted
    ],
    "metadata_std": [
        *(10.0, 0.5, 10.0, 12.0, 4.0, 0.5, 0.5, 0.5, 15.0, 1.5, 1.0),
        5.0,
    ],
    "conductance_scale": 0.005,
    "log_variance_init": math.log(25.0),
}


def make_model(**overrides):
    values = dict(encoder_channels=[4, 8], embedding_dim=8, hidden_dim=8)
    values.update(overrides)
    torch.manual_seed(0)
    return build_model(TrainConfig(**values), STATS).eval()


def random_bag(count, dim=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (
        torch.randn(count, dim, generator=generator),
        torch.rand(count, generator=generator) * 30 + 1,
        torch.randint(0, 4, (count,), generator=generator).to(torch.uint8),
        torch.randint(1, 3, (count,), generator=generator).to(torch.uint8),
        torch.tensor([60.0, 1, 175, 80, 26.1, 0, 1, 0, 30, 13.5, 2.5, 27.0]),
    )


def randomise(module):
    """Give zero-initialised heads random weights so outputs depend on every input."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    return module


def test_encoder_output_shape():
    encoder = PatchEncoder(channels=(4, 8, 16), embedding_dim=12)
    hu = torch.randint(-1024, 500, (3, 16, 16, 16)).to(torch.int16)
    mask = torch.randint(0, 3, (3, 16, 16, 16)).to(torch.uint8)
    assert encoder(hu, mask).shape == (3, 12)


def test_encoder_clips_hu():
    encoder = PatchEncoder(channels=(4,), embedding_dim=4).eval()
    mask = torch.ones(1, 8, 8, 8)
    low = encoder(torch.full((1, 8, 8, 8), -3000.0), mask)
    clipped = encoder(torch.full((1, 8, 8, 8), -1024.0), mask)
    assert torch.allclose(low, clipped)


def test_encoder_marks_no_data():
    encoder = PatchEncoder(channels=(4,), embedding_dim=4).eval()
    mask = torch.zeros(1, 8, 8, 8)
    air = torch.full((1, 8, 8, 8), -1024.0)
    no_data = air.clone()
    no_data[:, :4] = NO_DATA_HU
    assert not torch.allclose(encoder(air, mask), encoder(no_data, mask))


def test_density_features_of_uniform_lung():
    hu = torch.full((2, 8, 8, 8), -900.0)
    hu[1] = -970.0
    hu[1, 0] = -400.0
    lung = torch.ones(2, 8, 8, 8)
    lung[:, :, :, :4] = 0
    scaled = (hu.clamp(-1024, 600) + 1024) * (2 / 1624) - 1
    features = lung_density_features(hu, scaled, lung) / DENSITY_FEATURE_GAIN
    assert features[0, 0] == pytest.approx((-900 + 1024) * 2 / 1624 - 1)
    assert features[0, 1] == 0
    assert features[0, 2] == 0
    assert features[1, 1] == pytest.approx(7 / 8)
    assert features[1, 2] == pytest.approx(1 / 8)


def test_density_features_without_lung_are_zero():
    hu = torch.full((1, 8, 8, 8), -1000.0)
    features = lung_density_features(hu, hu / 1000, torch.zeros(1, 8, 8, 8))
    assert torch.equal(features, torch.zeros(1, 3))


def scaled_hu(hu):
    return (hu.clamp(-1024, 600) + 1024) * (2 / 1624) - 1


EDGES = (-950.0, -850.0, -700.0)


def test_density_histogram_hand_counts():
    # 4^3 patch whose first two slices (32 voxels) are lung. A value on an edge belongs
    # to the bin above it.
    hu = torch.full((1, 4, 4, 4), -980.0)  # outside the lung: must not count
    hu[0, 0] = -1000.0  # 16 voxels below -950
    hu[0, 1, 0:2] = -950.0  # 8 voxels in [-950, -850)
    hu[0, 1, 2] = -850.0  # 4 voxels in [-850, -700)
    hu[0, 1, 3] = -700.0  # 4 voxels at or above -700
    lung = torch.zeros(1, 4, 4, 4)
    lung[0, :2] = 1.0
    features = lung_density_features(hu, scaled_hu(hu), lung, EDGES)
    features = features / DENSITY_FEATURE_GAIN
    assert features.shape == (1, 5)
    # Mean lung HU (16 x -1000 + 8 x -950 + 4 x -850 + 4 x -700) / 32 = -931.25.
    assert features[0, 0].item() == pytest.approx((-931.25 + 1024) * 2 / 1624 - 1)
    assert features[0, 1].item() == pytest.approx(0.5)
    assert features[0, 2].item() == pytest.approx(0.25)
    assert features[0, 3].item() == pytest.approx(0.125)
    assert features[0, 4].item() == pytest.approx(0.125)


def test_density_histogram_shares_sum_to_one():
    generator = torch.Generator().manual_seed(4)
    hu = torch.randint(-1100, 300, (5, 8, 8, 8), generator=generator).float()
    hu[:, 0, 0, :4] = torch.tensor(EDGES + (-1024.0,))  # values on the edges
    lung = (torch.rand(5, 8, 8, 8, generator=generator) > 0.4).float()
    lung[:, 0, 0, :4] = 1.0
    features = lung_density_features(hu, scaled_hu(hu), lung, EDGES)
    shares = features[:, 1:] / DENSITY_FEATURE_GAIN
    np.testing.assert_allclose(shares.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    bins = np.digitize(hu.numpy(), EDGES)  # bin k contains e_k <= hu < e_k+1
    lung_np = lung.numpy().astype(bool)
    for patch in range(5):
        counts = np.bincount(bins[patch][lung_np[patch]], minlength=4)
        np.testing.assert_allclose(
            shares[patch].numpy(), counts / lung_np[patch].sum(), rtol=1e-6
        )


def test_density_histogram_without_lung_is_zero():
    hu = torch.full((2, 8, 8, 8), -900.0)
    lung = torch.zeros(2, 8, 8, 8)
    lung[1, :2] = 1.0
    features = lung_density_features(hu, scaled_hu(hu), lung, EDGES)
    assert torch.equal(features[0], torch.zeros(5))
    assert features[1, 2].item() == pytest.approx(DENSITY_FEATURE_GAIN)


def test_encoder_density_feature_count():
    def project_inputs(**overrides):
        model = make_model(encoder_density_features=True, **overrides)
        return model.encoder.project.in_features

    assert make_model().encoder.project.in_features == 8
    assert project_inputs() == 8 + 3
    assert project_inputs(encoder_density_edges=list(EDGES)) == 8 + 5


def test_histogram_separates_equal_mean_patches():
    # Uniform -800 HU against half -830, half -770: same mean, no LAA-950 or HAA voxels,
    # so only a bin edge at -800 separates them.
    hu = torch.full((2, 8, 8, 8), -800.0)
    hu[1, :4] = -830.0
    hu[1, 4:] = -770.0
    lung = torch.ones(2, 8, 8, 8)
    default = lung_density_features(hu, scaled_hu(hu), lung)
    histogram = lung_density_features(hu, scaled_hu(hu), lung, (-850.0, -800.0))
    assert default.shape == (2, 3)
    torch.testing.assert_close(default[0], default[1])
    shares = histogram[:, 1:] / DENSITY_FEATURE_GAIN
    np.testing.assert_allclose(shares[0].numpy(), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(shares[1].numpy(), [0.0, 0.5, 0.5])


def test_encoder_density_features_see_uniform_density():
    encoder = PatchEncoder(channels=(4,), embedding_dim=4, density_features=True)
    mask = torch.ones(2, 8, 8, 8)
    hu = torch.full((2, 8, 8, 8), -900.0)
    hu[1] = -700.0
    embeddings = encoder.eval()(hu, mask)
    assert not torch.allclose(embeddings[0], embeddings[1])


@pytest.mark.parametrize("pooling", ["additive", "attention"])
def test_aggregator_output_shapes(pooling):
    model = make_model(pooling=pooling)
    outputs = model.aggregator(*random_bag(7))
    assert outputs["dlco"].shape == (1,)
    assert outputs["sigma"].shape == (1,)
    assert outputs["contributions"].shape == (7,)
    assert outputs["patch_weights"].shape == (7,)
    assert outputs["conductance_per_ml"].shape == (7,)
    assert outputs["bag_embedding"].shape == (8,)


@pytest.mark.parametrize("pooling", ["additive", "attention"])
def test_contributions_sum_to_estimate(pooling):
    model = randomise(make_model(pooling=pooling, global_factor="hb+learned"))
    outputs = model.aggregator(*random_bag(11))
    assert float(outputs["contributions"].sum()) == pytest.approx(
        float(outputs["dlco"]), rel=1e-5
    )
    assert float(outputs["patch_weights"].sum()) == pytest.approx(1.0, rel=1e-5)


def test_additive_contribution_is_physical():
    model = randomise(make_model(pooling="additive", global_factor="hb"))
    embeddings, lung_ml, zone, side, metadata = random_bag(5)
    outputs = model.aggregator(embeddings, lung_ml, zone, side, metadata)
    expected = outputs["global_factor"] * lung_ml * outputs["conductance_per_ml"]
    assert torch.allclose(outputs["contributions"], expected)
    assert bool((outputs["conductance_per_ml"] > 0).all())


def test_additive_initial_estimate_uses_scale():
    model = make_model(pooling="additive", global_factor="none")
    embeddings, lung_ml, zone, side, metadata = random_bag(6)
    outputs = model.aggregator(embeddings, lung_ml, zone, side, metadata)
    expected = STATS["conductance_scale"] * float(lung_ml.sum())
    assert float(outputs["dlco"]) == pytest.approx(expected, rel=1e-5)


def test_attention_weights_sum_to_one():
    model = randomise(make_model(pooling="attention"))
    outputs = model.aggregator(*random_bag(9))
    weights = outputs["patch_weights"]
    assert float(weights.sum()) == pytest.approx(1.0, rel=1e-6)
    assert bool((weights > 0).all())
    assert float(weights.std()) > 0


@pytest.mark.parametrize("pooling", ["additive", "attention"])
def test_metadata_changes_output(pooling):
    model = randomise(make_model(pooling=pooling, global_factor="none"))
    embeddings, lung_ml, zone, side, metadata = random_bag(6)
    older = metadata.clone()
    older[METADATA_INDEX["age"]] = 80.0
    first = model.aggregator(embeddings, lung_ml, zone, side, metadata)["dlco"]
    second = model.aggregator(embeddings, lung_ml, zone, side, older)["dlco"]
    assert not torch.allclose(first, second)


def test_image_only_ignores_metadata():
    model = randomise(make_model(use_metadata=False))
    embeddings, lung_ml, zone, side, metadata = random_bag(6)
    first = model.aggregator(embeddings, lung_ml, zone, side, metadata)["dlco"]
    second = model.aggregator(embeddings, lung_ml, zone, side, metadata * 2)["dlco"]
    assert torch.equal(first, second)


def test_missing_metadata_tolerated():
    model = randomise(make_model(global_factor="hb+learned"))
    embeddings, lung_ml, zone, side, _ = random_bag(4)
    outputs = model.aggregator(
        embeddings, lung_ml, zone, side, torch.full((M,), float("nan"))
    )
    assert bool(torch.isfinite(outputs["dlco"]).all())
    assert bool(torch.isfinite(outputs["sigma"]).all())


def test_unknown_zone_code_tolerated():
    model = randomise(make_model())
    embeddings, lung_ml, _, side, metadata = random_bag(3)
    zone = torch.tensor([0, 9, 255], dtype=torch.uint8)
    assert bool(
        torch.isfinite(
            model.aggregator(embeddings, lung_ml, zone, side, metadata)["dlco"]
        ).all()
    )


def test_volume_scale_multiplies_estimate():
    model = randomise(make_model())
    bag = random_bag(5)
    plain = model.aggregator(*bag)["dlco"]
    scaled = model.aggregator(*bag, volume_scale=torch.tensor(2.5))
    assert float(scaled["dlco"]) == pytest.approx(2.5 * float(plain), rel=1e-5)
    assert float(scaled["contributions"].sum()) == pytest.approx(
        float(scaled["dlco"]), rel=1e-5
    )


def test_cotes_factor_reference_values():
    metadata = torch.full((4, M), float("nan"))
    metadata[:, METADATA_INDEX["hb_g_dl"]] = torch.tensor(
        [14.6, 13.4, 10.0, float("nan")]
    )
    metadata[:, METADATA_INDEX["sex_male"]] = torch.tensor([1.0, 0.0, 1.0, 1.0])
    factor = cotes_hb_factor(metadata)
    assert factor[0].item() == pytest.approx(1.0, abs=1e-3)
    assert factor[1].item() == pytest.approx(1.0, abs=1e-3)
    assert factor[2].item() == pytest.approx(17.0 / 20.22, rel=1e-5)
    assert factor[3].item() == 1.0


def test_model_forward_batches_bags():
    model = make_model(aux_loss_weights={"age": 0.1, "sex": 0.1})
    counts = [3, 5]
    hu = torch.randint(-1000, 0, (8, 8, 8, 8)).to(torch.int16)
    mask = torch.ones(8, 8, 8, 8, dtype=torch.uint8)
    outputs = model(
        hu,
        mask,
        torch.full((8,), 4.0),
        torch.ones(8, dtype=torch.uint8),
        torch.ones(8, dtype=torch.uint8),
        counts,
        torch.zeros(2, M),
    )
    assert outputs["dlco"].shape == (2,)
    assert outputs["contributions"].shape == (8,)
    assert outputs["aux_age"].shape == (2,)
    assert outputs["aux_sex"].shape == (2,)
