"""What the server may accept and how much work it takes on at once (``serve:`` in the config)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

# multipart framing (boundaries, part headers) on top of the file itself
MULTIPART_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class ServeSettings:
    max_upload_mb: float = 20.0   # larger uploads get 413 before any decoding
    max_seconds: float = 600.0    # longer audio gets 413 too_long, refused on its header (as scaa detect)
    workers: int = 1              # detects running at once (threads off the event loop)
    queue: int = 8                # detects admitted beyond those; more get 503 + Retry-After
    overlay_workers: int = 1      # overlays running at once, in their own lane: a detect never waits for one
    overlay_queue: int = 2        # overlays admitted beyond those; more get 503 + Retry-After
    max_uploads: int = 32         # request bodies still arriving at once; more get 503 (or push out an idle one)
    body_timeout_s: float = 10.0  # an upload that sends nothing for this long gets 408
    threads: int = 1              # torch/BLAS threads the model uses
    overlay_bands: int = 16       # frequency bands of the occlusion map

    def __post_init__(self):
        positive = (self.max_upload_mb, self.max_seconds, self.body_timeout_s)
        if (not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                    for v in positive)
                or self.workers < 1 or self.queue < 0 or self.overlay_workers < 1 or self.overlay_queue < 0
                or self.max_uploads < 1 or self.threads < 1 or self.overlay_bands < 1):
            raise ValueError(f"serve settings out of range: {asdict(self)}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)

    @property
    def max_body_bytes(self) -> int:
        return self.max_upload_bytes + MULTIPART_OVERHEAD

    @classmethod
    def from_config(cls, config_path: str | Path | None, **overrides) -> "ServeSettings":
        """The config's ``serve:`` block (missing file or block: defaults), then non-None overrides."""
        block = {}
        if config_path and Path(config_path).is_file():
            block = (yaml.safe_load(Path(config_path).read_text()) or {}).get("serve") or {}
        known = {f.name for f in fields(cls)}
        unknown = set(block) - known
        if unknown:
            raise ValueError(f"unknown serve settings {sorted(unknown)}; known: {sorted(known)}")
        block.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**block)
