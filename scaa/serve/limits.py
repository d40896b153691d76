"""Checks on upload requests that run before any byte of the body is read.

Order: wrong media type -> 415; declared size over the limit -> 413; server full ->
503 with Retry-After. A body that turns out larger than declared (or is sent chunked,
without a length) is cut off while it streams in: reading stops at the limit and the
answer is 413 too.
"""
from __future__ import annotations

import json

UPLOAD_PATHS = ("/v1/detect", "/v1/overlay")
TOO_LARGE_KEY = "scaa.upload_too_large"  # set in the ASGI scope when a streamed body passes the limit


class BodyTooLarge(Exception):
    pass


async def send_json(send, status: int, body: dict, headers: dict | None = None) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.encode(), str(v).encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


class UploadLimits:
    """Pure ASGI middleware (no body buffering) guarding the upload endpoints."""

    def __init__(self, app, settings, gate):
        self.app, self.settings, self.gate = app, settings, gate

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in UPLOAD_PATHS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            return await send_json(send, 415, {"error": f"unsupported_media_type: send multipart/form-data with "
                                                        f"the audio in a field named 'file', not {ctype or 'no type'!r}"})
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.settings.max_body_bytes:
            return await send_json(send, 413, too_large(self.settings))
        if not self.gate.try_admit():
            return await send_json(send, 503, {"error": "busy: every worker and queue slot is taken; retry later"},
                                   {"retry-after": self.gate.retry_after_s()})
        limit, seen, started = self.settings.max_body_bytes, 0, False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    scope[TOO_LARGE_KEY] = True
                    raise BodyTooLarge()
            return message

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not started:
                await send_json(send, 413, too_large(self.settings))
        finally:
            self.gate.release()


def too_large(settings) -> dict:
    return {"error": f"too_large: uploads are limited to {settings.max_upload_mb:g} MB "
                     "(serve.max_upload_mb in the config)"}
