"""Seed-pooled factor effects: pooled over seeds, CI from clips and seeds, honest labels."""
import numpy as np
import pandas as pd

from scaa.report.effects import NOT_SHOWN, factor_effects


def write_scores(run_dir, y, score):
    (run_dir / "scores").mkdir(parents=True)
    pd.DataFrame({"utt_id": [f"u{i}" for i in range(len(y))], "label": y, "score": score}).to_parquet(
        run_dir / "scores" / "ev.parquet")


def table(tmp_path, sep_by_head, seeds=(0, 1, 2), noise_by_seed=0.0, n=600):
    rng = np.random.default_rng(0)
    y = (np.arange(n) % 2).astype(int)
    rows = []
    for head, sep in sep_by_head.items():
        for s in seeds:
            jitter = np.random.default_rng([100 + s, ord(head[0])]).normal(0, noise_by_seed)
            score = (sep + jitter) * y + rng.standard_normal(n)
            run = tmp_path / head / f"seed{s}"
            write_scores(run, y, score)
            rows.append({"train_dataset": "d", "encoder": "e", "view": "none", "loss": "ce", "head": head,
                         "freeze": "frozen", "seed": s, "resynth": "none", "eval_dataset": "ev", "run_dir": str(run)})
    return pd.DataFrame(rows)


def test_a_clear_effect_is_shown_with_its_sign(tmp_path):
    eff = factor_effects(table(tmp_path, {"a": 0.2, "b": 2.0}), n_boot=200)
    row = eff.iloc[0]
    assert (row["factor"], row["level_a"], row["level_b"], row["n_seeds"]) == ("head", "a", "b", 3)
    assert row["effect"] < 0 and row["effect_hi"] < 0 and row["verdict"] == "b lowers EER"
    assert row["effect_lo"] <= row["effect"] <= row["effect_hi"]


def test_no_difference_is_labelled_not_shown(tmp_path):
    eff = factor_effects(table(tmp_path, {"a": 1.0, "b": 1.0}), n_boot=200)
    assert eff.iloc[0]["verdict"] == NOT_SHOWN


def test_seed_noise_widens_the_interval_and_shows_in_the_spread(tmp_path):
    quiet = factor_effects(table(tmp_path / "q", {"a": 1.0, "b": 1.3}), n_boot=300).iloc[0]
    noisy = factor_effects(table(tmp_path / "n", {"a": 1.0, "b": 1.3}, noise_by_seed=0.8), n_boot=300).iloc[0]
    assert noisy["seed_sd"] > quiet["seed_sd"]
    assert (noisy["effect_hi"] - noisy["effect_lo"]) > (quiet["effect_hi"] - quiet["effect_lo"])


def test_few_seeds_are_flagged_and_fusions_left_out(tmp_path):
    t = table(tmp_path, {"a": 0.5, "b": 1.5}, seeds=(0,))
    fused = t.iloc[:1].assign(encoder="fusion", head="f")
    eff = factor_effects(pd.concat([t, fused], ignore_index=True), n_boot=100)
    assert len(eff) == 1 and "only 1 seed" in eff.iloc[0]["note"]
