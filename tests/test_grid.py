import copy

import pytest
import yaml

from scaa import grid
from scaa.config import ConfigError, check

BASE = yaml.safe_load("""
seed: 0
datasets: {d: {type: folder, root: x}}
train_datasets: [d]
eval_datasets: [d]
encoders: {spectral: {type: spectral}, lfcc_frames: {type: spectral, output: frames}}
views: {none: {type: none}, lp: {type: none}}
view_sets: {none: [none], two: [none, lp]}
losses: {ce: {type: ce}}
heads: {logreg: {type: logreg}}
ablation: {encoder: [spectral, lfcc_frames], view: [none, two], loss: [ce], head: [logreg],
           freeze: [frozen, top1], seed: [0, 1]}
""")


def test_expand_counts_and_reasons():
    cells, skipped = grid.expand(BASE)
    assert len(cells) + len(skipped) == 2 * 2 * 2 * 2
    reasons = {(c.encoder, c.freeze): r for c, r in skipped}
    assert "no transformer layers" in reasons[("spectral", "top1")]
    assert "needs pooled features but encoder lfcc_frames gives frames" in reasons[("lfcc_frames", "frozen")]
    assert all(c.encoder == "spectral" and c.freeze == "frozen" for c in cells)
    assert len(cells) == 4


def test_run_dir_layout():
    cell = grid.Cell("d", "spectral", "none", "ce", "logreg", "frozen", 3)
    assert cell.run_dir == "results/runs/d/spectral/none/ce/logreg/frozen/seed3"


def test_cell_spec_holds_only_its_own_variants():
    cell = grid.Cell("d", "spectral", "two", "ce", "logreg", "frozen", 0)
    spec = grid.cell_spec(BASE, cell)
    assert spec["encoder"] == {"type": "spectral"} and list(spec["views"]) == ["none", "lp"]
    bigger = copy.deepcopy(BASE)
    bigger["encoders"]["other"] = {"type": "spectral", "lfcc": True}
    bigger["heads"]["logreg2"] = {"type": "logreg", "C": [1.0]}
    bigger["ablation"]["head"].append("logreg2")
    assert grid.cell_spec(bigger, cell) == spec  # adding a variant leaves existing specs alone
    assert len(grid.expand(bigger)[0]) == 8


def test_config_check_names_undefined_variants(tmp_path):
    good = copy.deepcopy(BASE)
    good["datasets"]["d"]["root"] = str(tmp_path)  # a root that exists
    bad = copy.deepcopy(good)
    bad["ablation"]["loss"] = ["ce", "nope"]
    bad["view_sets"]["two"] = ["none", "ghost"]
    with pytest.raises(ConfigError) as err:
        check(bad)
    assert "'nope'" in str(err.value) and "'ghost'" in str(err.value)
    check(good)


def test_exclude_rules_skip_with_reason():
    cfg = copy.deepcopy(BASE)
    cfg["ablation"]["exclude"] = [{"encoder": "spectral", "view": "two"}]
    cells, skipped = grid.expand(cfg)
    assert all(c.view == "none" for c in cells) and len(cells) == 2
    assert any("excluded by ablation.exclude: encoder=spectral, view=two" in r for _, r in skipped)
