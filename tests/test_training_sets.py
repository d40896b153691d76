"""Training sets: unions of corpora, their selection set and balance, the train × test matrix."""

import numpy as np
import pandas as pd
import pytest
import yaml

from scaa.plan import training_sets
from scaa.plan.config import ConfigError, check
from scaa.plan.grid import Cell, cell_spec, expand
from test_workflow import make_corpus, snakemake, write_config


def _config(**extra):
    cfg = {
        "datasets": {n: {"type": "folder", "root": "."} for n in ("a", "b", "c")},
        "train_datasets": ["a"], "eval_datasets": ["a", "b", "c"],
        "encoders": {"spectral": {"type": "spectral"}}, "losses": {"ce": {"type": "ce"}},
        "heads": {"logreg": {"type": "logreg"}},
        "ablation": {"encoder": ["spectral"], "loss": ["ce"], "head": ["logreg"], "seed": [0]},
    }
    cfg.update(extra)
    return cfg


def test_shorthand_long_form_and_leave_one_out_expand():
    cfg = _config(training_sets={"ab": ["a", "b"], "sel": {"corpora": ["a", "b"], "dev": ["c"], "balance": "corpus"},
                                 "loco": {"corpora": ["a", "b", "c"], "leave_one_out": True}})
    sets = training_sets.declared(cfg)
    assert sets["ab"] == {"corpora": ["a", "b"], "dev": ["a", "b"], "balance": "clip"}
    assert sets["sel"] == {"corpora": ["a", "b"], "dev": ["c"], "balance": "corpus"}
    assert sets["loco_without_b"] == {"corpora": ["a", "c"], "dev": ["a", "c"], "balance": "clip", "left_out": "b"}
    assert training_sets.expand_names(cfg, ["a", "loco", "ab"]) == \
        ["a", "loco_without_a", "loco_without_b", "loco_without_c", "ab"]
    assert training_sets.corpora_of(cfg, "sel") == (["a", "b"], ["c"])
    assert training_sets.corpora_of(cfg, "a") == (["a"], ["a"])
    assert training_sets.all_corpora(cfg, ["sel", "a"]) == ["a", "b", "c"]


def test_only_union_cells_carry_the_training_set_in_their_spec():
    cfg = _config(train_datasets=["a", "ab"], training_sets={"ab": ["a", "b"]})
    cells, skipped = expand(cfg)
    assert [c.train_dataset for c in cells] == ["a", "ab"] and not skipped
    plain, union = (cell_spec(cfg, c) for c in cells)
    assert "training_set" not in plain
    assert union["training_set"] == {"corpora": ["a", "b"], "dev": ["a", "b"], "balance": "clip"}
    # adding a corpus to the set changes only the union cell's spec
    cfg2 = _config(train_datasets=["a", "ab"], training_sets={"ab": ["a", "b", "c"]})
    assert cell_spec(cfg2, cells[0]) == plain and cell_spec(cfg2, cells[1]) != union


def test_vocoded_spoofs_are_refused_for_a_union():
    from scaa.plan.grid import why_not

    cfg = _config(train_datasets=["ab"], training_sets={"ab": ["a", "b"]})
    reason = why_not(cfg, Cell("ab", "spectral", "none", "ce", "logreg", "frozen", 0, "classic"))
    assert "union of corpora" in reason


@pytest.mark.parametrize("sets, train, message", [
    ({"a": ["b", "c"]}, ["a"], "also a dataset"),
    ({"x": ["a", "zzz"]}, ["x"], "'zzz', which is not defined"),
    ({"x": {"corpora": ["a", "b"], "balance": "speaker"}}, ["x"], "not one of clip, corpus"),
    ({"x": ["a", "a"]}, ["x"], "names a corpus twice"),
    ({"x": {"corpora": ["a", "b"], "leave_one_out": True}}, ["x"], "at least 3 corpora"),
    ({}, ["nope"], "neither a dataset nor a training set"),
])
def test_bad_training_sets_are_named(sets, train, message):
    cfg = _config(train_datasets=train, training_sets=sets)
    with pytest.raises(ConfigError, match=message):
        check(cfg)


def test_leave_one_out_needs_the_left_out_corpus_in_eval():
    cfg = _config(train_datasets=["loco"], eval_datasets=["a"],
                  training_sets={"loco": {"corpora": ["a", "b", "c"], "leave_one_out": True}})
    with pytest.raises(ConfigError, match="add b, c to eval_datasets"):
        check(cfg)


def test_matrix_picks_each_rows_cell_by_dev_eer_not_eval():
    from scaa.report.generalisation import matrix, set_info

    rows = []
    for head, dev, eer_a, eer_b in (("h1", 0.10, 0.30, 0.40), ("h2", 0.20, 0.05, 0.01)):
        for ds, eer in (("a", eer_a), ("b", eer_b)):
            rows.append({"train_dataset": "ab", "encoder": "e", "view": "none", "loss": "ce", "head": head,
                         "freeze": "frozen", "seed": 0, "resynth": "none", "eval_dataset": ds, "dev_eer": dev,
                         "eer": eer, "eer_lo": eer - 0.01, "eer_hi": eer + 0.01})
    m = matrix(pd.DataFrame(rows), set_info(["ab"], {"ab": {"corpora": ["a"], "dev": ["a"]}}))
    assert set(m["best_cell"]) == {"ab/e/none/ce/h1/frozen/0/none"}  # h1: better on dev, worse on eval
    assert m.set_index("eval_dataset")["eer"].to_dict() == {"a": 0.30, "b": 0.40}
    assert m.set_index("eval_dataset")["in_domain"].to_dict() == {"a": True, "b": False}


def _plan(run) -> dict:
    rows = [line.split() for line in (run.stdout + run.stderr).splitlines()]
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit() and r[0] not in ("total", "all")}


@pytest.mark.slow
def test_a_two_corpus_training_set_runs_to_the_matrix_and_a_third_corpus_plans_only_its_cells(tmp_path):
    for name, shift in (("one", 0), ("two", 400), ("three", 800)):
        make_corpus(tmp_path / name, per_split=16 if name != "two" else 8, shift=shift, broken=False)
    cfg = write_config(tmp_path)
    spec = yaml.safe_load(cfg.read_text())
    spec["datasets"] = {n: {"type": "asvspoof2019_la", "root": str(tmp_path / n)} for n in ("one", "two", "three")}
    spec["training_sets"] = {"both": {"corpora": ["one", "two"], "balance": "corpus"}}
    spec["train_datasets"] = ["one", "two", "both"]
    spec["eval_datasets"] = ["one", "two"]
    spec["ablation"] = {"encoder": ["spectral"], "view": ["none"], "loss": ["ce"], "head": ["logreg"],
                        "freeze": ["frozen"], "seed": [0]}
    spec["evaluation"].pop("reference", None)
    cfg.write_text(yaml.safe_dump(spec))
    run = snakemake(tmp_path, cfg)
    assert run.returncode == 0, run.stderr[-4000:]

    both = tmp_path / "results/runs/both/spectral/none/ce/logreg/frozen/seed0"
    info = yaml.safe_load((both / "config.yaml").read_text())
    assert info["training_set"]["corpora"] == ["one", "two"]
    corpora = info["training_info"]["corpora"]
    assert corpora["one"]["train"] == 16 and corpora["two"]["train"] == 8
    assert corpora["one"]["train_used"] == corpora["two"]["train_used"] == 16  # balance: corpus
    assert info["training_info"]["train_clips"] == 32 and info["training_info"]["dev_clips"] == 24
    dev = pd.read_parquet(both / "dev_scores.parquet")
    assert sorted({u.split("/")[0] for u in dev["utt_id"]}) == ["one", "two"] and dev["utt_id"].is_unique

    m = pd.read_csv(tmp_path / "results/ablations/generalisation.csv")
    assert len(m) == 6 and set(m["train_set"]) == {"one", "two", "both"}
    assert m[m["train_set"] == "both"]["in_domain"].all()
    assert not m[(m["train_set"] == "one") & (m["eval_dataset"] == "two")]["in_domain"].any()
    assert (m["eer_lo"] <= m["eer"]).all() and (m["eer"] <= m["eer_hi"]).all()
    page = (tmp_path / "results/ablations/summary.html").read_text()
    assert "Generalisation: training set × eval corpus" in page and "one+two" in page
    # the plain-dataset cells are untouched by the union: same as training on one alone
    summary = pd.read_csv(tmp_path / "results/ablations/summary.csv")
    assert len(summary) == 6

    # a third corpus joins the set: only the union's cell (and three's features) run again
    spec["training_sets"]["both"]["corpora"].append("three")
    cfg.write_text(yaml.safe_dump(spec))
    plan = snakemake(tmp_path, cfg, "-n", "--quiet", "rules")
    jobs = _plan(plan)
    assert jobs.get("train_cell") == 1 and jobs.get("score_dataset") == 2 and jobs.get("manifest") == 1, jobs
    assert jobs.get("extract_features") == 2  # three's two shards; nothing of one or two


def test_union_balance_by_corpus_repeats_the_smaller_corpus_seeded(tmp_path):
    from scaa import featstore
    from scaa.workflow.train import union_data

    shards, manifests = {}, []
    for corpus, n in (("big", 6), ("small", 4)):
        rows = [{"utt_id": f"u{i}", "path": f"/x/u{i}.wav", "label": i % 2, "split": split, "speaker": "s",
                 "attack": "-", "duration_s": 1.0} for split in ("train", "dev") for i in range(n)]
        for r in rows:
            r["utt_id"] = f"{r['split']}{r['utt_id']}"
        path = tmp_path / f"{corpus}.parquet"
        pd.DataFrame(rows).to_parquet(path)
        manifests.append(str(path))
        ids = [r["utt_id"] for r in rows]
        featstore.save(tmp_path / f"{corpus}.npz", ids, [np.full(3, i, np.float32) for i in range(len(ids))], "pooled")
        shards[corpus] = {"none": [str(tmp_path / f"{corpus}.npz")]}
    union = {"corpora": ["big", "small"], "dev": ["small"], "balance": "corpus"}
    a = union_data(union, manifests, shards, ["none"], seed=3)
    b = union_data(union, manifests, shards, ["none"], seed=3)
    train, rows, dev, dev_rows, counts = a
    assert counts["small"] == {"train": 4, "train_used": 6, "train_bonafide": 2, "train_spoof": 2,
                               "dev": 4, "dev_bonafide": 2, "dev_spoof": 2}
    assert len(train) == 12 and list(train.utt_id) == list(b[0].utt_id)
    small = [u for u in train.utt_id if u.startswith("small/")]
    assert sorted(set(small)) == [f"small/trainu{i}" for i in range(4)]  # every clip once, two again
    assert set(dev.utt_id) == {f"small/devu{i}" for i in range(4)}  # selection: small's dev only
    assert list(rows["utt_id"]) == list(train.utt_id)


def test_a_union_cells_feature_energy_sums_its_corpora(tmp_path):
    """The 'features for training' energy of a cell trained on a set adds the shards of
    every corpus it trains on (views and clean) and the clean dev shards of a dev-only one."""
    import json

    from scaa.workflow.energy import summary_columns

    def record(path, kwh):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"status": "ok", "energy_kwh": kwh, "co2_kg": kwh / 2, "clips": 10}))
        return str(path)

    paths = [record(tmp_path / f"results/features/{ds}/spectral/{view}/frozen/shard1-of-1.energy.json", kwh)
             for ds, view, kwh in (("a", "none", 1.0), ("a", "lowpass", 2.0), ("b", "none", 4.0),
                                   ("b", "lowpass", 8.0), ("c", "none", 16.0), ("c", "lowpass", 32.0))]
    run = tmp_path / "run"
    record(run / "energy_train.json", 0.5)
    record(run / "scores" / "a.energy.json", 0.1)
    row = {"train_dataset": "sel", "encoder": "spectral", "view": "aug", "freeze": "frozen", "eval_dataset": "a",
           "run_dir": str(run)}
    sets = {"sel": (["a", "b"], ["a", "c"])}
    out = summary_columns(pd.DataFrame([row]), paths, lambda v: ["none", "lowpass"], lambda name: sets[name])
    assert out.loc[0, "energy_features_train_kwh"] == 1 + 2 + 4 + 8 + 16  # c: its clean (dev) shards only
    plain = summary_columns(pd.DataFrame([{**row, "train_dataset": "a"}]), paths, lambda v: ["none", "lowpass"])
    assert plain.loc[0, "energy_features_train_kwh"] == 3.0


def test_leave_one_out_rows_are_shown_on_the_corpus_they_left_out():
    from scaa.report.generalisation import matrix, section, set_info

    rows = [{"train_dataset": t, "encoder": "e", "view": "none", "loss": "ce", "head": "h", "freeze": "frozen",
             "seed": 0, "resynth": "none", "eval_dataset": ds, "dev_eer": 0.1, "eer": eer, "eer_lo": eer - 0.05,
             "eer_hi": eer + 0.05}
            for t, eers in (("l_without_a", {"a": 0.41, "b": 0.12}), ("l_without_b", {"a": 0.13, "b": 0.37}))
            for ds, eer in eers.items()]
    sets = {"l_without_a": {"corpora": ["b"], "dev": ["b"], "left_out": "a"},
            "l_without_b": {"corpora": ["a"], "dev": ["a"], "left_out": "b"}}
    page = section(matrix(pd.DataFrame(rows), set_info(list(sets), sets)))
    loo = page.split("Leave one corpus out")[1]
    assert "41.0" in loo and "37.0" in loo and "12.0" not in loo and "13.0" not in loo
