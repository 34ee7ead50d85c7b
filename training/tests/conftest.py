"""Shared fixtures: a small synthetic cohort and a configuration sized for CPU tests."""

from __future__ import annotations

import pytest

from dlco_train.config import TrainConfig
from dlco_train.testing import write_synthetic_cohort


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """Return (bags_dir, manifest_path) of 16 toy subjects with 8-voxel patches."""
    root = tmp_path_factory.mktemp("cohort")
    return write_synthetic_cohort(root, subject_count=16, seed=3, patch_counts=(10, 20))


@pytest.fixture(scope="session")
def make_config():
    """Return a factory of configurations small enough for sub-second epochs."""
    return _tiny_config


def _tiny_config(**overrides) -> TrainConfig:
    values = dict(
        encoder_channels=[4, 8],
        embedding_dim=8,
        hidden_dim=8,
        patches_per_bag=6,
        bags_per_batch=4,
        epochs=2,
        learning_rate=3e-3,
        num_threads=1,
    )
    values.update(overrides)
    return TrainConfig(**values)
