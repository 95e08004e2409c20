"""``ociam report``: capacity and cost per city, read from the offline render.

- :mod:`~ociam.report.quantity`: Kubernetes quantities (``500m``, ``1250M``, ``10Gi``);
- :mod:`~ociam.report.capacity`: what one city's rendered manifests and realm files
  reserve and configure;
- :mod:`~ociam.report.cost`: the price list and the split of the bill;
- :mod:`~ociam.report.build`: one report over environments, with totals;
- :mod:`~ociam.report.formats`: table, JSON, CSV and Markdown;
- :mod:`~ociam.report.chart`: the steering group's chart (PNG or SVG).
"""
