"""Checks on upload requests that run before any byte of the body is read, and while it arrives.

Order: wrong media type -> 415; declared size over the limit -> 413; the request's lane
(detect or overlay, :mod:`scaa.serve.gate`) already full -> 503 with Retry-After; every
upload place taken by bodies still arriving -> one idle for :data:`EVICT_IDLE_S` or more
is cut off (408) to make room, else 503 with Retry-After. While the body streams in:
more than the limit (a chunked body, or one larger than declared) -> 413; nothing for
``body_timeout_s`` -> 408. So clients that send headers and then nothing hold an upload
place for at most ``body_timeout_s``, only while the places are not needed, and never a
worker or queue slot. Every answer is ``{"error": {"code", "message"}}``.
"""
from __future__ import annotations

import asyncio
import json
import math
import time

UPLOAD_PATHS = {"/v1/detect": "detect", "/v1/overlay": "overlay"}  # path -> lane
TOO_LARGE_KEY = "scaa.upload_too_large"  # set in the ASGI scope when a streamed body passes the limit
BODY_TIMEOUT_KEY = "scaa.body_timeout"   # set in the ASGI scope when an upload stalled or was cut off
EVICT_IDLE_S = 1.0  # when every upload place is taken, one idle this long makes room for a new one


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


def error(code: str, message: str, **extra) -> dict:
    """The body of every error the server answers: ``{"error": {"code", "message"}}`` (plus
    ``extra`` fields, e.g. the ``scaa detect`` line's ``file`` and ``model``)."""
    return {**extra, "error": {"code": code, "message": message}}


async def send_json(send, status: int, body: dict, headers: dict | None = None) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class Upload:
    """One request body still arriving."""

    def __init__(self):
        self.last = time.monotonic()
        self.cut_off = asyncio.Event()

    def idle_s(self) -> float:
        return time.monotonic() - self.last


class Uploads:
    """At most ``limit`` bodies arriving at once; when full, the one idle longest makes room if
    it has been idle :data:`EVICT_IDLE_S` or more (it is answered 408)."""

    def __init__(self, limit: int, timeout_s: float):
        self.limit, self.timeout_s = int(limit), float(timeout_s)
        self.active: set[Upload] = set()
        self.cut = 0  # uploads cut off to make room

    def enter(self) -> Upload | None:
        if len(self.active) >= self.limit:
            idlest = max(self.active, key=Upload.idle_s)
            if idlest.idle_s() < EVICT_IDLE_S:
                return None
            idlest.cut_off.set()
            self.active.discard(idlest)
            self.cut += 1
        upload = Upload()
        self.active.add(upload)
        return upload

    def leave(self, upload: Upload) -> None:
        self.active.discard(upload)

    def retry_after_s(self) -> int:
        """When a place is likely free: the idlest upload becomes one to cut off, or times out."""
        if not self.active:
            return 1
        idle = max(u.idle_s() for u in self.active)
        return max(1, math.ceil(min(EVICT_IDLE_S, self.timeout_s) - idle))

    def status(self) -> dict:
        return {"arriving": len(self.active), "limit": self.limit, "cut_off": self.cut}


class UploadLimits:
    """Pure ASGI middleware (no body buffering) guarding the upload endpoints."""

    def __init__(self, app, settings, lanes: dict, uploads: Uploads):
        self.app, self.settings, self.lanes, self.uploads = app, settings, lanes, uploads

    async def __call__(self, scope, receive, send):
        lane_name = UPLOAD_PATHS.get(scope.get("path")) if scope["type"] == "http" else None
        if lane_name is None or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return await send_json(send, 415, error("unsupported_media_type", (
                f"send multipart/form-data with the audio in a field named 'file', not {ctype or 'no type'!r}")))
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.settings.max_body_bytes:
            return await send_json(send, 413, too_large(self.settings))
        lane = self.lanes[lane_name]
        if lane.full():  # no body read for a request that could not be served
            return await send_json(send, 503, busy(lane), {"retry-after": lane.retry_after_s()})
        upload = self.uploads.enter()
        if upload is None:
            return await send_json(send, 503, error("busy", (
                f"{self.uploads.limit} uploads are arriving at once (serve.max_uploads); retry later")),
                {"retry-after": self.uploads.retry_after_s()})
        limit, seen, arrived, started = self.settings.max_body_bytes, 0, False, False

        async def next_chunk():
            """``receive()``, unless the client sends nothing for ``body_timeout_s`` or is cut off."""
            got = asyncio.ensure_future(receive())
            cut = asyncio.ensure_future(upload.cut_off.wait())
            try:
                done, _ = await asyncio.wait({got, cut}, timeout=self.settings.body_timeout_s,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                cut.cancel()
                if not got.done():
                    got.cancel()
            if got in done:
                return got.result()
            scope[BODY_TIMEOUT_KEY] = "cut_off" if upload.cut_off.is_set() else "timeout"
            raise BodyTimeout()

        async def guarded_receive():
            nonlocal seen, arrived
            if arrived:  # the body is in: later reads wait for a disconnect, with no timeout
                return await receive()
            message = await next_chunk()
            upload.last = time.monotonic()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    scope[TOO_LARGE_KEY] = True
                    raise BodyTooLarge()
                arrived = not message.get("more_body", False)
            else:  # http.disconnect
                arrived = True
            if arrived:
                self.uploads.leave(upload)
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await send_json(send, 413, too_large(self.settings))
        except BodyTimeout:
            if not started:
                await send_json(send, 408, body_timeout(self.settings, scope.get(BODY_TIMEOUT_KEY)),
                                {"connection": "close"})
        finally:
            self.uploads.leave(upload)


def too_large(settings) -> dict:
    return error("too_large", f"uploads are limited to {settings.max_upload_mb:g} MB "
                              "(serve.max_upload_mb in the config)")


def body_timeout(settings, why: str | None) -> dict:
    if why == "cut_off":
        return error("body_timeout", f"the upload sent nothing for {EVICT_IDLE_S:g} s while every upload place "
                                     "(serve.max_uploads) was needed; it was cut off")
    return error("body_timeout", f"the upload sent nothing for {settings.body_timeout_s:g} s "
                                 "(serve.body_timeout_s); send the whole body without pausing")


def busy(lane) -> dict:
    return error("busy", f"every {lane.name} worker and queue slot is taken ({lane.workers} running, "
                         f"{lane.queue} waiting; serve.{'overlay_' if lane.name == 'overlay' else ''}workers / "
                         f"queue); retry in {lane.retry_after_s()} s")
