"""The install story: ranges in pyproject.toml, exact versions in constraints.txt, an
environment.yml that agrees, and scripts/setup.sh choosing a CPU build of torch."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
WORKFLOW_EXTRAS = ("tune", "energy")  # extras the workflow's rules import (tune stage, energy records)


def _requirements(groups=None) -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for name, extra in PROJECT["optional-dependencies"].items():
        if groups is None or name in groups:
            reqs += [Requirement(r) for r in extra if not r.startswith("scaa[")]
    return reqs


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    return pins


def test_pyproject_uses_compatible_ranges():
    for req in _requirements():
        ops = {s.operator for s in req.specifier}
        assert ops == {">=", "<"}, f"{req}: want a range '>=tested,<next major', got {req.specifier}"


def test_constraints_pin_every_declared_package_inside_its_range():
    pins = _constraints()
    wheels = [Requirement(line) for line in (ROOT / "requirements-wheels.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for req in _requirements() + wheels:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but constraints.txt has no pin for it " \
                             "(python3 scripts/lock_constraints.py > constraints.txt)"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req.specifier}"
    assert "+" not in pins["torch"], "the torch pin must match both the local CPU wheel and the CPU index"


def test_constraints_match_this_environment():
    """What the tests run against is what constraints.txt says (else regenerate it)."""
    from importlib import metadata

    stale = []
    for req in _requirements():
        try:
            have = metadata.version(req.name).split("+")[0]
        except metadata.PackageNotFoundError:
            continue  # an extra not installed here
        pinned = _constraints()[canonicalize_name(req.name)]
        if have != pinned:
            stale.append(f"{req.name}: installed {have}, constraints.txt {pinned}")
    assert not stale, "constraints.txt is stale (python3 scripts/lock_constraints.py > constraints.txt):\n" + \
        "\n".join(stale)


def test_lock_script_pins_the_declared_closure():
    spec = importlib.util.spec_from_file_location("lock_constraints", ROOT / "scripts" / "lock_constraints.py")
    lock_constraints = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lock_constraints)
    text = lock_constraints.render({"torch": "2.13.0+cpu", "numpy": "2.4.6"})
    assert "numpy==2.4.6\ntorch==2.13.0\n" in text  # sorted; local label dropped


def test_environment_yml_agrees_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in pip if not r.startswith("-")}
    core_and_workflow = {canonicalize_name(r.name): r.specifier for r in _requirements(WORKFLOW_EXTRAS)}
    assert listed == core_and_workflow, "environment.yml's pip list differs from pyproject.toml " \
        f"(dependencies + {WORKFLOW_EXTRAS}): {set(listed.items()) ^ set(core_and_workflow.items())}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert SpecifierSet(PROJECT["requires-python"]).contains(python.split("=")[1] + ".0")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in pip


def _torch_source(tmp_path, **env) -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), "--print-torch-source"], check=True,
                         capture_output=True, text=True,
                         env={k: v for k, v in {**os.environ, **env}.items() if v is not None})
    return out.stdout.strip()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_setup_takes_torch_from_local_wheels_else_the_cpu_index(tmp_path):
    version = _constraints()["torch"]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / f"torch-{version}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").touch()
    assert _torch_source(tmp_path, SCAA_WHEEL_DIR=str(wheels), SCAA_TORCH_INDEX=None) == \
        f"--find-links {wheels} torch=={version}+cpu"
    empty = tmp_path / "empty"
    empty.mkdir()
    elsewhere = _torch_source(tmp_path, SCAA_WHEEL_DIR=str(empty), SCAA_TORCH_INDEX=None)
    if sys.platform == "darwin":
        assert elsewhere == f"torch=={version}"  # PyPI's macOS wheels are CPU builds
    else:
        assert elsewhere == f"--extra-index-url https://download.pytorch.org/whl/cpu torch=={version}+cpu"
    assert _torch_source(tmp_path, SCAA_WHEEL_DIR=str(wheels), SCAA_TORCH_INDEX="https://example.org/whl") == \
        f"--extra-index-url https://example.org/whl torch=={version}"
