"""Verifier of the connector_e2e Molecule scenario.

These checks drive live containers; they only make sense when Molecule runs
them (it sets MOLECULE_EPHEMERAL_DIRECTORY). Under the project's own pytest
run they are not collected: tests/molecule/test_connector_e2e.py runs the
whole scenario instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

collect_ignore_glob = [] if os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY") else ["test_*.py"]

# the project's pytest settings import test modules with importlib: make the
# helper module beside them importable
sys.path.insert(0, str(Path(__file__).resolve().parent))
