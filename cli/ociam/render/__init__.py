"""Plain manifests from the offline engine: render, validate, diff."""
