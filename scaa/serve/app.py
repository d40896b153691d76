"""The FastAPI app: one loaded detector behind /v1/detect, /v1/overlay, /v1/model, /healthz and a page.

Every upload is copied into its own temporary directory, scored there and removed with it;
nothing else is written. Every error is ``{"error": {"code", "message"}}``. Status codes:
200 scored; 400 not exactly one ``file`` part (``one_file``) or a body that does not
parse; 408 an upload that stalled (``body_timeout``); 413 too large (``too_large``) or
audio longer than ``max_seconds`` (``too_long``); 415 not multipart or not a supported
audio type; 422 the audio cannot be scored (the body is the ``scaa detect`` line, its
``error`` coded by the CLI's reason: ``unreadable``, ``silent``, ``too_short``, ...) or the
request is invalid (``missing_file``, ``invalid_request``); 503 busy (Retry-After: the
measured wait). Detects and overlays run in lanes of their own (:mod:`scaa.serve.gate`).
The API docs (/docs, /redoc) are served from the ``fastapi-offline`` package's assets, so
they work offline.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool

from scaa.dsp import audio
from scaa.inference.pipeline import SCORING_ERRORS, detect_line, unscored_line
from scaa.extras import require
from scaa.serve.gate import Busy, Gate
from scaa.serve.limits import (BODY_TIMEOUT_KEY, TOO_LARGE_KEY, UploadLimits, Uploads, body_timeout, busy, error,
                               too_large)
from scaa.serve.settings import ServeSettings

STATIC = Path(__file__).with_name("static")
# what a browser or client may send without a usable file name -> the suffix the decoder needs
MEDIA_SUFFIXES = {
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav",
    "audio/flac": ".flac", "audio/x-flac": ".flac", "audio/mpeg": ".mp3", "audio/mp3": ".mp3",
    "audio/ogg": ".ogg", "audio/opus": ".opus", "audio/webm": ".webm", "video/webm": ".webm",
    "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "video/mp4": ".mp4", "audio/aac": ".aac",
    "audio/aiff": ".aiff", "audio/x-aiff": ".aiff",
}
ERRORS = {400: "not exactly one `file` part (one_file), or a body that does not parse (bad_request)",
          408: "the upload sent nothing for serve.body_timeout_s (body_timeout)",
          413: "upload larger than serve.max_upload_mb (too_large), or audio longer than max_seconds (too_long)",
          415: "not multipart/form-data, or not a supported audio type",
          422: "audio that cannot be scored (the body is the `scaa detect` line, its error coded by the CLI's "
               "reason), or no `file` field (missing_file)",
          503: "busy: every worker and queue slot of the lane, or every upload place, is taken (see Retry-After)"}
# status code -> error code, for errors raised by FastAPI / Starlette themselves
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large",
              415: "unsupported_type", 422: "invalid_request", 503: "busy"}
DOCS_ASSETS = "/static/docs"  # fastapi-offline's Swagger UI / ReDoc files, mounted here
DOCS_CSP = "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'"


def upload_suffix(file: UploadFile) -> str:
    """The decoder's suffix from the file name, else from the part's media type; else 415."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix in audio.AUDIO_SUFFIXES:
        return suffix
    media = (file.content_type or "").split(";")[0].strip().lower()
    if media in MEDIA_SUFFIXES:
        return MEDIA_SUFFIXES[media]
    raise HTTPException(415, {"code": "unsupported_type", "message": (
        f"{file.filename or 'the upload'} ({media or 'no media type'}) is not a supported audio file; "
        f"send one of {', '.join(sorted(audio.AUDIO_SUFFIXES))}")})


async def one_file(request: Request) -> None:
    """Exactly one ``file`` part: a second one would otherwise silently replace the first."""
    parts = (await request.form()).getlist("file")
    if len(parts) != 1:
        raise HTTPException(400, {"code": "one_file", "message": f"send exactly one multipart part named 'file', "
                                                                 f"not {len(parts)}"})


def error_line(line: dict) -> tuple[dict, int]:
    """The ``scaa detect`` line of a file that could not be scored, its ``error`` as
    ``{"code": the CLI's reason, "message": the CLI's text}``; 413 for ``too_long``, else 422."""
    code = line["error"].split(":", 1)[0]
    return {**line, "error": {"code": code, "message": line["error"]}}, 413 if code == "too_long" else 422


async def save_upload(file: UploadFile, folder: str, suffix: str) -> Path:
    path = Path(folder) / f"upload{suffix}"  # a fixed name: the client's file name never becomes a path
    def copy():
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
    await run_in_threadpool(copy)
    return path


def model_info(detector, run_dir: str, window_s: float, hop_s: float, settings: ServeSettings) -> dict:
    """What the loaded model is: spec, what it was trained on, dev EER, threshold, calibration,
    and a one-line ``description``; for a pretrained model (:mod:`scaa.inference.pretrained`) also
    ``pretrained``: its weights file, SHA-256 and where it was found, and what its numbers mean."""
    spec = detector.spec or {}
    calib = getattr(detector, "calib", {}) or {}
    cell = spec.get("cell") or {}
    pretrained = spec.get("pretrained")
    info = {"model": run_dir, "cell": cell, "encoder": spec.get("encoder"), "head": spec.get("head"),
            "loss": spec.get("loss"), "views": spec.get("views"), "freeze": spec.get("freeze"), "seed": spec.get("seed"),
            "trained_on": {"dataset": cell.get("train_dataset"), **(spec.get("training_info") or {})},
            "dev_eer": calib.get("dev_eer"), "dev_clips": calib.get("dev_clips"), "threshold": detector.threshold,
            "calibration": calib.get("calibration"),
            "decision_rule": "spoof iff score >= threshold (the dev EER threshold); p_spoof calibrated on dev",
            "window_s": window_s, "hop_s": hop_s,
            "p_spoof_at_threshold": _p_at_threshold(detector),
            "limits": {"max_upload_mb": settings.max_upload_mb, "max_seconds": settings.max_seconds,
                       "workers": settings.workers, "queue": settings.queue,
                       "overlay_workers": settings.overlay_workers, "overlay_queue": settings.overlay_queue,
                       "max_uploads": settings.max_uploads, "body_timeout_s": settings.body_timeout_s,
                       "formats": sorted(audio.AUDIO_SUFFIXES)}}
    if pretrained:  # nothing trained or calibrated here: say what the model is and what its numbers mean
        info.update(kind="pretrained", description=pretrained["description"], pretrained=pretrained,
                    trained_on=pretrained["trained_on"], decision_rule=pretrained["decision_rule"],
                    probability=pretrained["probability"])
    else:
        eer = calib.get("dev_eer")
        info.update(kind="trained", description=(
            f"SCAA cell {cell.get('encoder') or (spec.get('encoder') or {}).get('type')} / "
            f"{cell.get('head') or (spec.get('head') or {}).get('type')} trained on {cell.get('train_dataset') or '?'}"
            + (f"; dev EER {100 * eer:.2f} %" if eer is not None else "")
            + "; P(spoof) calibrated on its dev split"))
    return info


def _p_at_threshold(detector) -> float | None:
    """The calibrated P(spoof) of a score exactly at the decision threshold: the page shows it
    beside P(spoof), so "P 0.53 / bonafide" reads as "below the 0.61 the threshold is at"."""
    try:
        return float(detector.p_spoof([detector.threshold])[0])
    except Exception:  # a model without calibration: the score threshold alone is shown
        return None


def create_app(detector, run_dir: str, settings: ServeSettings | None = None, window_s: float = 4.0,
               hop_s: float | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    hop_s = window_s / 2 if hop_s is None else hop_s
    docs_static = Path(require("fastapi_offline").__file__).with_name("static")
    lanes = {"detect": Gate(settings.workers, settings.queue, "detect"),
             "overlay": Gate(settings.overlay_workers, settings.overlay_queue, "overlay")}
    gate, overlay_lane = lanes["detect"], lanes["overlay"]
    uploads = Uploads(settings.max_uploads, settings.body_timeout_s)

    @asynccontextmanager
    async def lifespan(app):
        yield
        for lane in lanes.values():
            lane.close()

    pretrained = (getattr(detector, "spec", None) or {}).get("pretrained")
    about = (f"Audio deepfake detection with {pretrained['description']}. Scores are higher = more likely spoof "
             "(the spoof - bona fide logit); the decision is spoof iff score >= 0." if pretrained else
             "Audio deepfake detection with one trained SCAA cell. Scores are higher = more likely spoof; "
             "p_spoof is calibrated on the cell's dev split.")
    app = FastAPI(title="SCAA detector", lifespan=lifespan, description=about, docs_url=None, redoc_url=None)
    app.state.gate, app.state.lanes, app.state.uploads, app.state.settings = gate, lanes, uploads, settings
    app.add_middleware(UploadLimits, settings=settings, lanes=lanes, uploads=uploads)
    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_static), name="docs-assets")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.scope.get(TOO_LARGE_KEY):  # the body parser gave up because the upload passed the limit
            return JSONResponse(too_large(settings), status_code=413)
        if request.scope.get(BODY_TIMEOUT_KEY):  # ... or because the upload stalled
            return JSONResponse(body_timeout(settings, request.scope[BODY_TIMEOUT_KEY]), status_code=408,
                                headers={"connection": "close"})
        detail = exc.detail
        if isinstance(detail, dict) and {"code", "message"} <= set(detail):
            body = error(detail["code"], detail["message"])
        else:
            body = error(HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}"), str(detail))
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = exc.errors()
        if any(p.get("type") == "missing" and tuple(p.get("loc", ()))[-1:] == ("file",) for p in problems):
            body = error("missing_file", "no multipart part named 'file': send the audio as a form field "
                                         "named file (curl -F file=@clip.wav ...)")
        else:
            body = error("invalid_request", "; ".join(
                f"{' '.join(str(x) for x in p.get('loc', ()))}: {p.get('msg', 'invalid')}" for p in problems))
        return JSONResponse(body, status_code=422)

    @app.exception_handler(Busy)
    async def busy_lane(request: Request, exc: Busy):
        return JSONResponse(busy(exc.lane), status_code=503, headers={"retry-after": str(exc.retry_after_s)})

    @app.post("/v1/detect", responses={k: {"description": v} for k, v in ERRORS.items()},
              summary="Score one audio file: the JSON line `scaa detect FILE` prints")
    async def detect(request: Request,
                     file: UploadFile = File(..., description="audio file (wav, flac, mp3, ogg, opus, webm, mp4, "
                                                              "...)")):
        await one_file(request)
        suffix = upload_suffix(file)
        name = file.filename or f"upload{suffix}"
        with gate.admit(), tempfile.TemporaryDirectory(prefix="scaa-serve-") as tmp:
            path = await save_upload(file, tmp, suffix)
            line = await gate.run(detect_line, detector, str(path), run_dir, window_s, hop_s, name=name,
                                  max_seconds=settings.max_seconds)
        status = 200
        if "error" in line:
            line, status = error_line(line)
        # serialised as `scaa detect` prints it, so the two outputs compare byte for byte
        return Response(json.dumps(line) + "\n", media_type="application/json", status_code=status)

    @app.post("/v1/overlay", responses={200: {"content": {"image/png": {}, "text/html": {}, "application/json": {}}},
                                        **{k: {"description": v} for k, v in ERRORS.items()}},
              summary="Spectrogram with per-window P(spoof) and the band-occlusion map, as PNG, HTML or JSON")
    async def overlay(request: Request, file: UploadFile = File(...),
                      format: str | None = Query(None, pattern="^(png|html|json)$",
                                                 description="default: from Accept (image/png, text/html, "
                                                             "application/json), else png")):
        from scaa.inference.overlay import overlay as draw

        await one_file(request)
        fmt = format or _format_from_accept(request.headers.get("accept", ""))
        suffix = upload_suffix(file)
        name = file.filename or f"upload{suffix}"
        with overlay_lane.admit(), tempfile.TemporaryDirectory(prefix="scaa-serve-") as tmp:
            path = await save_upload(file, tmp, suffix)
            t0 = time.perf_counter()
            try:
                res = await overlay_lane.run(draw, detector, path, Path(tmp) / "overlay", window_s, hop_s,
                                             settings.overlay_bands, "mel", (fmt,), name,
                                             max_seconds=settings.max_seconds)
            except SCORING_ERRORS as err:  # the line `scaa detect` prints for such a file
                body, status = error_line(unscored_line(str(path), run_dir, err, name))
                return JSONResponse(body, status_code=status)
            ms = f"{(time.perf_counter() - t0) * 1000:.1f}"
            if fmt == "json":
                return JSONResponse({**res["record"], "latency_ms": float(ms)})
            body = Path(res[fmt]).read_bytes()
        return Response(body, media_type="image/png" if fmt == "png" else "text/html",
                        headers={"x-latency-ms": ms, "x-p-spoof": f"{res['verdict']['p_spoof']:.6f}"})

    @app.get("/v1/model", summary="The loaded model: spec, training data, dev EER, threshold, calibration, description")
    async def model():
        return model_info(detector, run_dir, window_s, hop_s, settings)

    @app.get("/healthz", summary="Liveness and load")
    async def healthz():
        return {"status": "ok", "model": run_dir,
                "admitted": sum(lane.admitted for lane in lanes.values()),
                "capacity": sum(lane.capacity for lane in lanes.values()),
                "lanes": {name: lane.status() for name, lane in lanes.items()}, "uploads": uploads.status()}

    # the docs pages load nothing from elsewhere: assets from the app; no online validator badge
    # (Swagger UI), no remote logo (ReDoc's, which it hides when it cannot load)
    @app.get("/docs", include_in_schema=False)
    async def docs():
        html = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - API docs",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
                                   swagger_ui_parameters={"validatorUrl": None})
        html.headers["content-security-policy"] = DOCS_CSP
        return html

    @app.get("/redoc", include_in_schema=False)
    async def redoc():
        html = get_redoc_html(openapi_url=app.openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png", with_google_fonts=False)
        html.headers["content-security-policy"] = DOCS_CSP
        return html

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app


def _format_from_accept(accept: str) -> str:
    accept = accept.lower()
    for media, fmt in (("image/png", "png"), ("text/html", "html"), ("application/json", "json")):
        if media in accept:
            return fmt
    return "png"
