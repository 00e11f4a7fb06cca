"""hotline: a call-centre backend with IVR for Asterisk."""

__version__ = "0.1.0"
