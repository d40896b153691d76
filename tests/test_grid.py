import copy

import pytest
import yaml

from scaa.plan import grid
from scaa.plan.config import ConfigError, check

BASE = yaml.safe_load("""
seed: 0
datasets: {d: {type: folder, root: x}}
train_datasets: [d]
eval_datasets: [d]
encoders: {spectral: {type: spectral}, lfcc_frames: {type: spectral, output: frames}}
views: {none: {type: none}, lp: {type: none}}
view_sets: {none: [none], two: [none, lp]}
losses: {ce: {type: ce}}
heads: {logreg: {type: logreg, cv_seed: null}}  # the seed drives its CV split: seeds make cells
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
    bigger["heads"]["logreg2"] = {"type": "logreg", "C": [1.0], "cv_seed": None}
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


SEEDS = yaml.safe_load("""
seed: 0
datasets: {d: {type: folder, root: x}}
train_datasets: [d]
eval_datasets: [d]
encoders: {spectral: {type: spectral}, lfcc_frames: {type: spectral, output: frames}}
views: {none: {type: none}}
view_sets: {none: [none]}
losses: {ce: {type: ce}}
heads: {logreg: {type: logreg}, logreg_cv: {type: logreg, cv_seed: null}, svm: {type: svm},
        svm_sub: {type: svm, max_train: 100}, mlp: {type: mlp}, gmm: {type: gmm},
        gmm_fixed: {type: gmm, init_seed: 3}}
ablation: {encoder: [spectral, lfcc_frames], view: [none], loss: [ce],
           head: [logreg, logreg_cv, svm, svm_sub, mlp, gmm, gmm_fixed], freeze: [frozen], seed: [2, 0, 1]}
""")


def test_seed_independent_cells_run_once_and_stand_for_every_seed():
    cells, skipped = grid.expand(SEEDS)
    per_head = {h: sorted(c.seed for c in cells if c.head == h) for h in SEEDS["heads"]}
    # heads whose fit ignores the seed for these parameters: one cell, the smallest seed
    assert per_head["logreg"] == per_head["svm"] == per_head["gmm_fixed"] == [0]
    # the seed changes something: the CV split, the subsample, the EM initialisation, torch
    assert per_head["logreg_cv"] == per_head["svm_sub"] == per_head["gmm"] == per_head["mlp"] == [0, 1, 2]
    assert not any("seed" in why for _, why in skipped)  # collapsed seeds are not "could not run"
    groups = grid.seed_groups(SEEDS)
    assert groups == {c.run_dir: [0, 1, 2] for c in cells if c.head in ("logreg", "svm", "gmm_fixed")}
    other = grid.Cell("d", "spectral", "none", "ce", "logreg", "frozen", 2)
    assert grid.representative(SEEDS, other).seed == 0
    mlp = grid.Cell("d", "spectral", "none", "ce", "mlp", "frozen", 2)
    assert grid.representative(SEEDS, mlp) == mlp
    one_seed = copy.deepcopy(SEEDS)
    one_seed["ablation"]["seed"] = [5]
    assert grid.seed_groups(one_seed) == {}
    assert sorted({c.seed for c in grid.expand(one_seed)[0]}) == [5]


def test_reference_with_a_collapsed_seed_resolves_to_the_cell_that_ran():
    import pandas as pd

    from scaa.report.figures import reference_mask
    from scaa.report.table import match_cell

    table = pd.DataFrame([{"head": "logreg", "seed": 0, "seeds": "0,1,2"},
                          {"head": "mlp", "seed": 0, "seeds": "0"}, {"head": "mlp", "seed": 1, "seeds": "1"}])
    assert match_cell(table, {"head": "logreg", "seed": 2}).tolist() == [True, False, False]
    assert match_cell(table, {"head": "mlp", "seed": 1}).tolist() == [False, False, True]
    assert reference_mask(table, {"head": "logreg", "seed": 1}).tolist() == [True, False, False]
    assert not match_cell(table, {"head": "mlp", "seed": 2}).any()


def test_reference_cell_is_the_runnable_cell_it_names():
    config = copy.deepcopy(BASE)
    config["evaluation"] = {"reference": {"train_dataset": "d", "encoder": "spectral", "view": "two", "loss": "ce",
                                          "head": "logreg", "freeze": "frozen", "seed": 1}}
    assert grid.reference_cell(config) == grid.Cell("d", "spectral", "two", "ce", "logreg", "frozen", 1)
    # a seed-independent head is trained once, as the smallest seed: that cell stands in for seed 1
    config["heads"]["logreg"] = {"type": "logreg"}
    assert grid.reference_cell(config) == grid.Cell("d", "spectral", "two", "ce", "logreg", "frozen", 0)
    config["evaluation"]["reference"]["encoder"] = "lfcc_frames"  # a cell the grid cannot run
    assert grid.reference_cell(config) is None
    del config["evaluation"]
    assert grid.reference_cell(config) is None


def test_run_dir_template_is_shared():
    cell = grid.Cell("d", "spectral", "none", "ce", "logreg", "frozen", 3, "classic")
    assert cell.run_dir == grid.RUN_DIR.format(**{**cell.as_dict(), "train_dataset": cell.train_key})
    assert grid.run_dir_of({**cell.as_dict(), "train_dataset": "d+classic"}, root="x") == (
        "x/d+classic/spectral/none/ce/logreg/frozen/seed3")
    assert grid.RUN_AXES == tuple(a for a in grid.AXES if a != "resynth")

