"""An Optuna study shared by two workers over a live PostgreSQL server (docs/cluster.md,
"Sharing an Optuna study over PostgreSQL"): the test starts a throw-away server (initdb +
pg_ctl in a temporary directory, Unix socket only), runs the workflow's tuning stage with
`workers: 2` and a `postgresql+psycopg://` storage, and checks that the workers shared one
study (every trial number once, exactly n_trials finished trials, both workers' jobs
done) and that the best head equals the SQLite path's for the same seeds.

Same seeds, same trials: with n_trials at most TPE's 10 start-up trials (random sampling
from the seed of each worker, seed + k) and 2 epochs per trial (the median pruner never
prunes before epoch 3), which trials a study holds depends only on how many each worker
ran; the SQLite study below runs worker 0 and then worker 1 for those counts.

Needs the Debian package postgresql (server binaries under /usr/lib/postgresql/*/bin) and
psycopg (the dev extra). Skipped with the reason where they are missing, except under
CI=true, where a missing piece fails the test."""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from test_workflow import REPO, make_corpus, spectral_cells, write_config

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

N_TRIALS = 6
STUDY = {"dataset": "tiny", "encoder": "spectral", "view": "none", "loss": "ce", "n_trials": N_TRIALS,
         "workers": 2, "seed": 0,
         "space": {"n_layers": [1, 2], "width": [8, 16, 32, 64], "dropout": [0.0, 0.3]},
         "fixed": {"epochs": 2, "patience": 2, "batch_size": 16}}


def _missing_or_fail(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs this test: scripts/setup.sh installs what it needs)")
    pytest.skip(reason)


def _pg_bindir() -> Path | None:
    """The newest installed PostgreSQL server's binaries (Debian keeps them off PATH)."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name.split(".")[0]))
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb and shutil.which("pg_ctl") else None


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server: yields the SQLAlchemy URL of its empty database `optuna`."""
    bindir = _pg_bindir()
    if bindir is None:
        _missing_or_fail("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing_or_fail("psycopg is not installed (pip install -c constraints.txt -e '.[dev]')")
    # the server refuses to run as root: as root, run it as Debian's `postgres` user
    prefix = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _missing_or_fail("running as root, and there is no `postgres` user to run the server as")
        prefix = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="scaa-pg-"))  # short: the socket path must fit 107 bytes
    if prefix:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", 5432  # no TCP: the port only names the socket file in `base`

    def run(*cmd, **kw):
        out = subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, timeout=120, **kw)
        assert out.returncode == 0, f"{cmd[0]} failed:\n{out.stdout}\n{out.stderr}"
        return out

    run(bindir / "initdb", "-D", data, "-U", "scaa", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
    run(bindir / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60", "-o",
        f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=50", "start")
    try:
        run(bindir / "createdb", "-h", base, "-p", port, "-U", "scaa", "optuna")
        yield f"postgresql+psycopg://scaa@/optuna?host={base}&port={port}"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def _config(root: Path, storage: str) -> Path:
    make_corpus(root / "corpus", per_split=40)  # 40 dev clips: EERs in steps of 1/20, few ties
    cfg = write_config(root, {"tune": {"storage": storage, "studies": {"pg": STUDY}}})
    spec = yaml.safe_load(cfg.read_text())
    spec["features"]["shards"] = 1
    spectral_cells(spec)
    cfg.write_text(yaml.safe_dump(spec))
    return cfg


SQLITE_PATH = """
import sys, yaml
from pathlib import Path
from scaa.workflow import tune
job = yaml.safe_load(open(sys.argv[1]))
root = Path(job["root"])
manifest = str(root / "results/manifest/tiny.parquet")
shards = {"none": sorted(map(str, (root / "results/features/tiny/spectral/none/frozen").glob("*.npz")))}
ran = 0
for k, n in enumerate(job["per_worker"]):
    ran += n
    if n:
        tune.workflow_worker("pg", {**job["study"], "n_trials": ran}, {"type": "ce"}, ["none"], manifest, shards,
                             job["storage"], worker=k, threads=1)
tune.workflow_report("pg", job["study"], {"type": "ce"}, job["storage"], str(root / "sqlite/out"))
"""


def _trials(study):
    from optuna.trial import TrialState

    return {(tuple(sorted(t.params.items())), t.value) for t in study.get_trials(states=(TrialState.COMPLETE,))}


def test_two_workers_share_a_postgres_study_and_match_sqlite(postgres, tmp_path):
    import optuna
    from optuna.trial import TrialState

    from scaa.workflow import tune

    t0 = time.monotonic()
    cfg = _config(tmp_path, postgres)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "2", "results/tune/pg/best_head.yaml"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-4000:]
    t_run = time.monotonic() - t0
    assert {p.name for p in (tmp_path / "results/tune/pg").glob("worker*.done")} == {"worker0.done", "worker1.done"}
    assert not list((tmp_path / "results/tune").glob("*.db")), "the study went to SQLite, not PostgreSQL"

    # one study in the server, shared: every trial number once, n_trials finished in total
    names = optuna.get_all_study_names(postgres)
    assert len(names) == 1 and names[0].startswith("pg-")
    study = optuna.load_study(study_name=names[0], storage=postgres)
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == N_TRIALS, [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert all(t.state == TrialState.COMPLETE for t in finished)  # nothing pruned: same trials as SQLite's
    per_worker = [sum(t.user_attrs.get("worker") == k for t in finished) for k in (0, 1)]
    assert sum(per_worker) == N_TRIALS
    # any other trial is one a worker asked for when the study was already full (not run)
    assert all(t.state == TrialState.FAIL for t in trials if t not in finished)
    pg_best = yaml.safe_load((tmp_path / "results/tune/pg/best_head.yaml").read_text())

    # the SQLite path (the default storage) with the same seeds: worker 0, then worker 1,
    # each running as many trials as it ran against PostgreSQL
    # (in a subprocess, as the workflow's job would: the workers limit the process's threads)
    sqlite = f"sqlite:///{tmp_path}/sqlite/pg.db"
    job = {"study": STUDY, "per_worker": per_worker, "storage": sqlite, "root": str(tmp_path)}
    (tmp_path / "sqlite_job.yaml").write_text(yaml.safe_dump(job))
    lite_run = subprocess.run([sys.executable, "-c", SQLITE_PATH, str(tmp_path / "sqlite_job.yaml")],
                              capture_output=True, text=True, timeout=600, cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert lite_run.returncode == 0, lite_run.stderr[-4000:]
    lite = optuna.load_study(study_name=names[0], storage=sqlite)  # same spec, same name
    assert _trials(lite) == _trials(study)  # the same trials: the same parameters and dev EERs
    lite_best = yaml.safe_load((tmp_path / "sqlite/out/best_head.yaml").read_text())
    best_value = study.best_value
    assert lite.best_value == best_value

    def key(head):
        return yaml.safe_dump(head, sort_keys=True)

    # trials tied on the best dev EER: either storage may name any of them
    tied = {key(tune.params_from_trial(t.params, {**tune.HEAD_FIXED, **STUDY["fixed"]}))
            for t in finished if t.value == best_value}
    assert key(pg_best) in tied and key(lite_best) in tied
    if len(tied) == 1:
        assert lite_best == pg_best
    print(f"\nPostgreSQL study: {per_worker} trials per worker, workflow {t_run:.0f} s, "
          f"whole test {time.monotonic() - t0:.0f} s")

