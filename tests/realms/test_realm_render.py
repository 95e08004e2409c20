"""The city program publishes the realm JSON; render writes it; validate --rendered checks it."""

from __future__ import annotations

import json

import pytest

from ociam.realms import build_realms
from tests.realms.realm_support import ROOT, city


def test_render_publishes_realm_files_and_validation_covers_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ociam.engines.offline import OfflineEngine
    from ociam.realms import security
    from ociam.render.service import render_city, validate_rendered
    from ociam.render.validation import default_crd_dir

    demo = city("dev", "demo")
    rendered = render_city(OfflineEngine(ROOT), demo)
    built = {f.filename: f.document for f in build_realms(demo).realms}
    assert set(built) == {"realm-employees.json", "realm-residents.json"}
    for name, document in built.items():
        assert json.loads(rendered.files[name]) == document
    jobs = [o for o in rendered.objects if o["kind"] == "Job"]
    assert sorted(j["metadata"]["name"].rsplit("-", 1)[0] for j in jobs) == [
        "realm-config-apply",
        "realm-config-bootstrap",
    ]

    monkeypatch.setitem(security.BRUTE_FORCE, "bruteForceProtection", True)
    problems = validate_rendered(ROOT, [demo], default_crd_dir(ROOT))
    realm_problems = [p for _, p in problems if p.object.startswith("realm-")]
    assert realm_problems, "a misspelled realm key must fail validate --rendered"
    assert all("bruteForceProtection" in p.message for p in realm_problems)
