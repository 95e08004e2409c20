"""What the tests assume about keycloak-config-cli, checked where it can be.

- Reading an import file: run with the real commons-text and SnakeYAML (the
  libraries keycloak-config-cli reads files with), a realm secret as typed
  breaks the file or changes, and the form the city program stores it in
  (``substitution_safe``) reads back exactly; an undefined variable is an error;
  Keycloak's own ``${...}`` message keys are left alone.
- Its ``userProfile`` extension, converted as ``UserProfileImportService`` does.
- The image tag each environment pins is a published release for its server.
"""

from __future__ import annotations

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from ociam.realms.placeholders import substitution_safe
from tests.keycloak.config_cli import (
    SubstitutionError,
    convert_extensions,
    published_tag_problems,
    read_like_config_cli,
)
from tests.keycloak.conftest import PROJECT_ROOT
from tests.keycloak.deployment import HOSTILE

FILE = '{"realm": "r", "secret": "$(env:SECRET)", "displayName": "${username}"}'


@pytest.mark.keycloak
def test_a_secret_as_typed_breaks_the_file_or_changes(keycloak_tier: None) -> None:
    for typed in ('pass"word', "back\\slash\\n", "pre$(env:HOME)post"):
        try:
            documents = read_like_config_cli({"realm.json": FILE}, {"SECRET": typed, "HOME": "/x"})
        except SubstitutionError:
            continue
        assert documents["realm.json"]["secret"] != typed, typed


@pytest.mark.keycloak
def test_the_stored_form_reads_back_exactly(keycloak_tier: None) -> None:
    raw = f"s3cr{HOSTILE}t$$(x)\nline"
    documents = read_like_config_cli({"realm.json": FILE}, {"SECRET": substitution_safe(raw)})
    assert documents["realm.json"]["secret"] == raw
    assert documents["realm.json"]["displayName"] == "${username}"


@pytest.mark.keycloak
def test_an_undefined_variable_is_an_error(keycloak_tier: None) -> None:
    with pytest.raises(SubstitutionError, match="SECRET"):
        read_like_config_cli({"realm.json": FILE}, {})


def test_user_profile_is_skipped_without_the_realm_attribute() -> None:
    profile = {"attributes": [{"name": "username"}]}
    skipped = convert_extensions({"realm": "r", "userProfile": profile})
    assert skipped.ignored == ["userProfile"] and skipped.user_profile is None
    applied = convert_extensions(
        {"realm": "r", "attributes": {"userProfileEnabled": "true"}, "userProfile": profile}
    )
    assert applied.user_profile == profile and "userProfile" not in applied.realm
    reset = convert_extensions(
        {"realm": "r", "attributes": {"userProfileEnabled": "false"}, "userProfile": profile}
    )
    assert reset.user_profile == {}
    with pytest.raises(NotImplementedError):
        convert_extensions({"realm": "r", "messageBundles": {}})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_pinned_image_is_a_published_release_for_the_server(env: str) -> None:
    for slug, city in load_environment(PROJECT_ROOT, env).cities.items():
        images = city.settings.images
        problems = published_tag_problems(images.keycloak_config_cli.tag, images.keycloak.tag)
        assert not problems, f"{env}/{slug}: {problems}"


@pytest.mark.parametrize(
    ("tag", "reason"),
    [
        ("6.5.1-26.5.5", "not a published release"),
        ("6.5.0-SNAPSHOT", "is not <release>-<keycloak version>"),
        ("latest", "is not <release>-<keycloak version>"),
        ("6.5.0-26.5.5", "was built for Keycloak"),
        ("6.5.0-25.0.1", "not the server's major"),
    ],
)
def test_the_tag_rule_refuses_what_is_not_published(tag: str, reason: str) -> None:
    problems = published_tag_problems(tag, "26.7.4")
    assert any(reason in p for p in problems), problems


def test_the_client_library_may_not_be_newer_than_the_server() -> None:
    assert any(
        "newer than the server" in p for p in published_tag_problems("6.5.0-26.5.4", "26.1.0")
    )
    assert published_tag_problems("6.5.0-26.5.4", "26.7.4") == []
