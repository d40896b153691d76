"""scaa.weights: pinned weight files are found, copied or downloaded, and hash-checked; the
``scaa weights`` command. No network: the download path reads a ``file://`` URL."""
import hashlib
import os
from pathlib import Path

import pytest

from scaa import cli, weights
from scaa.weights import WeightFile, WeightsError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "weights" / "aasist"
PAYLOAD = b"not really a state dict, just pinned bytes\n" * 1000


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty weights directory, online, and one fake variant ``fake`` whose URL is a
    ``file://`` URL of a file outside the weights directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SCAA_WEIGHTS_DIR", str(cache))
    monkeypatch.delenv("SCAA_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    origin = tmp_path / "origin"
    origin.mkdir()
    (origin / "fake.pth").write_bytes(PAYLOAD)
    pin = WeightFile("fake", "fake.pth", hashlib.sha256(PAYLOAD).hexdigest(), (origin / "fake.pth").as_uri(),
                     "made by the test", "CC0")
    monkeypatch.setattr(weights, "PINNED", {**weights.PINNED, "fake": pin})
    return {"cache": cache, "origin": origin, "pin": pin, "tmp": tmp_path}


def test_weights_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SCAA_WEIGHTS_DIR", str(tmp_path / "w"))
    assert weights.weights_dir() == tmp_path / "w"
    monkeypatch.delenv("SCAA_WEIGHTS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert weights.weights_dir() == tmp_path / "xdg" / "scaa" / "weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert weights.weights_dir() == tmp_path / "home" / ".cache" / "scaa" / "weights"


def test_pins_are_complete():
    assert set(weights.PINNED) == {"aasist", "aasist_l"}
    for name, pin in weights.PINNED.items():
        assert pin.name == name and len(pin.sha256) == 64 and int(pin.sha256, 16) >= 0
        assert pin.url == f"https://github.com/clovaai/aasist/raw/main/models/weights/{pin.file}"
        assert "MIT" in pin.licence and "NAVER" in pin.licence and "ASVspoof 2019 LA" in pin.source
    with pytest.raises(Exception):
        weights.PINNED["aasist"].sha256 = "0" * 64  # frozen


def test_sha256_of_streams_the_whole_file(tmp_path):
    path = tmp_path / "big"
    data = os.urandom(weights.CHUNK * 2 + 17)
    path.write_bytes(data)
    assert weights.sha256_of(path) == hashlib.sha256(data).hexdigest()


def test_unknown_variant_lists_the_known_ones(env):
    with pytest.raises(WeightsError, match="known: aasist, aasist_l, fake"):
        weights.resolve("nope")
    with pytest.raises(WeightsError, match="unknown"):
        weights.describe("nope")


def test_explicit_path_file_or_directory(env):
    assert weights.resolve("fake", env["origin"] / "fake.pth") == env["origin"] / "fake.pth"
    assert weights.resolve("fake", str(env["origin"])) == env["origin"] / "fake.pth"  # a directory
    assert not env["cache"].exists()  # an explicit path neither copies nor downloads
    with pytest.raises(WeightsError, match=r"nothere\.pth does not exist"):
        weights.resolve("fake", env["tmp"] / "nothere.pth")
    with pytest.raises(WeightsError, match=r"fake\.pth \(in directory .*\) does not exist"):
        weights.resolve("fake", env["tmp"])  # a directory without the file: names both


def test_wrong_hash_names_file_and_both_hashes(env):
    bad = env["tmp"] / "bad.pth"
    bad.write_bytes(b"something else")
    actual = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(WeightsError) as err:
        weights.resolve("fake", bad)
    assert str(bad) in str(err.value) and actual in str(err.value) and env["pin"].sha256 in str(err.value)
    # a wrong file in the weights directory is reported too, never silently replaced by resolve
    env["cache"].mkdir()
    (env["cache"] / "fake.pth").write_bytes(b"something else")
    with pytest.raises(WeightsError, match=actual):
        weights.resolve("fake")
    assert (env["cache"] / "fake.pth").read_bytes() == b"something else"


def test_a_changed_file_is_hashed_again(env):
    path = env["tmp"] / "f.pth"
    path.write_bytes(PAYLOAD)
    weights.resolve("fake", path)
    path.write_bytes(PAYLOAD[:-1] + b"X")  # same size; mtime (ns) and content differ
    os.utime(path, ns=(1, 1))
    with pytest.raises(WeightsError, match="expected"):
        weights.resolve("fake", path)


def test_download_once_into_the_weights_dir(env, monkeypatch):
    got = weights.resolve("fake")
    assert got == env["cache"] / "fake.pth" and got.read_bytes() == PAYLOAD
    assert sorted(p.name for p in env["cache"].iterdir()) == ["fake.pth"]  # no temporary left
    calls = []
    monkeypatch.setattr(weights, "_copy_url", lambda *a: calls.append(a))
    assert weights.resolve("fake") == got and weights.fetch("fake") == got
    assert calls == []  # already there: no second download
    assert weights.describe("fake")["path"] == str(got)


def test_download_with_wrong_hash_leaves_nothing(env, monkeypatch):
    (env["origin"] / "fake.pth").write_bytes(b"tampered")
    with pytest.raises(WeightsError, match="download from file:.*expected") as err:
        weights.resolve("fake")
    assert "scaa weights fetch fake --from DIR" in str(err.value)
    assert list(env["cache"].iterdir()) == []


def test_failed_download_says_how_to_get_the_file(env, monkeypatch):
    pin = env["pin"]
    broken = WeightFile(pin.name, pin.file, pin.sha256, (env["tmp"] / "gone.pth").as_uri(), pin.source, pin.licence)
    monkeypatch.setitem(weights.PINNED, "fake", broken)
    with pytest.raises(WeightsError) as err:
        weights.resolve("fake")
    message = str(err.value)
    for hint in ("scaa weights fetch fake --from DIR", "SCAA_WEIGHTS_DIR", "weights: PATH", broken.url):
        assert hint in message
    assert not env["cache"].exists() or list(env["cache"].iterdir()) == []


def test_a_download_interrupted_midway_leaves_no_partial_file(env, monkeypatch):
    def half(url, out):
        out.write(PAYLOAD[:100])
        raise TimeoutError("timed out")

    monkeypatch.setattr(weights, "_copy_url", half)
    with pytest.raises(WeightsError, match="TimeoutError"):
        weights.resolve("fake")
    assert list(env["cache"].iterdir()) == []


@pytest.mark.parametrize("var", ["SCAA_OFFLINE", "HF_HUB_OFFLINE"])
def test_offline_fails_at_once(env, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    copy_url = weights._copy_url
    monkeypatch.setattr(weights, "_copy_url", lambda *a: pytest.fail("offline, yet a download was tried"))
    with pytest.raises(WeightsError, match=f"{var} is set"):
        weights.resolve("fake")
    with pytest.raises(WeightsError, match="is not in"):
        weights.resolve("fake", download=False)
    monkeypatch.setattr(weights, "_copy_url", copy_url)
    monkeypatch.setenv("SCAA_OFFLINE", "0")  # SCAA_OFFLINE=0 wins over HF_HUB_OFFLINE=1
    assert weights.resolve("fake").read_bytes() == PAYLOAD


def test_fetch_copies_checks_and_is_idempotent(env, monkeypatch):
    monkeypatch.setenv("SCAA_OFFLINE", "1")
    src = env["tmp"] / "src"
    src.mkdir()
    (src / "fake.pth").write_bytes(PAYLOAD)
    dest = weights.fetch("fake", src)
    assert dest == env["cache"] / "fake.pth" and dest.read_bytes() == PAYLOAD
    mtime = dest.stat().st_mtime_ns
    assert weights.fetch("fake", src) == dest and dest.stat().st_mtime_ns == mtime  # no second copy
    assert weights.fetch("fake") == dest  # present and valid: no download needed even offline
    # a wrong copy in the cache is replaced by fetch; a wrong source is refused before copying
    dest.write_bytes(b"rotten")
    assert weights.fetch("fake", src).read_bytes() == PAYLOAD
    (src / "fake.pth").write_bytes(b"wrong source")
    dest.unlink()
    with pytest.raises(WeightsError, match="expected"):
        weights.fetch("fake", src)
    assert list(env["cache"].iterdir()) == []


def test_describe_never_downloads(env, monkeypatch):
    monkeypatch.setattr(weights, "_copy_url", lambda *a: pytest.fail("describe downloaded"))
    info = weights.describe("fake")
    assert info["path"] is None and "is not in" in info["problem"]
    assert {k: info[k] for k in ("name", "file", "sha256", "url", "source", "licence")} == \
        {k: getattr(env["pin"], k) for k in ("name", "file", "sha256", "url", "source", "licence")}


def test_cli_fetch_list_path(env, monkeypatch, capsys):
    monkeypatch.setenv("SCAA_OFFLINE", "1")
    assert cli.main(["weights", "path", "aasist"]) == 2
    assert "scaa weights fetch aasist --from DIR" in capsys.readouterr().err
    assert cli.main(["weights", "fetch", "fake"]) == 2  # offline, not there
    assert "SCAA_OFFLINE is set" in capsys.readouterr().err
    assert cli.main(["weights", "fetch", "fake", "--from", str(env["origin"])]) == 0
    assert str(env["cache"] / "fake.pth") in capsys.readouterr().out
    assert cli.main(["weights", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")}
    assert lines["fake"].endswith(str(env["cache"] / "fake.pth"))
    assert lines["aasist"].endswith("missing") and weights.PINNED["aasist"].sha256[:12] in lines["aasist"]
    (env["cache"] / "AASIST.pth").write_bytes(b"wrong")
    assert cli.main(["weights", "list"]) == 0
    assert "WRONG HASH" in capsys.readouterr().out
    assert cli.main(["weights", "path", "aasist"]) == 2
    assert hashlib.sha256(b"wrong").hexdigest() in capsys.readouterr().err


def test_cli_exit_2_on_a_wrong_file(env, capsys):
    src = env["tmp"] / "src"
    src.mkdir()
    (src / "fake.pth").write_bytes(b"wrong bytes")
    assert cli.main(["weights", "fetch", "fake", "--from", str(src)]) == 2
    err = capsys.readouterr().err
    assert str(src / "fake.pth") in err and env["pin"].sha256 in err
    assert not (env["cache"] / "fake.pth").exists()


def _shared_or_skip():
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present (the project's shared copy of the AASIST weights)")
    return SHARED


def test_real_shared_weights_match_their_pins(tmp_path, monkeypatch, capsys):
    """The real files: both pins match, `scaa weights fetch all --from` copies them and
    `path` finds them. When the shared directory exists this test always runs (also under CI)."""
    shared = _shared_or_skip()
    monkeypatch.setenv("SCAA_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("SCAA_OFFLINE", "1")
    for name, pin in weights.PINNED.items():
        assert (shared / pin.file).is_file(), f"{shared / pin.file} missing"
        assert weights.sha256_of(shared / pin.file) == pin.sha256, name
        assert weights.resolve(name, shared) == shared / pin.file
    assert cli.main(["weights", "fetch", "all", "--from", str(shared)]) == 0
    for name, pin in weights.PINNED.items():
        assert cli.main(["weights", "path", name]) == 0
        assert capsys.readouterr().out.strip().endswith(str(tmp_path / "w" / pin.file))
