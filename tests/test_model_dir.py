"""A model directory is data: sealed when trained, verified before use, never written to,
and it imports nothing it names unless the user allows it (and never from itself)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from scaa import cli, modeldir
from scaa.heads.io import ModelFileError, load_arrays
from scaa.registry import HEADS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(logreg_run):
    run_dir, manifest = logreg_run
    return run_dir, pd.read_parquet(manifest).path[0]


@pytest.fixture
def run_copy(trained, tmp_path):
    run_dir, clip = trained
    copy = tmp_path / "model"
    shutil.copytree(run_dir, copy)
    return copy, clip


def detect(*args, cwd=None):
    """`scaa detect` in a fresh interpreter started the way a user would start it from ``cwd``
    (``python -m`` puts the current folder first on sys.path: the risky case)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "scaa.cli", "detect", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_training_seals_the_directory(trained):
    run_dir, _ = trained
    record = json.loads((run_dir / modeldir.CHECKSUMS).read_text())
    assert set(record["files"]) == {"model.safetensors", "model.json", "config.yaml", "dev_scores.parquet"}
    assert modeldir.verify(run_dir) == record


def _name_plugins(run_dir: Path, plugins: list[str]) -> None:
    """What a crafted directory looks like: a spec naming plugins, checksums recomputed
    (they prove integrity, not who made the directory)."""
    spec = yaml.safe_load((run_dir / "config.yaml").read_text())
    spec["plugins"] = plugins
    (run_dir / "config.yaml").write_text(yaml.safe_dump(spec))
    modeldir.seal(run_dir)


def test_a_crafted_model_directory_imports_nothing(run_copy):
    run_dir, clip = run_copy
    marker = run_dir / "IMPORTED"
    (run_dir / "evilplug.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    _name_plugins(run_dir, ["evilplug"])
    refused = detect(clip, "--model", run_dir, cwd=run_dir)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "evilplug" in refused.stderr and "--allow-plugin evilplug" in refused.stderr
    # even when the user allows the name, a module that resolves into the directory is refused
    inside = detect(clip, "--model", run_dir, "--allow-plugin", "evilplug", cwd=run_dir)
    assert inside.returncode == 2 and "inside the model directory" in inside.stderr
    assert not marker.exists()
    # `plugins: [this]` printed the Zen of Python into the JSON lines before
    _name_plugins(run_dir, ["this"])
    zen = detect(clip, "--model", run_dir)
    assert zen.returncode == 2 and "Beautiful is better" not in zen.stdout + zen.stderr


def test_an_allowed_plugin_from_outside_is_imported(run_copy, tmp_path, capsys):
    run_dir, clip = run_copy
    _name_plugins(run_dir, ["json"])  # a harmless module that lives outside the directory
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 2
    assert "--allow-plugin json" in capsys.readouterr().err
    assert cli.main(["detect", clip, "--model", str(run_dir), "--allow-plugin", "json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["decision"] in ("spoof", "bonafide")
    # or allowed by the user's own config
    (tmp_path / "mine.yaml").write_text("detect: {allow_plugins: [json]}\n")
    assert cli.main(["detect", clip, "--model", str(run_dir), "--config", str(tmp_path / "mine.yaml")]) == 0


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (modeldir.sha256(p), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_read_only_model_directory_scores_and_is_not_changed(run_copy, capsys):
    run_dir, clip = run_copy
    before = _snapshot(run_dir)
    modes = {p: p.stat().st_mode for p in [run_dir, *run_dir.rglob("*")]}
    try:
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        assert cli.main(["detect", clip, "--model", str(run_dir)]) == 0
        assert cli.main(["overlay", clip, "--model", str(run_dir), "--out",
                         str(run_dir.parent / "ov")]) == 0
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    capsys.readouterr()
    assert _snapshot(run_dir) == before  # root may write anywhere: the check is that nothing did


@pytest.mark.parametrize("name", ["model.safetensors", "model.json", "config.yaml", "dev_scores.parquet"])
def test_a_changed_file_is_caught_and_named(run_copy, name, capsys):
    run_dir, clip = run_copy
    path = run_dir / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(data))
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{name}: changed since training" in err


def test_an_unsealed_directory_is_refused(run_copy, capsys):
    run_dir, clip = run_copy
    (run_dir / modeldir.CHECKSUMS).unlink()
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 2
    assert "checksums.json: missing" in capsys.readouterr().err


@pytest.mark.parametrize("head", ["svm", "gmm", "mlp", "lcnn", "attn"])
def test_every_head_checks_its_model_json(trained, head):
    run_dir, _ = trained  # holds a logreg head
    cls = HEADS.get(head)
    with pytest.raises(ModelFileError, match=r"model\.json: describes a 'logreg' head"):
        cls.load(run_dir)
    assert HEADS.get("logreg").load(run_dir).coef_ is not None


def test_unreadable_files_are_named(run_copy):
    run_dir, _ = run_copy
    weights = run_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelFileError, match=r"model\.safetensors: cannot read the weights"):
        load_arrays(run_dir, head="logreg")
    (run_dir / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"model\.json: cannot read"):
        load_arrays(run_dir)


@pytest.mark.parametrize("name", ["model.safetensors", "dev_scores.parquet"])
def test_a_record_that_omits_a_file_the_loader_reads_is_refused(run_copy, name, capsys):
    run_dir, clip = run_copy
    record = json.loads((run_dir / modeldir.CHECKSUMS).read_text())
    del record["files"][name]  # e.g. weights swapped, then dropped from the record
    (run_dir / modeldir.CHECKSUMS).write_text(json.dumps(record))
    assert cli.main(["detect", clip, "--model", str(run_dir)]) == 2
    assert f"{name}: not covered by checksums.json" in capsys.readouterr().err


def test_the_exported_graph_is_sealed_and_checked(run_copy, capsys):
    pytest.importorskip("onnxruntime")
    run_dir, clip = run_copy
    assert cli.main(["export", str(run_dir), "--format", "onnx"]) == 0
    capsys.readouterr()
    files = json.loads((run_dir / modeldir.CHECKSUMS).read_text())["files"]
    assert {"model.onnx", "model.onnx.json"} <= set(files)
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx"]) == 0
    capsys.readouterr()
    graph = run_dir / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[-10] ^= 0x01  # one flipped bit in the last initializer's bytes
    graph.write_bytes(bytes(data))
    for runtime in ("onnx", "torch"):  # the torch detector reads the same directory: refused too
        assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", runtime]) == 2
        assert "model.onnx: changed since training" in capsys.readouterr().err
    # a record that never listed the graph is refused as well
    record = json.loads((run_dir / modeldir.CHECKSUMS).read_text())
    del record["files"]["model.onnx"]
    (run_dir / modeldir.CHECKSUMS).write_text(json.dumps(record))
    assert cli.main(["detect", clip, "--model", str(run_dir), "--runtime", "onnx"]) == 2
    assert "model.onnx: not covered by checksums.json" in capsys.readouterr().err


def test_an_external_graph_is_checked_against_its_export_record(run_copy, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from scaa.inference.onnx_detector import OnnxDetector

    run_dir, _ = run_copy
    out = tmp_path / "elsewhere.onnx"
    assert cli.main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    OnnxDetector.from_run(run_dir, onnx_path=out)
    data = bytearray(out.read_bytes())
    data[-10] ^= 0x01
    out.write_bytes(bytes(data))
    with pytest.raises(Exception, match="SHA-256 differs"):
        OnnxDetector.from_run(run_dir, onnx_path=out)
