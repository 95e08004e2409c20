"""City IAM stack: one Pulumi stack per environment and city, named ``<env>-<city>``.

Everything is built from the catalog by ``ociam.components``; this file only
says where the checkout is. Run by the real engine (Pulumi CLI) and, unchanged,
by the offline engine under ``pulumi.runtime.set_mocks``.
"""

from pathlib import Path

from ociam.components.program import main

main(project_root=Path(__file__).resolve().parents[2])
