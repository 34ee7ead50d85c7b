import json
import math
import os

import pytest

from dlco_train.config import TrainConfig, load_config

CONFIG_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs"
)


@pytest.mark.parametrize("name", sorted(os.listdir(CONFIG_DIR)))
def test_shipped_config_loads(name):
    config = load_config(os.path.join(CONFIG_DIR, name))
    assert isinstance(config, TrainConfig)


def test_config_rejects_unknown_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"learning_rat": 0.1}))
    with pytest.raises(
        ValueError, match="unknown config key\\(s\\) \\['learning_rat'\\]"
    ):
        load_config(path)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pooling": "max"}, "pooling 'max' is not one of"),
        ({"global_factor": "cohb"}, "global_factor 'cohb' is not one of"),
        ({"aux_loss_weights": {"fev1": 1.0}}, "unknown target\\(s\\) \\['fev1'\\]"),
        ({"hu_clip": [600, -1024]}, "hu_clip \\[600, -1024\\] must be"),
        ({"patches_per_bag": 0}, "patches_per_bag must be at least 1, got 0"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "must be in \\[0, 1\\)"),
        ({"encoder_density_edges": [-900, -900]}, "\\[-900, -900\\] must be finite"),
        ({"encoder_density_edges": [-700, -900]}, "\\[-700, -900\\] must be finite"),
        ({"encoder_density_edges": [-950, math.nan]}, "\\[-950, nan\\] must be finite"),
        ({"encoder_density_edges": ["-950"]}, "\\['-950'\\] must be finite"),
        ({"encoder_density_edges": [-950]}, "needs encoder_density_features true"),
    ],
)
def test_config_rejects_invalid_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**overrides)


def test_overrides_replace_file_values(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"seed": 3, "epochs": 5}))
    config = load_config(path, seed=9, epochs=None)
    assert config.seed == 9
    assert config.epochs == 5


def test_image_only_disables_global_factor():
    assert (
        TrainConfig(use_metadata=False, global_factor="hb").effective_global_factor
        == "none"
    )


def test_density_edges_accept_increasing():
    edges = [-950.0, -850.0, -700.0]
    config = TrainConfig(encoder_density_features=True, encoder_density_edges=edges)
    assert config.encoder_density_edges == edges
