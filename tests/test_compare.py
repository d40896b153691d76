import argparse

import numpy as np
import pandas as pd
import pytest

from scaa.report import compare
from scaa import metrics


def _study(tmp_path, n=120):
    """Two groups (good: scores track labels; noisy: weaker) x seeds 0, 1; a manifest with two attacks."""
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 3 != 0).astype(int)
    ids = [f"u{i:03d}" for i in range(n)]
    attack = np.where(y == 1, np.where(np.arange(n) % 2 == 0, "A07", "A08"), "-")
    manifest = pd.DataFrame({"utt_id": ids, "label": y, "attack": attack, "split": "eval"})
    rows = []
    for group, signal in (("top1", 2.0), ("frozen", 0.7)):
        for seed in (0, 1):
            run = tmp_path / group / f"seed{seed}"
            (run / "scores").mkdir(parents=True)
            s = signal * y + rng.standard_normal(n)
            pd.DataFrame({"utt_id": ids, "split": "eval", "score": s}).to_parquet(run / "scores" / "ds.parquet")
            rows.append({"train_dataset": "ds", "encoder": "whisper", "view": "none", "loss": "ce", "head": "mlp",
                         "freeze": group, "seed": seed, "eval_dataset": "ds", "run_dir": str(run)})
    return pd.DataFrame(rows), manifest


def test_pooled_pair_mean_over_seeds_and_ci(tmp_path):
    table, manifest = _study(tmp_path)
    res = compare.pooled_pair(table, manifest, {"freeze": "top1"}, {"freeze": "frozen"}, "ds", n_boot=200)
    eers = {}
    for g in ("top1", "frozen"):
        eers[g] = np.mean([metrics.eer(pd.read_parquet(tmp_path / g / f"seed{s}" / "scores" / "ds.parquet")["score"].to_numpy(),
                                 manifest["label"].to_numpy()) for s in (0, 1)])
    assert res["seeds"] == [0, 1]
    assert res["a"] == pytest.approx(eers["top1"]) and res["b"] == pytest.approx(eers["frozen"])
    assert res["diff"] < 0 and res["ci_low"] <= res["diff"] <= res["ci_high"]
    same = compare.pooled_pair(table, manifest, {"freeze": "top1"}, {"freeze": "top1"}, "ds", n_boot=50)
    assert same["diff"] == 0 and same["ci_low"] == same["ci_high"] == 0


def test_group_eers_per_attack_and_errors(tmp_path):
    table, manifest = _study(tmp_path)
    r = compare.group_eers(table, manifest, {"freeze": "frozen"}, "ds")
    assert r["seeds"] == [0, 1] and set(r) == {"seeds", "pooled", "A07", "A08"}
    md = compare.markdown_cells([("frozen", r)])
    assert "A07" in md and "frozen" in md
    with pytest.raises(ValueError, match="several cells per seed"):
        compare.select(table, {"encoder": "whisper"}, "ds")
    with pytest.raises(ValueError, match="key=value"):
        compare.parse_filter("freeze")


def test_cli_prints_markdown(tmp_path, capsys):
    table, manifest = _study(tmp_path)
    table.to_csv(tmp_path / "summary.csv", index=False)
    manifest.to_parquet(tmp_path / "m.parquet")
    p = argparse.ArgumentParser()
    compare.add_arguments(p)
    args = p.parse_args([str(tmp_path / "summary.csv"), "--manifest", str(tmp_path / "m.parquet"), "--n-boot", "50",
                         "--pair", "top1 vs frozen", "freeze=top1", "freeze=frozen", "--cells", "top1", "freeze=top1"])
    assert compare.main(args) == 0
    out = capsys.readouterr().out
    assert "| top1 vs frozen | 0, 1 |" in out and "| top1 | 0, 1 |" in out


def test_a_seed_independent_cell_pairs_with_every_seed_it_stands_for(tmp_path):
    table, manifest = _study(tmp_path)
    table["seeds"] = table["seed"].astype(str)
    # the frozen group trained once (seed 0) and stands for seeds 0 and 1
    once = table[(table["freeze"] == "top1") | (table["seed"] == 0)].copy()
    once.loc[once["freeze"] == "frozen", "seeds"] = "0,1"
    res = compare.pooled_pair(once, manifest, {"freeze": "top1"}, {"freeze": "frozen"}, "ds", n_boot=100)
    frozen0 = metrics.eer(pd.read_parquet(tmp_path / "frozen" / "seed0" / "scores" / "ds.parquet")["score"].to_numpy(),
                          manifest["label"].to_numpy())
    assert res["seeds"] == [0, 1] and res["b"] == pytest.approx(frozen0)
    assert list(compare.select(once, {"freeze": "frozen"}, "ds").index) == [0, 1]
