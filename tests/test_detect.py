"""scaa detect / Detector on a small cell trained here (spectral features + logreg)."""
import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from scaa import cli
from scaa.commands import detect
from scaa.inference import parallel
from scaa.workflow.synthetic import synthetic_run
from scaa.inference.detector import Detector, fit_calibration, windows
from scaa.metrics import eer_threshold


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    warnings.simplefilter("ignore")
    root = tmp_path_factory.mktemp("detect")
    run_dir, manifest = synthetic_run(root, {"type": "spectral"}, {"type": "logreg", "C": [0.1, 1.0], "folds": 3},
                                      n_per_split=(16, 12, 8))
    return run_dir, manifest


def test_windows_cover_the_whole_file():
    assert windows(16000, 4, 2) == [(0, 16000)]
    r = windows(int(9.5 * 16000), 4, 2)
    assert r[0] == (0, 64000) and r[-1][1] == int(9.5 * 16000)
    assert all(b - a == 64000 for a, b in r)
    for window, hop in ((0, 1), (0.001, 0.0005), (4, 0), (4, 5), (float("nan"), 1)):
        with pytest.raises(ValueError):
            windows(100, window, hop)


def test_calibration_from_dev_only_in_memory(run, tmp_path):
    run_dir, _ = run
    dev = pd.read_parquet(run_dir / "dev_scores.parquet")
    det = Detector.from_run(run_dir)
    assert det.threshold == pytest.approx(eer_threshold(dev["score"], dev["label"]))
    assert det.calib["calibration"]["method"] == "platt" and det.calib["dev_clips"] == len(dev)
    assert not (run_dir / "calibration.json").exists()  # nothing derived is written next to the model
    # the threshold follows the dev scores it is fitted on
    copy = tmp_path / "copy"
    copy.mkdir()
    dev.assign(score=dev["score"] * 2).to_parquet(copy / "dev_scores.parquet", index=False)
    assert fit_calibration(copy)["threshold"] == pytest.approx(2 * det.threshold)


def test_score_file_windows_mean(run, tmp_path):
    run_dir, manifest = run
    det = Detector.from_run(run_dir)
    rows = pd.read_parquet(manifest)
    waves = [sf.read(p, dtype="float32")[0] for p in rows.path[:6]]
    long = np.concatenate(waves)
    path = tmp_path / "long.wav"
    sf.write(path, long, 16000)
    out = det.score_file(path, window_s=2, hop_s=1)
    assert len(out["windows"]) >= 3
    assert out["score"] == pytest.approx(np.mean([w["score"] for w in out["windows"]]))
    assert out["decision"] == ("spoof" if out["score"] >= det.threshold else "bonafide")
    assert 0 <= out["p_spoof"] <= 1
    # a whole-clip window equals scoring the wave directly
    assert det.score_file(rows.path[0], window_s=10)["score"] == pytest.approx(det.score_wave(waves[0])["score"])


def test_cli_json_lines_and_exit_codes(run, tmp_path, capsys):
    run_dir, manifest = run
    rows = pd.read_parquet(manifest)
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    for p in rows.path[:2]:
        (folder / (p.split("/")[-1])).write_bytes(open(p, "rb").read())
    code = cli.main(["detect", str(tmp_path / "in"), "--model", str(run_dir)])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and len(lines) == 2
    for line in lines:
        assert {"file", "score", "p_spoof", "decision", "threshold", "latency_ms", "windows", "model"} <= set(line)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    code = cli.main(["detect", rows.path[0], str(tmp_path / "bad.wav"), str(tmp_path / "nope.flac"),
                     "--model", str(run_dir)])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert "error" not in lines[0]
    assert lines[1]["error"].startswith("unreadable") and lines[2]["error"].startswith("missing")
    assert cli.main(["detect", rows.path[0], "--model", str(tmp_path / "no_such_run")]) == 2
    assert "config.yaml" in capsys.readouterr().err
    assert cli.main(["detect", rows.path[0], "--model", str(run_dir), "--bf16"]) == 2  # spectral: no dtype
    assert "no dtype option" in capsys.readouterr().err
    assert cli.main(["detect", rows.path[0], "--model", str(run_dir), "--int8"]) == 2  # logreg: no Linear
    assert "does not apply" in capsys.readouterr().err


def test_cli_int8_with_bf16_on_an_ssl_cell(tmp_path, capsys):
    pytest.importorskip("transformers")
    from scaa.encoders.ssl import TINY_CONFIG

    enc = {"type": "wav2vec2", "random_init_config": TINY_CONFIG}
    run_dir, manifest = synthetic_run(tmp_path / "ssl", enc, {"type": "mlp", "hidden": [8], "epochs": 2,
                                                              "patience": 1}, n_per_split=(8, 6, 6))
    clip = pd.read_parquet(manifest).path[0]
    assert cli.main(["detect", clip, "--model", str(run_dir), "--int8", "--bf16"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[0])
    assert line["decision"] in ("spoof", "bonafide") and 0 <= line["p_spoof"] <= 1
    assert line["precision"] == "bf16+int8"


def test_default_model_from_summary_or_config(run, tmp_path):
    run_dir, _ = run
    # nothing trained and nothing given: the pretrained default (tests/test_default_model.py)
    assert detect.resolve_model(None, tmp_path / "none.yaml", tmp_path / "summary.csv") == "pretrained:aasist_l"
    with pytest.raises(detect.NoModel, match="snakemake"):  # asked for the summary's best cell, there is none
        detect.best_from_summary(tmp_path / "summary.csv")
    axes = dict(train_dataset="d", encoder="e", view="none", loss="ce", head="h", freeze="frozen")
    pd.DataFrame([{**axes, "seed": 0, "eval_dataset": "x", "dev_eer": 0.3, "eer": 0.01, "run_dir": "worse"},
                  {**axes, "seed": 1, "eval_dataset": "x", "dev_eer": 0.1, "eer": 0.5, "run_dir": str(run_dir)}]
                 ).to_csv(tmp_path / "summary.csv", index=False)
    # lowest dev EER wins, even though its eval EER is worse
    assert detect.resolve_model(None, tmp_path / "none.yaml", tmp_path / "summary.csv") == str(run_dir)
    (tmp_path / "c.yaml").write_text("detect: {model: chosen/run}\n")
    assert detect.resolve_model(None, tmp_path / "c.yaml", tmp_path / "summary.csv") == "chosen/run"
    assert detect.resolve_model("explicit", tmp_path / "c.yaml", tmp_path / "summary.csv") == "explicit"
    # cells trained on the demo corpus are toys: never the default detector
    pd.DataFrame([{**axes, "train_dataset": "demo", "seed": 0, "eval_dataset": "x", "dev_eer": 0.01, "eer": 0.01,
                   "run_dir": "toy"},
                  {**axes, "train_dataset": "tiny+classic", "seed": 0, "eval_dataset": "x", "dev_eer": 0.02,
                   "eer": 0.01, "run_dir": "toy2"},
                  {**axes, "seed": 1, "eval_dataset": "x", "dev_eer": 0.1, "eer": 0.5, "run_dir": str(run_dir)}]
                 ).to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "d.yaml").write_text("datasets: {tiny: {type: demo, root: x}}\n")
    assert detect.choose_model(None, tmp_path / "d.yaml", tmp_path / "summary.csv") == (str(run_dir), "summary")
    pd.DataFrame([{**axes, "train_dataset": "demo", "seed": 0, "eval_dataset": "x", "dev_eer": 0.01, "eer": 0.01,
                   "run_dir": "toy"}]).to_csv(tmp_path / "summary.csv", index=False)
    assert detect.choose_model(None, tmp_path / "none.yaml", tmp_path / "summary.csv") == ("pretrained:aasist_l",
                                                                                           "default")


def test_cli_jobs_gives_the_same_lines_in_the_same_order(run, tmp_path, capsys):
    run_dir, manifest = run
    folder = tmp_path / "many"
    folder.mkdir()
    for i, p in enumerate(pd.read_parquet(manifest).path[:5]):
        (folder / f"{i:02d}_{p.split('/')[-1]}").write_bytes(open(p, "rb").read())
    (folder / "03_bad.wav").write_bytes(b"not audio")  # an error line in the middle
    outputs = {}
    for jobs in (1, 2):
        code = cli.main(["detect", str(folder), "--model", str(run_dir), "--jobs", str(jobs)])
        captured = capsys.readouterr()
        lines = [json.loads(x) for x in captured.out.splitlines()]
        assert code == 1 and len(lines) == 6
        assert "scaa detect" in captured.err  # the progress bar (6 files) is on stderr, not stdout
        outputs[jobs] = [{k: v for k, v in line.items() if k != "latency_ms"} for line in lines]
    assert outputs[2] == outputs[1]
    assert [line["file"] for line in outputs[1]] == sorted(str(f) for f in folder.iterdir())
    for line in outputs[1]:
        assert ("error" in line) == line["file"].endswith("03_bad.wav") and ("score" in line) != ("error" in line)


class _SlowDetector:
    """The real detector, slowed down and counting its files, so a worker gets a share."""

    def __init__(self, detector, delay: float):
        self.detector, self.delay, self.files = detector, delay, 0

    def score_file(self, *args, **kwargs):
        import time

        self.files += 1
        time.sleep(self.delay)
        return self.detector.score_file(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.detector, name)


def _folder_items(manifest, tmp_path, n=8):
    paths = list(pd.read_parquet(manifest).path[:n])
    return [(p, None) for p in paths] + [(str(tmp_path / "gone.wav"), "missing")]


def _scoring_case(run, tmp_path, n):
    """A folder's items, the line options, this process's detector and the lines it gives."""
    run_dir, manifest = run
    items = _folder_items(manifest, tmp_path, n=n)
    options = {"window_s": 4.0, "hop_s": 2.0}
    det = Detector.from_run(run_dir)
    expected = [detect.detect_line(det, p, str(run_dir), problem=q, **options) for p, q in items]
    return run_dir, items, options, det, expected


def _strip(lines):
    return [{k: v for k, v in line.items() if k != "latency_ms"} for line in lines]


def test_parallel_scorer_shares_files_with_a_ready_worker(run, tmp_path):
    run_dir, items, options, det, expected = _scoring_case(run, tmp_path, n=8)
    load = {"threads": 1, "bf16": False, "int8": False}
    scorer = parallel.ParallelScorer(str(run_dir), 1, load, options)
    try:
        assert scorer.workers[0].problem(timeout=120) is None  # the worker has its model
        slow = _SlowDetector(det, delay=0.5)
        got = list(scorer.lines(slow, items))
    finally:
        scorer.close()
    assert _strip(got) == _strip(expected)
    assert slow.files < len(items) - 1  # the worker scored some of the files


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are used on Linux only")
def test_forked_workers_share_files_and_give_the_same_lines(run, tmp_path):
    run_dir, items, options, det, expected = _scoring_case(run, tmp_path, n=8)
    slow = _SlowDetector(det, delay=0.3)  # this process is slow; the forked copies are not
    scorer = parallel.ParallelScorer(str(run_dir), 2, {"threads": 1}, options, detector=det)
    try:
        assert all(w.problem() is None for w in scorer.workers)
        got = list(scorer.lines(slow, items))
    finally:
        scorer.close()
    assert _strip(got) == _strip(expected)
    assert slow.files < len(items) - 1
    assert not any(w.process.is_alive() for w in scorer.workers)  # close() ends them
    assert not parallel._WORKER  # and this process drops the reference it handed to them


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are used on Linux only")
def test_a_forked_worker_that_dies_leaves_its_files_to_this_process(run, tmp_path):
    run_dir, items, options, det, expected = _scoring_case(run, tmp_path, n=4)
    scorer = parallel.ParallelScorer(str(run_dir), 1, {"threads": 1}, options, detector=det)
    scorer.workers[0].process.kill()
    scorer.workers[0].process.join()
    try:
        got = list(scorer.lines(det, items))
    finally:
        scorer.close()
    assert _strip(got) == _strip(expected)


def test_workers_are_forked_only_where_that_is_safe(monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert parallel.start_method({"threads": 1, "runtime": "torch"}) == "fork"
    assert parallel.start_method({"threads": 2, "runtime": "torch"}) == "spawn"  # an OpenMP pool may be running
    assert parallel.start_method({"threads": 1, "runtime": "onnx"}) == "spawn"   # onnxruntime's own threads
    monkeypatch.setattr(sys, "platform", "darwin")
    assert parallel.start_method({"threads": 1, "runtime": "torch"}) == "spawn"


def test_parallel_scorer_survives_a_worker_that_cannot_start(run, tmp_path):
    run_dir, items, options, det, expected = _scoring_case(run, tmp_path, n=4)
    # the worker is pointed at a model directory that does not exist: it fails to start
    scorer = parallel.ParallelScorer(str(tmp_path / "no-model"), 1, {"threads": 1, "bf16": False, "int8": False},
                                   options)
    scorer.run_dir = str(run_dir)  # this process's lines name the real model
    try:
        got = list(scorer.lines(det, items))
    finally:
        scorer.close()
    assert _strip(got) == _strip(expected)
    assert "no config.yaml" in scorer.workers[0].problem(timeout=120)  # why it could not start


def _prefetch_case(run, tmp_path, n):
    """Items (a bad file among them), line options, a front-end-only detector, the expected lines."""
    run_dir, items, options, det, expected = _scoring_case(run, tmp_path, n=n)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    items.insert(2, (str(bad), None))
    expected.insert(2, detect.detect_line(det, str(bad), str(run_dir), **options))
    front = Detector.front_end(run_dir)
    assert front.head is None and front.calib is None
    return run_dir, items, options, front, expected


def _lines_after_prefetch(run_dir, options, front, prepared, scoring, items):
    """Lines of a forked worker (a copy of ``front``) and ``scoring`` in this process."""
    scorer = parallel.ParallelScorer(str(run_dir), 1, {"threads": 1}, options, detector=front, prepared=prepared)
    try:
        return list(scorer.lines(scoring, items))
    finally:
        scorer.close()


def _wait_for(counter, n, seconds=60):
    import time

    end = time.monotonic() + seconds
    while counter.value < n and time.monotonic() < end:
        time.sleep(0.02)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are used on Linux only")
def test_prefetched_files_give_the_same_lines(run, tmp_path):
    run_dir, items, options, front, expected = _prefetch_case(run, tmp_path, n=6)
    prefetch = parallel.Prefetch(front, 2, items, options)
    _wait_for(prefetch.counter, len(items))  # every file taken before the head is loaded
    front.load_head()
    procs = [proc for proc, _ in prefetch.workers]
    prepared = prefetch.collect()
    assert procs and not any(proc.is_alive() for proc in procs)
    assert set(prepared) == set(range(len(items))) - {len(items) - 1}  # the missing file is not prepared
    assert "unreadable" in prepared[2]  # the bad file's problem, found while preparing
    slow = _SlowDetector(front, delay=0.0)
    got = _lines_after_prefetch(run_dir, options, front, prepared, slow, items)
    assert _strip(got) == _strip(expected)
    assert slow.files == 0  # no file was decoded again: the head ran on what the workers prepared
    assert all(line["latency_ms"] > 0 for line in got if "error" not in line)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are used on Linux only")
def test_prefetch_stops_at_its_memory_bound_and_survives_a_dead_worker(run, tmp_path):
    run_dir, items, options, front, expected = _prefetch_case(run, tmp_path, n=6)
    prefetch = parallel.Prefetch(front, 1, items, options, max_bytes=1)  # room for one file's features
    _wait_for(prefetch.counter, 1)
    front.load_head()
    prepared = prefetch.collect()
    assert len(prepared) == 1 and prefetch.counter.value == 1
    dead = parallel.Prefetch(front, 1, items, options)
    _wait_for(dead.counter, 1)
    dead.workers[0][0].kill()
    dead.workers[0][0].join()
    assert dead.collect() == {}  # what it took is scored later, by the others
    got = _lines_after_prefetch(run_dir, options, front, prepared, front, items)
    assert _strip(got) == _strip(expected)


def test_a_front_end_detector_scores_like_a_loaded_one(run, tmp_path):
    run_dir, manifest = run
    path = pd.read_parquet(manifest).path[0]
    whole = Detector.from_run(run_dir)
    front = Detector.front_end(run_dir)
    prepared = front.prepare(path)
    front.load_head()
    a, b = whole.score_file(path), front.finish(prepared)
    assert {k: v for k, v in a.items() if k != "latency_ms"} == {k: v for k, v in b.items() if k != "latency_ms"}


def _copies(manifest, folder, n, rounds=1):
    """``folder``, made, holding ``rounds`` copies of the first n manifest clips (RR_I.wav)."""
    folder.mkdir()
    for r in range(rounds):
        for i, p in enumerate(pd.read_parquet(manifest).path[:n]):
            (folder / f"{r:02d}_{i}.wav").write_bytes(open(p, "rb").read())
    return folder


def _program(args, **kw):
    import os
    import subprocess
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, **kw)


def test_the_program_flushes_every_line_and_keeps_the_exit_code(run, tmp_path):
    run_dir, manifest = run
    folder = _copies(manifest, tmp_path / "files", 5)
    (folder / "9_bad.wav").write_bytes(b"not audio")
    out = _program(["-m", "scaa.cli", "detect", str(folder), "--model", str(run_dir), "--jobs", "2"])
    assert out.returncode == 1, out.stderr  # one unreadable file
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(lines) == 6 and "error" in lines[-1] and all("score" in x for x in lines[:-1])


def test_fast_exit_leaves_the_normal_exit_to_a_process_with_children():
    code = ("import multiprocessing, time\n"
            "p = multiprocessing.get_context('fork').Process(target=time.sleep, args=(1,)); p.start()\n"
            "from scaa.cli import fast_exit\n"
            "fast_exit(3)\n"
            "print('returned', flush=True); p.join()\n")
    out = _program(["-c", code])
    assert out.returncode == 0 and out.stdout == "returned\n", out.stderr
    out = _program(["-c", "from scaa.cli import fast_exit\nprint('flushed', end='')\nfast_exit(3)\nprint('not reached')"])
    assert out.returncode == 3 and out.stdout == "flushed"


def test_a_reader_that_stops_early_ends_the_run_quietly(run, tmp_path):
    import os
    import subprocess
    from pathlib import Path

    run_dir, manifest = run
    folder = _copies(manifest, tmp_path / "files", 5, rounds=40)  # the writer is still going when the pipe closes
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "scaa.cli", "detect", str(folder), "--model", str(run_dir),
                             "--jobs", "2", "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(proc.stdout.readline())["file"].endswith("00_0.wav")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == detect.EXIT_CLOSED and "Traceback" not in err, err


def test_timings_say_where_the_time_went(run, tmp_path, capsys):
    run_dir, manifest = run
    folder = _copies(manifest, tmp_path / "few", 4)
    for jobs in (1, 2):
        assert cli.main(["detect", str(folder), "--model", str(run_dir), "--jobs", str(jobs), "--timings"]) == 0
        err = capsys.readouterr().err
        t = next(json.loads(x)["timings"] for x in err.splitlines() if x.startswith('{"timings"'))
        assert t["jobs"] == jobs and t["files"] == 4 and 0 < t["model_loaded_s"] <= t["done_s"]
        if jobs == 1:
            assert t["scored_here"] == 4 and t["prepared_while_loading"] == 0 and "encoder_loaded_s" not in t
        else:
            assert t["encoder_loaded_s"] <= t["model_loaded_s"] and 0 <= t["scored_here"] <= 4
            assert 0 <= t["prepared_while_loading"] <= 4


def test_odd_names_and_truncated_files_give_the_same_lines_with_workers(run, tmp_path, capsys):
    """A non-UTF-8 name and a WAV cut short are scored, flagged in their lines, alike
    whichever process (this one, a forked or prefetching worker) scores them."""
    import os

    run_dir, manifest = run
    folder = tmp_path / "odd"
    folder.mkdir()
    paths = list(pd.read_parquet(manifest).path[:4])
    for i, p in enumerate(paths):
        name = os.path.join(os.fsencode(folder), b"%02d_\xe9t\xe9.wav" % i if i % 2 else b"%02d_cut.wav" % i)
        wave, sr = sf.read(p, dtype="float32")
        with open(name, "wb") as fh:
            sf.write(fh, np.tile(wave, 3), sr, format="WAV", subtype="PCM_16")
        if not i % 2:
            os.truncate(name, os.path.getsize(name) * 2 // 3)
    outputs = {}
    for jobs in (1, 2):
        assert cli.main(["detect", str(folder), "--model", str(run_dir), "--jobs", str(jobs), "--no-progress"]) == 0
        out = capsys.readouterr().out
        out.encode("utf-8")  # strict: no lone surrogates anywhere in the output
        outputs[jobs] = [{k: v for k, v in json.loads(x).items() if k != "latency_ms"} for x in out.splitlines()]
    assert outputs[2] == outputs[1]
    for line in outputs[1]:
        odd = "\\xe9" in line["file"]
        assert "score" in line and (line.get("file_escape") == "backslashreplace") == odd
        assert (line.get("warning") == "truncated") == line["file"].endswith("_cut.wav")
