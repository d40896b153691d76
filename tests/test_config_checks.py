"""Config mistakes fail when the workflow starts, each naming its key."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scaa.plan.config import ConfigError, check, check_schema, merge_report

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
    from scaa.plan.config_docs import render

    assert (REPO / "config" / "README.md").read_text() == render(SCHEMA), \
        "config/README.md is stale: python -m scaa.plan.config_docs > config/README.md"


# -- parameter types, from each component's signature (issue 29) ------------------------
@pytest.mark.parametrize("blocks,message", [
    # a string where a list is wanted would be iterated: "128" built hidden layers [1, 2, 8]
    ({"heads": {"mlp": {"type": "mlp", "hidden": "128"}}},
     r"heads\.mlp\.hidden: expected a list, got the string '128'"),
    ({"heads": {"mlp": {"type": "mlp", "hidden": [128, "64"]}}},
     r"heads\.mlp\.hidden\[1\]: expected a number, got the string '64'"),
    ({"heads": {"mlp": {"type": "mlp", "lr": float("nan")}}}, r"heads\.mlp\.lr: expected a finite number, got nan"),
    ({"heads": {"mlp": {"type": "mlp", "epochs": True}}}, r"heads\.mlp\.epochs: expected a number, got true"),
    ({"heads": {"mlp": {"type": "mlp", "lr": "1e-3"}}}, r"heads\.mlp\.lr: expected a number, got the string '1e-3'"),
    ({"heads": {"logreg": {"type": "logreg", "C": [0.1, float("inf")]}}},
     r"heads\.logreg\.C\[1\]: expected a finite number, got inf"),
    ({"encoders": {"spectral": {"type": "spectral", "stats": "mean"}}},
     r"encoders\.spectral\.stats: expected a list, got the string 'mean'"),
    ({"encoders": {"spectral": {"type": "spectral", "lfcc": 1}}},
     r"encoders\.spectral\.lfcc: expected true or false, got 1"),
    ({"views": {"none": {"type": "none"}, "noise": {"type": "noise", "snr_db": "20"}}},
     r"views\.noise\.snr_db: expected a number or a list, got the string '20'"),
    ({"losses": {"ce": {"type": "ce"}, "scl": {"type": "spectral_contrastive", "weight": float("-inf")}}},
     r"losses\.scl\.weight: expected a finite number, got -inf"),
    ({"evaluation": {"conditions": {"noisy": {"type": "noise", "snr_db": float("nan")}}}},
     r"evaluation\.conditions\.noisy\.snr_db: expected a finite number, got nan"),
    ({"resynthesizers": {"mp3": {"type": "mp3", "bit_rate": "16k"}}},
     r"resynthesizers\.mp3\.bit_rate: expected a number, got the string '16k'"),
    ({"tune": {"studies": {"s": {"dataset": "demo", "encoder": "spectral", "fixed": {"hidden": "64"}}}}},
     r"tune\.studies\.s\.fixed\.hidden: expected a list, got the string '64'"),
])
def test_parameter_types_are_checked_naming_the_key(blocks, message):
    with pytest.raises(ConfigError, match=message):
        check(merged(**blocks))


@pytest.mark.parametrize("blocks", [
    {"views": {"none": {"type": "none"}, "noise": {"type": "noise", "snr_db": [10, 30]}}},  # a [lo, hi] range
    {"heads": {"svm": {"type": "svm", "gamma": "scale"}}},  # str | float
    {"heads": {"svm": {"type": "svm", "gamma": 0.5, "max_train": None}}},
    {"heads": {"mlp": {"type": "mlp", "hidden": [], "lr": 1e-3}}},
    {"evaluation": {"conditions": {"reverb": {"type": "reverb", "rt60_s": [0.3, 0.9]}}}},
])
def test_parameters_of_the_right_type_pass(blocks):
    check(merged(**blocks))


@pytest.mark.parametrize("blocks,message", [
    ({"audio": {"max_seconds": float("nan")}}, r"audio\.max_seconds: expected a finite number, got nan"),
    ({"benchmark": {"clip_s": float("inf")}}, r"benchmark\.clip_s: expected a finite number, got inf"),
    ({"heads": {"mlp": {"type": "mlp", "lr": float("nan")}}}, r"heads\.mlp\.lr: expected a finite number, got nan"),
    ({"plugins": "my_loss"}, r"plugins: 'my_loss' is not of type 'array'"),
])
def test_the_schema_check_refuses_nan_inf_and_a_string_for_plugins(blocks, message):
    # JSON Schema's bounds let NaN through (every comparison with it is false)
    with pytest.raises(ConfigError, match=message):
        check_schema(merged(**blocks), SCHEMA)


def test_a_string_of_plugins_is_refused_not_split_into_letters(tmp_path):
    from scaa.inference.model_choice import allowed_plugins
    from scaa.modeldir import ModelDirError, check_plugins
    from scaa.registry import RegistryError, load_plugins, module_list

    with pytest.raises(RegistryError, match=r"plugins: expected a list of module names, got the string 'my_loss'"):
        load_plugins("my_loss")
    assert module_list(None) == [] and module_list(["a", "b.c"]) == ["a", "b.c"]
    cfg = tmp_path / "config.yaml"
    cfg.write_text("detect: {allow_plugins: my_loss}\n")
    with pytest.raises(RegistryError, match=r"detect\.allow_plugins: expected a list of module names"):
        allowed_plugins([], cfg)
    with pytest.raises(ModelDirError, match="plugins must be a list of module names"):
        check_plugins("my_loss", ["my_loss"], tmp_path)


def test_an_unknown_name_lists_the_registered_ones_before_any_is_imported():
    # in a fresh process no built-in module is imported yet: the list came out empty
    code = ("from scaa.registry import HEADS, RegistryError\n"
            "try:\n    HEADS.get('mpl')\nexcept RegistryError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "unknown heads 'mpl'; registered: attn, gmm, lcnn, logreg, mlp, score, svm, tuned, xattn" in out.stdout
    with pytest.raises(ConfigError, match=r"heads\.mine: unknown heads 'mpl'; registered: attn, .*mlp"):
        check(merged(heads={"mine": {"type": "mpl"}}))
