"""Score fusion: the dev-fitted logistic regression finds the known optimum."""
import json

import numpy as np
import pandas as pd
import pytest

from scaa import fuser
from scaa.workflow import fusion, fusion_grid
from scaa.inference import fused


def gaussian_scores(n, means, seed=0, scale=1.0, shift=0.0):
    """Independent unit-variance scores, mean +m (spoof) / -m (bona fide), then an affine
    change of units per member: the Bayes log-odds is sum 2 m_i z_i with z the unit scores."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(int)
    sign = np.where(y == 1, 1.0, -1.0)
    z = np.stack([sign * m + rng.standard_normal(n) for m in means], axis=1)
    return z * np.asarray(scale) + np.asarray(shift), z, y


def frame(scores, y, split="dev"):
    return pd.DataFrame({"utt_id": [f"u{i}" for i in range(len(y))], "split": split, "label": y,
                         "attack": np.where(y == 1, "A01", "-"), "speaker": "s", "score": scores})


def test_fit_recovers_the_bayes_optimal_weights_in_raw_units():
    means, scale, shift = (1.0, 0.5), (3.0, 0.25), (2.0, -1.0)
    S, _, y = gaussian_scores(40_000, means, scale=scale, shift=shift)
    w, b = fuser.fit_weights(S, y, prior=0.5, l2=0.0)
    # log-odds = sum 2 m_i (s_i - shift_i) / scale_i
    want_w = np.array([2 * m / s for m, s in zip(means, scale)])
    want_b = -float(np.sum(want_w * np.asarray(shift)))
    assert w == pytest.approx(want_w, rel=0.05)
    assert b == pytest.approx(want_b, abs=0.1)


def test_useless_member_gets_a_near_zero_weight_and_fusion_beats_members():
    means = (1.0, 1.0, 0.0)
    S, _, y = gaussian_scores(20_000, means, seed=1)
    res = fuser.fit([{"run_dir": f"m{i}"} for i in range(3)], [frame(S[:, i], y) for i in range(3)])
    w = [m["weight"] for m in res["members"]]
    assert abs(w[2]) < 0.05 and w[0] == pytest.approx(2.0, rel=0.07) and w[1] == pytest.approx(2.0, rel=0.07)
    assert res["dev_eer"]["fused_in_sample"] < min(res["dev_eer"]["members"][:2])
    json.dumps(res)  # plain data


def test_apply_joins_on_utt_id_and_uses_the_saved_weights(tmp_path):
    S, _, y = gaussian_scores(400, (1.0, 0.7), seed=2)
    dev = [frame(S[:, 0], y), frame(S[:, 1], y)]
    spec = {"name": "f", "seed": 0, "members": [{"run_dir": "a"}, {"run_dir": "b"}]}
    for i, d in enumerate(dev):
        d.to_parquet(tmp_path / f"dev{i}.parquet")
    fz = fusion.fit_cell(spec, [str(tmp_path / f"dev{i}.parquet") for i in range(2)], tmp_path / "cell")
    ev = [frame(S[:, 0], y, "eval"), frame(S[:, 1], y, "eval").iloc[::-1]]  # other order: joined by id
    out = fuser.apply(fz, ev)
    want = fz["bias"] + S @ np.array([m["weight"] for m in fz["members"]])
    assert np.allclose(out.set_index("utt_id").loc[[f"u{i}" for i in range(400)], "score"], want)
    saved = json.loads((tmp_path / "cell" / "fusion.json").read_text())
    assert saved["fitted_on"] == "dev" and len(saved["members"]) == 2


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="both classes"):
        fuser.fit_weights(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        fuser.fit_weights(np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([0, 1]))


def test_expand_matches_members_per_seed_and_records_what_cannot_run():
    from scaa.plan.grid import Cell

    cells = [Cell("d", e, "none", "ce", h, "frozen", s) for e in ("a", "b") for h in ("svm", "mlp") for s in (0, 1)]
    cfg = {"ablation": {"seed": [0, 1, 2]},
           "fusions": {"ab": {"members": [{"encoder": "a", "head": "svm"}, {"encoder": "b", "head": "mlp"}]},
                       "vague": {"members": [{"encoder": "a"}, {"encoder": "b", "head": "mlp"}], "seeds": [0]}}}
    cells_ok, skipped = fusion_grid.expand(cfg, cells)
    assert [(f.name, f.seed) for f in cells_ok] == [("ab", 0), ("ab", 1)]
    assert cells_ok[0].members[1].head == "mlp" and cells_ok[0].run_dir == "results/fusions/ab/seed0"
    reasons = {(s["fusion"], s["seed"]): s["reason"] for s in skipped}
    assert "matches 0 runnable cells at seed 2" in reasons[("ab", 2)]
    assert "matches 2 runnable cells" in reasons[("vague", 0)]


def test_a_seed_independent_member_joins_the_fusion_of_every_seed():
    """logreg/svm cells are trained once (as the smallest seed) and stand for all seeds:
    a fusion with such a member still exists at every seed of the grid."""
    from scaa.plan.grid import Cell

    cells = [Cell("d", "a", "none", "ce", "svm", "frozen", 0)]
    cells += [Cell("d", "b", "none", "ce", "mlp", "frozen", s) for s in (0, 1, 2)]
    cfg = {"ablation": {"seed": [0, 1, 2]}, "heads": {"svm": {"type": "svm"}, "mlp": {"type": "mlp"}},
           "fusions": {"ab": {"members": [{"encoder": "a", "head": "svm"}, {"encoder": "b", "head": "mlp"}]}}}
    cells_ok, skipped = fusion_grid.expand(cfg, cells)
    assert [(f.name, f.seed) for f in cells_ok] == [("ab", 0), ("ab", 1), ("ab", 2)] and not skipped
    assert {f.members[0].seed for f in cells_ok} == {0}
    assert [f.members[1].seed for f in cells_ok] == [0, 1, 2]
    # an mlp member is seed-dependent: missing at a seed, the fusion at that seed is skipped
    cells_ok, skipped = fusion_grid.expand(cfg, cells[:-1])
    assert [f.seed for f in cells_ok] == [0, 1] and skipped[0]["seed"] == 2
    assert [f.row()["seeds"] for f in cells_ok] == ["0", "1"]


def test_a_fusion_of_seed_independent_members_is_one_cell_for_every_seed():
    from scaa.plan.grid import Cell

    cells = [Cell("d", "a", "none", "ce", "svm", "frozen", 0), Cell("d", "b", "none", "ce", "logreg", "frozen", 0)]
    cfg = {"ablation": {"seed": [0, 1, 2]}, "heads": {"svm": {"type": "svm"}, "logreg": {"type": "logreg"}},
           "fusions": {"ab": {"members": [{"encoder": "a", "head": "svm"}, {"encoder": "b", "head": "logreg"}]}}}
    cells_ok, skipped = fusion_grid.expand(cfg, cells)
    assert len(cells_ok) == 1 and not skipped
    assert cells_ok[0].seed == 0 and cells_ok[0].seeds == (0, 1, 2)
    assert cells_ok[0].row()["seeds"] == "0,1,2" and cells_ok[0].run_dir == "results/fusions/ab/seed0"


class FakeMember:
    """Scores a window by its RMS times a factor (stands in for a trained cell)."""

    def __init__(self, factor, run_dir):
        self.factor, self.run_dir, self.calls = factor, run_dir, 0

    def raw_scores(self, waves):
        self.calls += 1
        return np.array([self.factor * float(np.sqrt(np.mean(np.square(w)))) for w in waves])

    def warm_up(self, seconds=1.0):
        pass


def test_fused_detector_runs_each_member_once_per_file_and_combines_windows(tmp_path):
    from conftest import write_wav
    from scaa import calibration
    from scaa.inference.detector import ModelError

    path = write_wav(tmp_path / "x.wav", seconds=5.0)
    members = [FakeMember(2.0, "a"), FakeMember(-1.0, "b")]
    cal = calibration.fit("platt", np.array([-1.0, 0.0, 1.0, 2.0]), np.array([0, 0, 1, 1]))
    det = fused.FusedDetector(members, np.array([0.5, 3.0]), 0.25, cal, 0.0, tmp_path)
    out = det.score_file(path, window_s=2.0, hop_s=1.0)
    assert [m.calls for m in members] == [1, 1]
    assert len(out["windows"]) == 4 and len(out["members"]) == 2
    want = np.mean([w["score"] for w in out["windows"]])
    assert out["score"] == pytest.approx(want)
    assert out["decision"] == ("spoof" if out["score"] >= 0.0 else "bonafide")
    assert out["score"] == pytest.approx(0.25 + 0.5 * out["members"][0]["score"] + 3.0 * out["members"][1]["score"])
    assert not fused.FusedDetector.is_fusion(tmp_path)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "fusion.json").write_text("{not json")
    assert fused.FusedDetector.is_fusion(tmp_path / "f")
    with pytest.raises(ModelError, match="checksums.json: missing"):  # unsealed: refused before reading
        fused.FusedDetector.from_dir(tmp_path / "f")
    from scaa import modeldir

    modeldir.seal(tmp_path / "f")
    with pytest.raises(ModelError, match="not a usable fusion"):
        fused.FusedDetector.from_dir(tmp_path / "f")
