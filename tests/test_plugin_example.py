"""The example plugin in examples/plugins registers a loss that trains an mlp head end to end."""
from pathlib import Path

import numpy as np
import pytest
import torch

from scaa import metrics
from scaa.featstore import Features
from scaa.registry import HEADS, LOSSES, RegistryError, load_plugins

PLUGINS = Path(__file__).resolve().parents[1] / "examples" / "plugins"


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def synthetic(n, seed):
    r = np.random.default_rng(seed)
    y = (r.random(n) < 0.3).astype(int)
    X = r.normal(size=(n, 10)).astype(np.float32)
    X[:, :3] += 1.5 * y[:, None]
    return Features(np.array([f"p{seed}_{i}" for i in range(n)]), X, y=y)


def test_focal_plugin_trains_mlp_end_to_end(plugin_path, tmp_path):
    load_plugins(["my_loss"])
    assert "focal" in LOSSES
    train, dev = synthetic(300, 0), synthetic(150, 1)
    rows = []
    head = HEADS.build({"type": "mlp", "hidden": [16], "epochs": 6, "batch_size": 32, "lr": 1e-2,
                        "loss": {"type": "focal", "gamma": 2.0}})
    head.fit(train, dev=dev, log=rows.append)
    assert "train_focal" in rows[0]
    scores = head.decision_function(dev.X)
    assert metrics.eer(scores, dev.y) < 0.3
    head.save(tmp_path)
    loaded = HEADS.get("mlp").load(tmp_path)  # the saved loss spec names the plugin loss
    assert np.array_equal(loaded.decision_function(dev.X), scores)


def test_missing_plugin_is_a_clear_error():
    with pytest.raises(RegistryError, match="could not be imported"):
        load_plugins(["no_such_plugin_module_xyz"])
