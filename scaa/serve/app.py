"""The FastAPI app: one loaded detector behind /v1/detect, /v1/overlay, /v1/model, /healthz and a page.

Every upload is copied into its own temporary directory, scored there and removed with it;
nothing else is written. Status codes: 200 scored; 413 too large; 415 not multipart or
not a supported audio type; 422 the audio cannot be scored (the body is the ``scaa
detect`` line with its ``error``, e.g. ``unreadable``, ``silent``, ``too_short``);
503 busy (Retry-After says when to retry).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool

from scaa import audio
from scaa.detect import detect_line
from scaa.serve.gate import Gate
from scaa.serve.limits import TOO_LARGE_KEY, UploadLimits, too_large
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
ERRORS = {413: "upload larger than serve.max_upload_mb", 415: "not multipart/form-data, or not a supported audio type",
          422: "audio that cannot be scored: the body is the `scaa detect` line with its error",
          503: "busy: every worker and queue slot is taken (see Retry-After)"}


def upload_suffix(file: UploadFile) -> str:
    """The decoder's suffix from the file name, else from the part's media type; else 415."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix in audio.AUDIO_SUFFIXES:
        return suffix
    media = (file.content_type or "").split(";")[0].strip().lower()
    if media in MEDIA_SUFFIXES:
        return MEDIA_SUFFIXES[media]
    raise HTTPException(415, f"unsupported_type: {file.filename or 'the upload'} ({media or 'no media type'}) is not "
                             f"a supported audio file; send one of {', '.join(sorted(audio.AUDIO_SUFFIXES))}")


async def save_upload(file: UploadFile, folder: str, suffix: str) -> Path:
    path = Path(folder) / f"upload{suffix}"  # a fixed name: the client's file name never becomes a path
    def copy():
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
    await run_in_threadpool(copy)
    return path


def model_info(detector, run_dir: str, window_s: float, hop_s: float, settings: ServeSettings) -> dict:
    """What the loaded model is: spec, what it was trained on, dev EER, threshold, calibration,
    and a one-line ``description``; for a pretrained model (:mod:`scaa.pretrained`) also
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
            "limits": {"max_upload_mb": settings.max_upload_mb, "workers": settings.workers, "queue": settings.queue,
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


def create_app(detector, run_dir: str, settings: ServeSettings | None = None, window_s: float = 4.0,
               hop_s: float | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    hop_s = window_s / 2 if hop_s is None else hop_s
    gate = Gate(settings.workers, settings.queue)
    @asynccontextmanager
    async def lifespan(app):
        yield
        gate.close()

    pretrained = (getattr(detector, "spec", None) or {}).get("pretrained")
    about = (f"Audio deepfake detection with {pretrained['description']}. Scores are higher = more likely spoof "
             "(the spoof - bona fide logit); the decision is spoof iff score >= 0." if pretrained else
             "Audio deepfake detection with one trained SCAA cell. Scores are higher = more likely spoof; "
             "p_spoof is calibrated on the cell's dev split.")
    app = FastAPI(title="SCAA detector", lifespan=lifespan, description=about)
    app.state.gate, app.state.settings = gate, settings
    app.add_middleware(UploadLimits, settings=settings, gate=gate)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if request.scope.get(TOO_LARGE_KEY):  # the body parser gave up because the upload passed the limit
            return JSONResponse(too_large(settings), status_code=413)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.post("/v1/detect", responses={k: {"description": v} for k, v in ERRORS.items()},
              summary="Score one audio file: the JSON line `scaa detect FILE` prints")
    async def detect(file: UploadFile = File(..., description="audio file (wav, flac, mp3, ogg, opus, webm, mp4, ...)")):
        suffix = upload_suffix(file)
        name = file.filename or f"upload{suffix}"
        with tempfile.TemporaryDirectory(prefix="scaa-serve-") as tmp:
            path = await save_upload(file, tmp, suffix)
            line = await gate.run(detect_line, detector, str(path), run_dir, window_s, hop_s, name=name)
        # serialised as `scaa detect` prints it, so the two outputs compare byte for byte
        return Response(json.dumps(line) + "\n", media_type="application/json", status_code=422 if "error" in line else 200)

    @app.post("/v1/overlay", responses={200: {"content": {"image/png": {}, "text/html": {}, "application/json": {}}},
                                        **{k: {"description": v} for k, v in ERRORS.items()}},
              summary="Spectrogram with per-window P(spoof) and the band-occlusion map, as PNG, HTML or JSON")
    async def overlay(request: Request, file: UploadFile = File(...),
                      format: str | None = Query(None, pattern="^(png|html|json)$",
                                                 description="default: from Accept (image/png, text/html, "
                                                             "application/json), else png")):
        from scaa.overlay import overlay as draw

        fmt = format or _format_from_accept(request.headers.get("accept", ""))
        suffix = upload_suffix(file)
        name = file.filename or f"upload{suffix}"
        with tempfile.TemporaryDirectory(prefix="scaa-serve-") as tmp:
            path = await save_upload(file, tmp, suffix)
            t0 = time.perf_counter()
            try:
                res = await gate.run(draw, detector, path, Path(tmp) / "overlay", window_s, hop_s,
                                     settings.overlay_bands, "mel", (fmt,), name)
            except audio.AudioError as err:
                problem = err.reason + (f": {err.detail}" if err.detail else "")
                return JSONResponse({"file": name, "model": run_dir, "error": problem.replace(str(path), name)},
                                    status_code=422)
            except (ValueError, FloatingPointError, RuntimeError) as err:
                return JSONResponse({"file": name, "model": run_dir,
                                     "error": f"unscorable: {err}".replace(str(path), name)}, status_code=422)
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
        return {"status": "ok", "model": run_dir, "admitted": gate.admitted, "capacity": gate.capacity}

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
