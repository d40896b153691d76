"""Config mistakes fail when the workflow starts, each naming its key."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaa.config import ConfigError, check, check_schema, merge_report

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"


def default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def merged(**blocks) -> dict:
    cfg = default_config()
    for key, value in blocks.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


def test_the_shipped_configs_pass():
    for name in ("config.yaml", "asvspoof2019_la.yaml"):
        cfg = yaml.safe_load((REPO / "config" / name).read_text())
        check_schema(cfg, SCHEMA)
    check(default_config())


@pytest.mark.parametrize("blocks,key", [
    ({"evalutaion": {"n_boot": 10}}, "evalutaion: unknown key"),
    ({"features": {"shard": 4}}, "features.shard: unknown key"),
    ({"audio": {"max_second": 5}}, "audio.max_second: unknown key"),
    ({"evaluation": {"reference": {"encoder": "spectral", "sed": 0}}}, "evaluation.reference.sed: unknown key"),
    ({"detect": {"modle": "x"}}, "detect.modle: unknown key"),
    ({"features": {"shards": 0}}, "features.shards: 0 is less than the minimum"),
])
def test_typos_are_schema_errors_naming_the_key(blocks, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_schema(merged(**blocks), SCHEMA)


@pytest.mark.parametrize("blocks,message", [
    ({"heads": {"logreg": {"type": "logreg", "Cs": [1.0]}}}, r"heads\.logreg: 'logreg' got an unexpected keyword "
                                                              r"argument 'Cs'; its parameters are C, "),
    ({"heads": {"mlp": {"type": "mlp", "dropout": 2.0}}}, r"heads\.mlp: dropout must be in \[0, 1\)"),
    ({"heads": {"mlp": {"type": "mlp", "random_state": 3}}}, r"heads\.mlp\.random_state: set by the grid"),
    ({"encoders": {"spectral_lfcc": {"type": "spectral", "lfcc_typo": True}}},
     r"encoders\.spectral_lfcc: .*'lfcc_typo'"),
    ({"datasets": {"demo": {"type": "demoo", "root": "x"}}}, r"datasets\.demo: unknown datasets 'demoo'"),
    ({"datasets": {"demo": {"type": "folder", "root": "/no/such/corpus"}}},
     r"datasets\.demo\.root: /no/such/corpus does not exist"),
    ({"losses": {"ce": {"type": "ce"}, "scl": {"type": "spectral_contrastive", "weight": 0.5, "temprature": 0.1}}},
     r"losses\.scl: .*'temprature'"),
    ({"views": {"none": {"type": "none"}, "bandmask": {"type": "bandmask"}, "lowpass": {"type": "lowpas"}}},
     r"views\.lowpass: unknown views 'lowpas'"),
    ({"evaluation": {"reference": {"train_dataset": "demo", "encoder": "spectral", "view": "none", "loss": "ce",
                                   "head": "svm", "freeze": "frozen", "seed": 0}}},
     r"evaluation\.reference demo/spectral/none/ce/svm/frozen/0 is not a cell of the grid"),
])
def test_component_mistakes_fail_at_start(blocks, message):
    cfg = merged(**blocks)
    with pytest.raises(ConfigError, match=message):
        check(cfg)


def test_a_reference_the_grid_cannot_run_says_why():
    cfg = merged(evaluation={"reference": {"train_dataset": "demo", "encoder": "spectral", "view": "none",
                                           "loss": "scl", "head": "mlp", "freeze": "frozen", "seed": 0}})
    with pytest.raises(ConfigError, match="cannot run"):
        check(cfg)


def test_merge_report_names_replaced_added_and_kept_keys():
    default = {"features": {"shards": 2, "threads": 1}, "heads": {"a": {"type": "mlp"}, "b": {"type": "gmm"}}}
    over = {"features": {"shards": 4}, "heads": {"a": {"type": "mlp", "hidden": [8]}, "c": {"type": "svm"}}}
    (line,) = merge_report(default, [("study.yaml", over)], "config/config.yaml")
    assert "replaced 2 key(s): features.shards, heads.a" in line
    assert "added 1: heads.c" in line
    assert "kept from config/config.yaml inside blocks it sets: features.threads, heads.b" in line


def _dry_run(tmp_path, extra: dict):
    cfg = tmp_path / "over.yaml"
    cfg.write_text(yaml.safe_dump(extra))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n",
                           "--directory", str(REPO), "--configfile", str(cfg), "--cores", "1"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)


@pytest.mark.slow
def test_the_workflow_stops_at_start_naming_the_key(tmp_path):
    bad = _dry_run(tmp_path, {"evalutaion": {"n_boot": 10}, "heads": {"logreg": {"type": "logreg", "Cs": [1]}}})
    out = bad.stdout + bad.stderr
    assert bad.returncode != 0 and "evalutaion: unknown key" in out
    good = _dry_run(tmp_path, {"evaluation": {"n_boot": 10}})
    out = good.stdout + good.stderr
    assert good.returncode == 0, out[-3000:]
    assert "over config/config.yaml: replaced 1 key(s): evaluation.n_boot" in out


def test_the_config_reference_is_generated_from_the_schema():
    from scaa.config_docs import render

    assert (REPO / "config" / "README.md").read_text() == render(SCHEMA), \
        "config/README.md is stale: python -m scaa.config_docs > config/README.md"
