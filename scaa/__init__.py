"""SCAA: Spectral Contrastive Audio Authenticity."""
__version__ = "0.1.0"
