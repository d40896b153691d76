"""The workflow through a live one-node SLURM cluster (scripts/local_cluster.sh), with the
documented command `snakemake --profile profiles/slurm --profile profiles/slurm_local`:
every job goes through sbatch, a job cancelled with scancel mid-run is retried (the
profile's `retries: 1`), no job is left behind, and every metric equals a local run's.

Needs root and the Debian packages slurmctld, slurmd, slurm-client and munge
(scripts/setup.sh installs them). Skipped with the reason where they are missing, except
under CI=true, where a missing piece fails the test."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import REPO, make_corpus, spectral_cells, write_config

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SCRIPT = REPO / "scripts" / "local_cluster.sh"
STATE = Path(os.environ.get("SCAA_SLURM_STATE", "/var/spool/slurm-local"))
CELLS = ("logreg", "mlp")
TARGETS = [f"results/runs/tiny/spectral/none/ce/{head}/frozen/seed0/metrics/tiny.json" for head in CELLS]
ACTIVE = "PD,R,CG,S,CF,RQ,RS"  # squeue states of a job that is not over


def _missing_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs this test: scripts/setup.sh installs what it needs, as root)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    """The one-node cluster: started here (and stopped afterwards) unless already running."""
    if os.name != "posix" or os.geteuid() != 0:
        _missing_or_fail("the one-node SLURM cluster runs as root (scripts/local_cluster.sh)")
    missing = [c for c in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        _missing_or_fail(f"SLURM/munge commands missing: {missing} (apt-get install slurmctld slurmd slurm-client munge)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _missing_or_fail("snakemake-executor-plugin-slurm is not installed (pip install -c constraints.txt -e '.[cluster]')")
    up = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True)
    started = up.returncode != 0
    if started:
        start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120)
        assert start.returncode == 0, start.stdout + start.stderr
    try:
        yield STATE
    finally:
        if started:
            stop = subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)
            assert stop.returncode == 0, stop.stdout + stop.stderr


def _config(root: Path) -> Path:
    make_corpus(root / "corpus", per_split=16)
    cfg = write_config(root)
    spec = yaml.safe_load(cfg.read_text())
    spec["features"].update(shards=1, threads=1)
    spec["training"]["threads"] = 1
    # long enough that the cancel below lands while it trains; early stopping is off
    spec["heads"]["mlp"] = {"type": "mlp", "hidden": [32], "epochs": 60, "patience": 60, "lr": 0.003}
    spectral_cells(spec, heads=CELLS)
    cfg.write_text(yaml.safe_dump(spec))
    return cfg


def _cmd(root: Path, cfg: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
            "--configfile", str(cfg), *extra, *TARGETS]


def _metrics(root: Path) -> dict:
    return {str(p.relative_to(root)): json.loads(p.read_text())
            for p in sorted((root / "results" / "runs").rglob("metrics/*.json"))}


def _jobcomp(state: Path) -> dict[str, dict]:
    """The cluster's job completion log: {job id: {JobState, Name, ...}}."""
    jobs = {}
    log = state / "jobcomp.log"
    for line in (log.read_text().splitlines() if log.exists() else []):
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        jobs[fields["JobId"]] = fields
    return jobs


def _squeue_active(name: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", ACTIVE, "-n", name, "-o", "%i"], capture_output=True, text=True)
    return out.stdout.split()


def test_workflow_on_one_node_slurm_equals_local_run(cluster, tmp_path):
    t0 = time.monotonic()
    local, remote = tmp_path / "local", tmp_path / "slurm"
    cfg_local, cfg_remote = _config(local), _config(remote)
    # the local run goes alongside the cluster run (the cluster run mostly waits on its jobs)
    local_log = open(tmp_path / "local.log", "w")
    local_run = subprocess.Popen(_cmd(local, cfg_local, "--cores", "2"), stdout=local_log, stderr=subprocess.STDOUT)

    # the documented command, from the repository root; stdout+stderr to a file we read as it grows
    out = tmp_path / "slurm.log"
    with open(out, "w") as fh:
        proc = subprocess.Popen(_cmd(remote, cfg_remote, "--profile", "profiles/slurm", "--profile", "profiles/slurm_local"),
                                cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    submitted = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*rule_(\w+?)/(\S*?)/?\d+\.log\)")
    cancelled = None
    train_log = remote / "results/runs/tiny/spectral/none/ce/mlp/frozen/seed0/train.log"
    deadline = time.monotonic() + 600
    try:
        # cancel the mlp cell's training job once its script is running (its train.log exists)
        while time.monotonic() < deadline and proc.poll() is None and cancelled is None:
            jobs = {(rule, wc): jid for jid, rule, wc in submitted.findall(out.read_text())}
            jid = next((j for (rule, wc), j in jobs.items() if rule == "train_cell" and "_mlp_" in f"_{wc}_"), None)
            if jid and train_log.exists():
                time.sleep(1.0)
                subprocess.run(["scancel", jid], check=True)
                cancelled = jid
            time.sleep(0.25)
        assert cancelled, "the mlp training job was never seen running:\n" + out.read_text()[-4000:]
        proc.wait(timeout=max(10.0, deadline - time.monotonic()))
    finally:
        for p in (proc, local_run):
            if p.poll() is None:
                p.terminate()
                p.wait(60)
    log = out.read_text()
    assert proc.returncode == 0, log[-6000:]
    t_slurm = time.monotonic() - t0
    assert local_run.wait(timeout=600) == 0, (tmp_path / "local.log").read_text()[-4000:]
    local_log.close()
    expected = _metrics(local)
    assert len(expected) == len(CELLS)

    # every job of the run was an sbatch job: one submission per rule job executed, each in
    # the cluster's job log under the run's job name; nothing ran on the submit host
    subs = submitted.findall(log)
    ids = [jid for jid, _, _ in subs]
    finished = re.findall(r"Finished jobid: \d+ \(Rule: (\w+)\)", log)
    assert not re.findall(r"^localrule (\w+):", log, flags=re.M), "a rule ran outside SLURM"
    assert len(finished) == len(subs) - 1  # the cancelled submission did not finish
    assert sorted(rule for _, rule, _ in subs) == sorted(finished + ["train_cell"])
    done = {}
    for _ in range(40):  # a job's completion line is written as it ends
        done = _jobcomp(cluster)
        if all(j in done for j in ids):
            break
        time.sleep(0.5)
    names = {done[j]["Name"] for j in ids}
    assert len(names) == 1, names  # one run: the executor names every job with the run's id
    states = {j: done[j]["JobState"] for j in ids}
    assert states.pop(cancelled) == "CANCELLED"
    assert set(states.values()) == {"COMPLETED"}, states
    # the cancelled job was submitted again (retries: 1) and that attempt completed
    mlp_train = [jid for jid, rule, wc in subs if rule == "train_cell" and "_mlp_" in f"_{wc}_"]
    assert len(mlp_train) == 2 and mlp_train[0] == cancelled and states[mlp_train[1]] == "COMPLETED"
    # nothing left queued or running under the run's name
    assert _squeue_active(names.pop()) == []

    # the same metrics, to the last digit
    got = _metrics(remote)
    assert got.keys() == expected.keys()
    assert got == expected
    print(f"\nSLURM run {t_slurm:.0f} s ({len(subs)} sbatch jobs), local run alongside it")
