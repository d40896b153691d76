"""Encoders (features from waveforms). Importing this package registers the built-ins."""
from scaa.encoders import spectral  # noqa: F401
from scaa.encoders.base import Encoder

__all__ = ["Encoder"]
from scaa.encoders import ssl  # noqa: F401
from scaa.encoders import pretrained_wheels  # noqa: F401
from scaa.encoders import whisper  # noqa: F401
