"""Serve a trained cell over HTTP: ``scaa serve [--model RUN_DIR] [--host 127.0.0.1] [--port 8000]``.

A FastAPI app under uvicorn: POST /v1/detect (the JSON line ``scaa detect`` prints),
POST /v1/overlay (PNG/HTML/JSON), GET /v1/model, GET /healthz, a page at / and the
OpenAPI docs at /docs and /redoc (offline). The model loads once; limits come from ``serve:``
in the config (``--max-seconds``, ``--workers``, ``--queue``, ``--threads`` override them).
The model is chosen as ``scaa detect`` chooses it: with nothing trained and none given,
the pretrained AASIST-L (``pretrained:aasist_l``), which /v1/model, every line and the page name.
"""
from __future__ import annotations

import ipaddress
import sys

from scaa.extras import MissingExtra, require


def add_arguments(parser) -> None:
    from scaa.inference.model_choice import DEFAULT_CONFIG, DEFAULT_SUMMARY, positive_int, positive_seconds

    parser.add_argument("--model", help="trained cell directory or pretrained:aasist_l / pretrained:aasist "
                                        "(default as in `scaa detect`)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    parser.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000); one in use: exit 2")
    parser.add_argument("--window", type=positive_seconds, default=4.0,
                        help="window length in seconds (as scaa detect)")
    parser.add_argument("--hop", type=positive_seconds, default=None, help="window hop in seconds (default window/2)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="workflow config: serve: {...} limits, detect.model")
    parser.add_argument("--summary", default=DEFAULT_SUMMARY)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch/BLAS threads (default serve.threads)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="detects running at once (default serve.workers)")
    parser.add_argument("--queue", type=int, default=None, help="detects waiting beyond those (default serve.queue)")
    parser.add_argument("--max-seconds", type=positive_seconds, default=None,
                        help="longer audio is refused (413 too_long) on its header, before decoding, by detect and "
                             "overlay alike (default serve.max_seconds: 600, as scaa detect)")
    parser.add_argument("--log-level", default="info")
    from scaa.inference.model_choice import add_plugin_argument

    add_plugin_argument(parser)


def _port(text: str) -> int:
    import argparse

    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return port


def main(args) -> int:
    try:
        uvicorn = require("uvicorn")
        require("fastapi")
        require("python_multipart")  # FastAPI's upload parsing
        require("fastapi_offline")  # the API docs' assets, served by the app itself
    except MissingExtra as err:
        print(f"scaa serve: error: {err}", file=sys.stderr)
        return 2
    from scaa.inference.model_choice import allowed_plugins, announce_default, choose_model
    from scaa.inference.detector import Detector
    from scaa.serve.app import create_app
    from scaa.serve.settings import ServeSettings

    try:  # bound before the model loads: a port in use is a usage error at once (exit 2)
        sock = _bind(args.host, args.port)
    except OSError as err:
        print(f"scaa serve: error: cannot listen on {args.host}:{args.port} ({err.strerror or err}); "
              "is another server using that port? Choose another with --port", file=sys.stderr)
        return 2
    try:
        settings = ServeSettings.from_config(args.config, threads=args.threads, workers=args.workers, queue=args.queue,
                                             max_seconds=args.max_seconds)
        run_dir, how = choose_model(args.model, args.config, args.summary)
        announce_default("scaa serve", run_dir, how)
        detector = Detector.from_run(run_dir, threads=settings.threads,
                                     allow_plugins=allowed_plugins(args.allow_plugin, args.config))
        detector.warm_up()
        _warm_overlay()
    except Exception as err:  # no usable model or settings: exit 2 as scaa detect does
        sock.close()
        print(f"scaa serve: error: {err}", file=sys.stderr)
        return 2
    if not _is_loopback(args.host):
        print(f"scaa serve: warning: binding {args.host} exposes the detector beyond this machine (no auth, no TLS)",
              file=sys.stderr)
    app = create_app(detector, run_dir, settings, args.window, args.hop)
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level))
    print(f"scaa serve: {run_dir} on http://{args.host}:{args.port}/ (API docs at /docs)", file=sys.stderr, flush=True)
    server.run(sockets=[sock])  # the socket bound above: the line is printed only once it listens
    return 0


def _bind(host: str, port: int):
    """A listening TCP socket on (host, port), as uvicorn would open it."""
    import socket

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warm_overlay() -> None:
    """Import what the overlay draws with now, so the first /v1/overlay is not seconds slower."""
    from matplotlib.figure import Figure  # noqa: F401

    from scaa.inference.overlay import band_edges

    band_edges(16)
