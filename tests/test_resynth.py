"""Vocoded training spoofs: train-only rows named by their generator, deterministic per seed."""
import numpy as np
import pandas as pd
import pytest

from conftest import tone, write_wav
from scaa.plan import grid
from scaa.workflow import resynth
from scaa.manifest import read, write
from scaa.registry import RESYNTH
from scaa.dsp.views import clip_rng


def small_manifest(tmp_path):
    rows = []
    for split in ("train", "dev", "eval"):
        for i in range(4):
            label = i % 2
            path = write_wav(tmp_path / split / f"{split}{i}.wav", seconds=0.6 + 0.1 * i, freq=150 + 30 * i, seed=i)
            rows.append({"utt_id": f"{split}{i}", "path": str(path), "label": label, "split": split,
                         "speaker": f"s{i // 2}", "attack": "A01" if label else "-", "duration_s": 0.6 + 0.1 * i})
    df = pd.DataFrame(rows)
    write(df, pd.DataFrame(), tmp_path / "m.parquet", tmp_path / "m.rejects.csv")
    return read(tmp_path / "m.parquet")


def test_generated_rows_are_train_bonafide_sources_only_and_named_by_generator(tmp_path):
    m = small_manifest(tmp_path)
    rows = resynth.generated_rows(m, "opus")
    src = m[(m.split == "train") & (m.label == 0)]
    assert len(rows) == len(src) == 2
    assert set(rows["split"]) == {"train"} and set(rows["label"]) == {1} and set(rows["attack"]) == {"opus"}
    assert rows["utt_id"].tolist() == [u + "~opus" for u in src["utt_id"]]
    assert not set(rows["utt_id"]) & set(m["utt_id"])


@pytest.mark.parametrize("name", ["world", "lpc", "griffin_lim", "codec2", "mp3", "opus"])
def test_each_builtin_generator_is_deterministic_for_a_seed_and_keeps_length_and_level(name):
    gen = RESYNTH.build({"type": name})
    x = tone(1.2, freq=170)
    a = gen(x, clip_rng(0, "u1", f"resynth:{name}"))
    b = gen(x, clip_rng(0, "u1", f"resynth:{name}"))
    assert a.dtype == np.float32 and a.shape == x.shape and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert np.sqrt(np.mean(a ** 2)) == pytest.approx(np.sqrt(np.mean(x ** 2)), rel=1e-3)
    assert not np.allclose(a, x, atol=1e-3)  # it really resynthesised


def test_generate_shard_writes_train_rows_only_deterministically(tmp_path):
    m = small_manifest(tmp_path)
    out = {}
    for run in ("a", "b"):
        d = tmp_path / run
        d.mkdir()
        stats = resynth.generate_shard(tmp_path / "m.parquet", d / "rows.parquet", d / "audio", d / "skips.csv",
                                       "mp3", {"type": "mp3", "bit_rate": 16000}, "1-of-1", seed=3, progress=False)
        assert stats == {"clips": 2, "generated": 2, "skipped": 0}
        out[run] = pd.read_parquet(d / "rows.parquet")
    rows = out["a"]
    assert set(rows["split"]) == {"train"} and set(rows["attack"]) == {"mp3"} and set(rows["label"]) == {1}
    import soundfile as sf
    for pa, pb in zip(out["a"]["path"], out["b"]["path"]):
        assert np.array_equal(sf.read(pa)[0], sf.read(pb)[0])


def test_grid_axis_keeps_old_paths_and_specs_and_names_generators():
    cfg = {"encoders": {"spectral": {"type": "spectral"}}, "views": {"none": {"type": "none"}},
           "losses": {"ce": {"type": "ce"}}, "heads": {"logreg": {"type": "logreg"}},
           "train_datasets": ["d"], "resynthesizers": {"mp3": {"type": "mp3"}, "opus": {"type": "opus"}},
           "resynth_sets": {"codecs": ["mp3", "opus"]},
           "ablation": {"encoder": ["spectral"], "loss": ["ce"], "head": ["logreg"], "resynth": ["none", "codecs"]}}
    cells, skipped = grid.expand(cfg)
    assert not skipped and len(cells) == 2
    plain, voc = sorted(cells, key=lambda c: c.resynth != "none")
    assert plain.run_dir == "results/runs/d/spectral/none/ce/logreg/frozen/seed0"
    assert "resynth" not in grid.cell_spec(cfg, plain) and "resynth" not in grid.cell_spec(cfg, plain)["cell"]
    assert voc.run_dir.startswith("results/runs/d+codecs/")
    assert list(grid.cell_spec(cfg, voc)["resynth"]) == ["mp3", "opus"]
    assert grid.split_train_key("d+codecs") == ("d", "codecs")


def test_overlap_with_eval_attack_families_from_attacks_tsv_and_config(tmp_path):
    (tmp_path / "attacks.tsv").write_text("id\tgenerator\tkind\tsplit\n"
                                          "A07\tCodec 2 at 1300 bit/s\tresynthesis\teval\n"
                                          "A08\tpiper VITS\ttts\teval\n")
    cfg = {"datasets": {"d": {"type": "asvspoof2019_la", "root": str(tmp_path)}},
           "resynthesizers": {"c2": {"type": "codec2"}, "mp3": {"type": "mp3"}},
           "resynth_sets": {"codecs": ["c2", "mp3"], "lossy": ["mp3"]},
           "attack_families": {"d": {"A08": "mp3"}}}
    rows = resynth.overlaps(cfg, ["codecs", "lossy"], {"d": ["A07", "A08", "A10"]})
    got = {(r["attack"], r["family"], r["resynth_sets"]) for r in rows}
    assert got == {("A07", "codec2", "codecs"), ("A08", "mp3", "codecs,lossy")}
    assert resynth.overlaps(cfg, ["lossy"], {"d": ["A07"]}) == []
