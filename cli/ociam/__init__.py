"""ociam: deployment automation for the consortium IAM service."""

__version__ = "0.1.0"
