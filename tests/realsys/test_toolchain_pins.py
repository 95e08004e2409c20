"""The toolchain the cluster tier builds matches what the project installs: one set of pins."""

from __future__ import annotations

import importlib.metadata

from semver import Version

from tests.realsys.pulumi_env import PLUGIN_PACKAGES, sdk_plugin_version
from tests.realsys.toolchain import load_pins


def test_each_provider_plugin_is_built_at_the_version_its_python_sdk_asks_for() -> None:
    pins = load_pins()
    sections = {"kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}
    assert set(sections) == set(PLUGIN_PACKAGES)
    for name, section in sections.items():
        built = pins[section]["plugin_version"].split("+", 1)[0]  # build metadata aside
        assert built == sdk_plugin_version(PLUGIN_PACKAGES[name]), name


def test_the_pulumi_cli_is_not_older_than_the_python_sdk() -> None:
    cli = Version.parse(load_pins()["pulumi"]["version"].removeprefix("v"))
    sdk = Version.parse(importlib.metadata.version("pulumi"))
    assert cli >= sdk


def test_kubernetes_is_the_newest_catalog_minor_and_one_minor_from_the_others() -> None:
    """The cluster tier admits every environment's render on one API server: the newest
    environment's minor (staging and dev lead; prod, a minor behind, is admitted by a
    server one minor newer than its own, which Kubernetes' version skew allows for
    clients but is not prod's own server)."""
    from pathlib import Path

    from ociam.catalog import ENVIRONMENTS, load_environment

    root = Path(__file__).resolve().parents[2]
    built = Version.parse(load_pins()["kubernetes"]["version"].removeprefix("v"))
    minors = {
        env: Version.parse(load_environment(root, env).settings.kubernetes_version).minor
        for env in ENVIRONMENTS
    }
    assert built.minor == max(minors.values())
    assert all(built.minor - minor <= 1 for minor in minors.values()), minors
