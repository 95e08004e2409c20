"""Platform stack: one Pulumi stack per environment, named ``<env>`` (dev, staging, prod).

The shared services every city stack of the environment relies on, built by
``ociam.components.platform`` from the catalog (``inventories/<env>/group_vars/all.yml``)
and the pinned charts in ``platform.yml``. Run by the real engine and, unchanged,
by the offline engine.
"""

from pathlib import Path

from ociam.components.platform import main

main(project_root=Path(__file__).resolve().parents[2])
