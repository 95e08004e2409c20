"""Suomi.fi settings of the environment defaults: where Keycloak loads the IdP's keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ociam.catalog.environment import SuomiFiSettings


@pytest.mark.parametrize(
    "urls",
    [
        {"test": "http://static.apro.tunnistus.fi/static/metadata/idp-metadata.xml"},
        {"production": "http://localhost:8080/realms/x/protocol/saml/descriptor"},
        {"test": "ftp://example.fi/idp-metadata.xml"},
    ],
)
def test_metadata_urls_must_be_https(urls: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="must be an https URL"):
        SuomiFiSettings(preset="test", metadata_urls={"test": "https://a.fi/m.xml", **urls})


def test_the_pods_own_listener_may_serve_a_test_stand_in() -> None:
    url = "http://localhost:8080/realms/suomifi-standin/protocol/saml/descriptor"
    settings = SuomiFiSettings(preset="test", metadata_urls={"test": url})
    assert settings.metadata_urls["test"] == url
