"""The server under hostile or unlucky clients: stalled uploads (408, never holding a worker),
the cap on bodies arriving at once, overlays in their own lane, Retry-After from the
measured wait, the duration limit on uploads (413 too_long), exactly one `file` part, and
every error in the `{"error": {"code", "message"}}` shape."""
import json
import math
import select
import socket
import tempfile
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import free_port
import soundfile as sf

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from scaa import cli  # noqa: E402
from scaa.serve import limits  # noqa: E402
from scaa.serve.app import create_app  # noqa: E402
from scaa.serve.gate import Gate  # noqa: E402
from scaa.serve.settings import ServeSettings  # noqa: E402


@pytest.fixture
def clip(served):
    return open(served[2][0], "rb").read()


def post(client, path, name, data, media="application/octet-stream", **kw):
    return client.post(path, files={"file": (name, data, media)}, **kw)


def flac_bytes(wave, sr=16000):
    import io

    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="FLAC")
    return buf.getvalue()


class Slowed:
    """The real detector, each score_file first sleeping ``delay`` s, then waiting for ``hold``."""

    def __init__(self, det, delay=0.0):
        self.det, self.delay, self.hold = det, delay, None

    def __getattr__(self, name):
        return getattr(self.det, name)

    def score_file(self, *a, **kw):
        time.sleep(self.delay)
        if self.hold is not None:
            self.hold.wait(30)
        return self.det.score_file(*a, **kw)


@contextmanager
def live(app):
    """``app`` under uvicorn on loopback, in a thread: real sockets, so a client can stall."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield port, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


PART_HEAD = b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'


def stalled(port, path="/v1/detect", length=200_000, body=b""):
    """A client that sends the headers of an upload (and ``body``), then nothing."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode() + body)
    return sock


def answer(sock, timeout=10.0) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of the response a raw socket gets."""
    sock.settimeout(timeout)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body or b"{}")


def wait_for(check, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_stalled_uploads_get_408_and_do_not_block_a_good_client(served, clip):
    det, run_dir, _ = served
    app = create_app(det, run_dir, ServeSettings(workers=1, queue=1, body_timeout_s=1.5, max_uploads=8))
    with live(app) as (port, base):
        socks = [stalled(port) for _ in range(4)]  # more than workers + queue: once they held every slot
        assert wait_for(lambda: app.state.uploads.status()["arriving"] == 4)
        took = []
        for _ in range(3):
            t0 = time.perf_counter()
            r = httpx.post(f"{base}/v1/detect", files={"file": ("a.wav", clip)}, timeout=30)
            took.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
        assert max(took) < 1.0, took
        assert app.state.gate.admitted == 0  # a stalled upload never held a worker or queue slot
        t0 = time.perf_counter()
        for sock in socks:
            status, headers, body = answer(sock)
            assert status == 408 and body["error"]["code"] == "body_timeout", body
            assert "serve.body_timeout_s" in body["error"]["message"] and headers.get("connection") == "close"
            sock.close()
        assert time.perf_counter() - t0 < 3.0
        assert httpx.get(f"{base}/healthz").json()["uploads"]["arriving"] == 0


def test_the_cap_on_uploads_arriving_at_once(served, clip, monkeypatch):
    det, run_dir, _ = served
    monkeypatch.setattr(limits, "EVICT_IDLE_S", 0.6)
    app = create_app(det, run_dir, ServeSettings(max_uploads=2, body_timeout_s=30))
    stop = threading.Event()

    def trickle(sock):  # an upload that keeps sending, slowly: never idle long enough to be cut off
        while not stop.is_set():
            sock.sendall(b"\0")
            time.sleep(0.1)

    with live(app) as (port, base):
        socks = [stalled(port, body=PART_HEAD) for _ in range(2)]
        threads = [threading.Thread(target=trickle, args=(s,), daemon=True) for s in socks]
        for t in threads:
            t.start()
        assert wait_for(lambda: app.state.uploads.status()["arriving"] == 2)
        r = httpx.post(f"{base}/v1/detect", files={"file": ("a.wav", clip)}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy"
        assert "serve.max_uploads" in r.json()["error"]["message"] and int(r.headers["retry-after"]) >= 1
        stop.set()  # now both stall: the next upload pushes out the one idle longest
        for t in threads:
            t.join(5)
        time.sleep(0.8)
        r = httpx.post(f"{base}/v1/detect", files={"file": ("a.wav", clip)}, timeout=30)
        assert r.status_code == 200, r.text
        readable, _, _ = select.select(socks, [], [], 5)
        assert len(readable) == 1  # one was cut off to make room; the other may go on
        status, _, body = answer(readable[0])
        assert status == 408 and "cut off" in body["error"]["message"]
        assert app.state.uploads.status()["cut_off"] >= 1
        for sock in socks:
            sock.close()


def test_a_lane_place_is_taken_once_the_body_is_in(served, clip):
    """A slow upload passes the door while the lane has room, holds no place while it arrives,
    and is answered 503 (with the measured wait) if the lane filled up meanwhile."""
    det, run_dir, _ = served
    slow = Slowed(det)
    slow.hold = threading.Event()
    app = create_app(slow, run_dir, ServeSettings(workers=1, queue=0, body_timeout_s=10))
    body = PART_HEAD + clip + b"\r\n--zz--\r\n"
    results = []
    with live(app) as (port, base):
        sock = stalled(port, length=len(body), body=body[:200])
        assert wait_for(lambda: app.state.uploads.status()["arriving"] == 1)
        assert app.state.gate.admitted == 0
        t = threading.Thread(target=lambda: results.append(
            httpx.post(f"{base}/v1/detect", files={"file": ("a.wav", clip)}, timeout=30)))
        t.start()
        assert wait_for(lambda: app.state.gate.admitted == 1)  # the lane is full now
        sock.sendall(body[200:])
        status, headers, answered = answer(sock)
        assert status == 503 and answered["error"]["code"] == "busy" and int(headers["retry-after"]) >= 1
        sock.close()
        slow.hold.set()
        t.join(30)
    assert results[0].status_code == 200


def test_a_long_overlay_does_not_delay_a_detect(served, clip, monkeypatch):
    import scaa.inference.overlay

    det, run_dir, _ = served
    real = scaa.inference.overlay.overlay
    started = threading.Event()

    def slow_overlay(*a, **kw):
        started.set()
        time.sleep(4.0)
        return real(*a, **kw)

    monkeypatch.setattr(scaa.inference.overlay, "overlay", slow_overlay)
    app = create_app(det, run_dir, ServeSettings(workers=1, queue=1, overlay_workers=1, overlay_queue=0))
    done = {}
    with TestClient(app) as c:
        t = threading.Thread(target=lambda: done.update(r=post(c, "/v1/overlay?format=json", "a.wav", clip)))
        t.start()
        assert started.wait(10)
        t0 = time.perf_counter()
        r = post(c, "/v1/detect", "a.wav", clip)
        took = time.perf_counter() - t0
        assert r.status_code == 200 and took < 2.0, took
        assert "r" not in done  # the overlay is still running
        r = post(c, "/v1/overlay?format=json", "b.wav", clip)  # its lane is full: 503 at once
        assert r.status_code == 503 and "overlay" in r.json()["error"]["message"]
        health = c.get("/healthz").json()
        assert health["lanes"]["overlay"]["admitted"] == 1 and health["lanes"]["detect"]["admitted"] == 0
        t.join(30)
    assert done["r"].status_code == 200


def test_retry_after_is_the_measured_wait(served, clip):
    g = Gate(workers=2, queue=2)
    assert g.retry_after_s() == 1  # nothing held, nothing measured
    g.measure(3.0)
    g.measure(1.0)  # moving average: 0.7 * 3 + 0.3 * 1
    assert g.service_s == pytest.approx(2.4)
    g.admitted = 4
    assert g.expected_wait_s() == pytest.approx(4.8) and g.retry_after_s() == 5

    det, run_dir, _ = served
    slow = Slowed(det, delay=0.6)
    app = create_app(slow, run_dir, ServeSettings(workers=1, queue=2))
    with TestClient(app) as c:
        assert post(c, "/v1/detect", "a.wav", clip).status_code == 200  # measured: about 0.6 s
        slow.hold = threading.Event()
        results = []
        threads = [threading.Thread(target=lambda: results.append(post(c, "/v1/detect", "a.wav", clip)))
                   for _ in range(3)]
        for t in threads:
            t.start()
        assert wait_for(lambda: app.state.gate.admitted == 3)
        r = post(c, "/v1/detect", "d.wav", clip)
        gate = app.state.gate
        assert r.status_code == 503
        assert int(r.headers["retry-after"]) == math.ceil(gate.service_s * 3) >= 2  # three ahead, ~0.6 s each
        slow.hold.set()
        for t in threads:
            t.join(30)
    assert [x.status_code for x in results] == [200] * 3


def test_too_long_uploads_are_refused_by_detect_and_overlay(served, tmp_path, monkeypatch):
    det, run_dir, _ = served
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    long = flac_bytes(np.zeros(700 * 16000, np.float32))  # 700 s: a few KB
    with TestClient(create_app(det, run_dir, ServeSettings())) as c:  # the default limit: 600 s, as scaa detect
        r = post(c, "/v1/detect", "700s.flac", long)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_long", r.text
        assert "700.0 s > 600" in r.json()["error"]["message"] and r.json()["file"] == "700s.flac"
        r = post(c, "/v1/overlay?format=png", "700s.flac", long)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_long"
        assert c.get("/v1/model").json()["limits"]["max_seconds"] == 600
    wave, _ = sf.read(served[2][0], dtype="float32")
    with TestClient(create_app(det, run_dir, ServeSettings(max_seconds=0.5))) as c:  # configurable
        r = post(c, "/v1/detect", "clip.flac", flac_bytes(wave))
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_long"
    assert list(tmp_path.iterdir()) == []
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serve: {max_seconds: 30, body_timeout_s: 5}\n")
    s = ServeSettings.from_config(cfg, max_seconds=12.5)
    assert (s.max_seconds, s.body_timeout_s) == (12.5, 5)
    with pytest.raises(ValueError):
        ServeSettings(max_seconds=float("nan"))
    assert cli.main(["serve", "--max-seconds", "nan"]) == 2  # a usage error, not the limit switched off


def test_one_file_part_and_every_error_in_one_shape(served, clip):
    det, run_dir, _ = served
    with TestClient(create_app(det, run_dir, ServeSettings())) as c:
        def shape(r, status, code):
            assert r.status_code == status, r.text
            body = r.json()
            assert set(body["error"]) == {"code", "message"} and body["error"]["code"] == code, body
            assert body["error"]["message"] and "detail" not in body

        two = [("file", ("a.wav", clip, "audio/wav")), ("file", ("b.wav", clip, "audio/wav"))]
        shape(c.post("/v1/detect", files=two), 400, "one_file")
        shape(c.post("/v1/overlay", files=two), 400, "one_file")
        shape(c.post("/v1/detect", files={"other": ("a.wav", clip)}), 422, "missing_file")
        shape(c.post("/v1/detect", data={"file": "clip.wav"}, files={"x": ("x", b"")}), 422, "invalid_request")
        shape(c.post("/v1/overlay?format=gif", files={"file": ("a.wav", clip)}), 422, "invalid_request")
        shape(c.get("/v1/nothing"), 404, "not_found")
        shape(c.get("/v1/detect"), 405, "method_not_allowed")
        shape(c.post("/v1/detect", content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported_media_type")
        shape(post(c, "/v1/detect", "notes.txt", b"hi", media="text/plain"), 415, "unsupported_type")
        shape(post(c, "/v1/detect", "bad.wav", b"RIFF, not audio"), 422, "unreadable")
        shape(c.post("/v1/detect", content=b"--zz\r\nbroken", headers={"content-type": "multipart/form-data"}),
              400, "bad_request")
        r = post(c, "/v1/detect", "a.wav", clip)
        assert r.status_code == 200


def test_docs_are_served_from_the_app(served):
    det, run_dir, _ = served
    with TestClient(create_app(det, run_dir, ServeSettings())) as c:
        for page, assets in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                             ("/redoc", ("redoc.standalone.js",))):
            html = c.get(page).text
            assert "cdn" not in html and "fonts.googleapis" not in html
            for asset in assets:
                assert f"/static/docs/{asset}" in html
                r = c.get(f"/static/docs/{asset}")
                assert r.status_code == 200 and len(r.content) > 100_000
        assert "/openapi.json" in c.get("/docs").text
        m = c.get("/v1/model").json()
        assert m["p_spoof_at_threshold"] == pytest.approx(float(det.p_spoof([det.threshold])[0]))
