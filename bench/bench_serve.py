"""`scaa serve` under load and faults, on loopback only, bounded in count and time.

Starts ``python -m scaa.cli serve`` on 127.0.0.1 (a free port) with a model (--model, else
the `scaa detect` default), then:

- load: 1, 4 and 16 concurrent clients, each posting ``--per-client`` 4 s clips (seeded
  synthetic speech-like signal, wav) to /v1/detect; per level: p50/p95 request latency
  as the client sees it and throughput (requests/s); any non-200 is counted;
- faults: a client that declares a 4 s upload and disconnects half way (x5); 100
  malformed uploads in a row (random bytes named .wav -> 422); one upload over
  serve.max_upload_mb (-> 413); after each, a good request must still get 200;
- server RSS (psutil) after start, after the load and after the faults.

Run: python bench/bench_serve.py [--model RUN_DIR] [--per-client 8] [--out bench/results/serve.json]
Every request has a 120 s timeout; the whole run is capped by --max-seconds.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scaa.dsp.audio import SAMPLE_RATE  # noqa: E402
from scaa.workflow.synthetic import synthetic_clip  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wav(seconds: float, seed: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synthetic_clip(seconds, seed), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def post(client, base, name, data):
    t0 = time.perf_counter()
    r = client.post(f"{base}/v1/detect", files={"file": (name, data, "audio/wav")}, timeout=120)
    return r.status_code, (time.perf_counter() - t0) * 1000


def load_level(base, clients, per_client, clip) -> dict:
    def worker(i):
        with httpx.Client() as c:
            return [post(c, base, f"c{i}.wav", clip) for _ in range(per_client)]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(worker, range(clients)) for r in rs]
    wall = time.perf_counter() - t0
    ok = np.array([ms for code, ms in results if code == 200])
    return {"clients": clients, "requests": len(results), "ok": int(ok.size),
            "non_200": sorted({code for code, _ in results if code != 200}),
            "p50_ms": round(float(np.percentile(ok, 50)), 1), "p95_ms": round(float(np.percentile(ok, 95)), 1),
            "throughput_rps": round(len(results) / wall, 2), "wall_s": round(wall, 2)}


def raw_upload(clip: bytes, filename: str, path: str = "/v1/detect") -> tuple[bytes, bytes]:
    """(request head, multipart body) of one ``file`` upload, for clients that send it by hand
    over a raw socket (to stall or cut it)."""
    boundary = "scaabench"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    body = head + clip + f"\r\n--{boundary}--\r\n".encode()
    req = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode()
    return req, body


def disconnect_mid_upload(port, clip) -> None:
    """Declare the full multipart body, send half of it, close the socket."""
    req, body = raw_upload(clip, "cut.wav")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req + body[: len(body) // 2])
    time.sleep(0.05)


def wait_healthy(base: str, server, tries: int = 600) -> None:
    """Until the server at ``base`` answers /healthz (or its process ``server`` exits)."""
    for _ in range(tries):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
        if server.poll() is not None:
            raise SystemExit("server exited")
    raise SystemExit(f"{base} did not answer /healthz")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model")
    ap.add_argument("--per-client", type=int, default=8, help="requests per client at each level")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=900)
    ap.add_argument("--out")
    args = ap.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = Path(tempfile.mkdtemp()) / "serve.yaml"
    cfg.write_text("serve: {max_upload_mb: 2}\n")
    cmd = [sys.executable, "-m", "scaa.cli", "serve", "--port", str(port), "--config", str(cfg), "--log-level", "warning",
           "--workers", str(args.workers), "--queue", str(args.queue)]
    if args.model:
        cmd += ["--model", args.model]
    else:  # the scaa detect default (config detect.model, else best dev EER cell of the summary)
        from scaa.inference.model_choice import resolve_model

        cmd += ["--model", resolve_model(None)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)
    deadline = time.monotonic() + args.max_seconds
    try:
        wait_healthy(base, server)
        proc = psutil.Process(server.pid)
        rss = {"after_start_mb": round(proc.memory_info().rss / 2**20, 1)}
        model = httpx.get(f"{base}/v1/model").json()
        clip = wav(4.0, 0)
        with httpx.Client() as c:
            for _ in range(3):
                post(c, base, "warm.wav", clip)
        load = []
        for n in (int(x) for x in args.levels.split(",")):
            if time.monotonic() > deadline:
                break
            load.append(load_level(base, n, args.per_client, clip))
        rss["after_load_mb"] = round(proc.memory_info().rss / 2**20, 1)

        faults = {}
        with httpx.Client() as c:
            for _ in range(5):
                disconnect_mid_upload(port, clip)
            faults["disconnect_mid_upload_x5_then"] = post(c, base, "ok.wav", clip)[0]
            rng = np.random.default_rng(0)
            codes = [post(c, base, f"bad{i}.wav", rng.bytes(int(rng.integers(10, 50_000))))[0] for i in range(100)]
            faults["malformed_x100_codes"] = {str(k): codes.count(k) for k in sorted(set(codes))}
            faults["malformed_x100_then"] = post(c, base, "ok.wav", clip)[0]
            faults["oversized_3mb_code"] = post(c, base, "big.wav", b"\0" * (3 * 2**20))[0]
            faults["oversized_then"] = post(c, base, "ok.wav", clip)[0]
            faults["healthz"] = c.get(f"{base}/healthz").json()
        rss["after_faults_mb"] = round(proc.memory_info().rss / 2**20, 1)
    finally:
        server.terminate()
        server.wait(30)
    out = {"model": model["model"], "encoder": model["encoder"], "head": model["head"], "clip_s": 4.0,
           "workers": args.workers, "queue": args.queue, "threads": 1, "per_client": args.per_client,
           "load": load, "faults": faults, "rss": rss, "cpus": os.cpu_count()}
    print(json.dumps(out, indent=1))
    print("\n| clients | requests | p50 ms | p95 ms | throughput req/s | non-200 |\n|---|---|---|---|---|---|")
    for r in load:
        print(f"| {r['clients']} | {r['requests']} | {r['p50_ms']} | {r['p95_ms']} | {r['throughput_rps']} | "
              f"{r['non_200'] or '-'} |")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
