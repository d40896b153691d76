"""The HTTP API on a small trained cell: the same line as `scaa detect`, and every error code."""
import io
import json
import tempfile
import threading

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from scaa import cli  # noqa: E402
from scaa.serve.app import create_app  # noqa: E402
from scaa.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture
def client(served, tmp_path, monkeypatch):
    det, run_dir, _ = served
    # uploads must land under the temp root and be gone afterwards
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with TestClient(create_app(det, run_dir, ServeSettings(max_upload_mb=0.25))) as c:
        yield c
    assert list(tmp_path.iterdir()) == []


def post(client, path, name, data, media="application/octet-stream", **kw):
    return client.post(path, files={"file": (name, data, media)}, **kw)


def wav_bytes(wave, sr=16000, fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format=fmt)
    return buf.getvalue()


def test_detect_returns_the_cli_line(client, served, capsys):
    _, run_dir, clips = served
    for clip in clips[:2]:
        r = post(client, "/v1/detect", "clip.wav", open(clip, "rb").read())
        assert r.status_code == 200
        api = r.json()
        assert cli.main(["detect", clip, "--model", run_dir]) == 0
        line = json.loads(capsys.readouterr().out.splitlines()[0])
        assert api["file"] == "clip.wav"
        for d in (api, line):
            d.pop("latency_ms"), d.pop("file")
        assert api == line


def test_flac_and_media_type_without_a_name(client, served):
    _, _, clips = served
    wave, _ = sf.read(clips[0], dtype="float32")
    r = post(client, "/v1/detect", "x.flac", wav_bytes(wave, fmt="FLAC"))
    assert r.status_code == 200 and r.json()["file"] == "x.flac"
    r = post(client, "/v1/detect", "blob", wav_bytes(wave), media="audio/wav")  # no suffix: the media type decides
    assert r.status_code == 200 and r.json()["score"] == pytest.approx(post(
        client, "/v1/detect", "a.wav", wav_bytes(wave)).json()["score"])


def test_422_with_the_cli_reason(client, served, capsys, tmp_path):
    _, run_dir, _ = served
    r = post(client, "/v1/detect", "bad.wav", b"RIFF but not really audio")
    assert r.status_code == 422
    err = r.json()["error"]  # the CLI line, its error as {code: the CLI's reason, message: the CLI's text}
    assert err["code"] == "unreadable" and err["message"].startswith("unreadable") and "bad.wav" in err["message"]
    assert "scaa-serve" not in err["message"]  # the temp path never shows
    quiet = wav_bytes(np.zeros(16000, np.float32))
    r = post(client, "/v1/detect", "quiet.wav", quiet)
    assert r.status_code == 422 and r.json()["error"] == {"code": "silent", "message": "silent"}
    (tmp_path / "quiet.wav").write_bytes(quiet)
    assert cli.main(["detect", str(tmp_path / "quiet.wav"), "--model", run_dir]) == 1
    assert json.loads(capsys.readouterr().out)["error"] == "silent"  # the CLI prints the message
    (tmp_path / "quiet.wav").unlink()
    r = post(client, "/v1/overlay?format=png", "quiet.wav", quiet)
    assert r.status_code == 422 and r.json()["error"] == {"code": "silent", "message": "silent"}
    r = client.post("/v1/detect", files={"other": ("a.wav", b"x")})  # no field named file
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_file"


def test_415_unsupported(client):
    r = post(client, "/v1/detect", "notes.txt", b"hello", media="text/plain")
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_type"
    r = client.post("/v1/detect", json={"file": "clip.wav"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]["message"]
    r = client.post("/v1/overlay", content=b"abc", headers={"content-type": "audio/wav"})
    assert r.status_code == 415


def test_413_declared_and_streamed(client):
    big = b"\0" * int(0.4 * 2**20)
    r = post(client, "/v1/detect", "big.wav", big)
    assert r.status_code == 413 and "0.25 MB" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(8):
            yield b"x" * 65536

    r = client.post("/v1/detect", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zz"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert client.get("/healthz").json()["admitted"] == 0


def test_503_when_workers_and_queue_are_full(served, tmp_path):
    det, run_dir, clips = served
    release = threading.Event()

    class Slow:  # the real detector, held until the test lets it go
        def __getattr__(self, name):
            return getattr(det, name)

        def score_file(self, *a, **kw):
            release.wait(30)
            return det.score_file(*a, **kw)

    app = create_app(Slow(), run_dir, ServeSettings(workers=1, queue=1))
    data = open(clips[0], "rb").read()
    results = []
    with TestClient(app) as c:
        threads = [threading.Thread(target=lambda: results.append(post(c, "/v1/detect", "a.wav", data)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for _ in range(200):  # both admitted: one running, one queued
            if app.state.gate.admitted == 2:
                break
            threading.Event().wait(0.05)
        r = post(c, "/v1/detect", "c.wav", data)
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "busy"
        assert c.get("/healthz").status_code == 200  # the event loop stays free
        release.set()
        for t in threads:
            t.join(30)
    assert [x.status_code for x in results] == [200, 200]


def test_overlay_formats(client, served):
    _, _, clips = served
    data = open(clips[0], "rb").read()
    r = post(client, "/v1/overlay?format=png", "clip.wav", data)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
    r = post(client, "/v1/overlay", "clip.wav", data, headers={"accept": "text/html"})
    assert r.headers["content-type"].startswith("text/html") and b"plotly" in r.content
    r = post(client, "/v1/overlay?format=json", "clip.wav", data)
    rec = r.json()
    assert rec["file"] == "clip.wav" and len(rec["occlusion_delta"]) == 16
    assert rec["p_spoof"] == pytest.approx(post(client, "/v1/detect", "clip.wav", data).json()["p_spoof"])
    r = post(client, "/v1/overlay?format=gif", "clip.wav", data)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    assert "format" in r.json()["error"]["message"]


def test_model_health_docs_page(client, served):
    det, run_dir, _ = served
    m = client.get("/v1/model").json()
    assert m["model"] == run_dir and m["threshold"] == det.threshold
    assert m["calibration"]["method"] == "platt" and 0 <= m["dev_eer"] <= 1
    assert m["trained_on"]["dataset"] == "synthetic" and m["trained_on"]["train_clips"] > 0
    assert m["encoder"]["type"] == "spectral" and m["head"]["type"] == "mlp"
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert {"/v1/detect", "/v1/overlay", "/v1/model", "/healthz"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "http" not in client.get("/static/app.js").text.replace("http.", "")  # no external assets


def test_settings_from_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serve: {max_upload_mb: 5, queue: 2}\n")
    s = ServeSettings.from_config(cfg, workers=3)
    assert (s.max_upload_mb, s.queue, s.workers) == (5, 2, 3)
    cfg.write_text("serve: {max_upload: 5}\n")
    with pytest.raises(ValueError, match="unknown serve settings"):
        ServeSettings.from_config(cfg)
    assert cli.main(["serve", "--model", str(tmp_path / "nope")]) == 2


def test_a_port_in_use_is_a_usage_error_before_anything_loads(tmp_path, capsys):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:  # the model does not exist either: the port is checked first, and nothing says "serving"
        assert cli.main(["serve", "--model", str(tmp_path / "nope"), "--port", str(port)]) == 2
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err and "http://" not in err
    assert cli.main(["serve", "--port", "70000"]) == 2
