"""The real Pulumi engine pieces and a Kubernetes control plane, built from the Go module proxy.

    .venv/bin/python -m tests.realsys.toolchain [--force] [name ...]

Builds, one binary at a time, what tools/toolchain.toml pins: the Pulumi CLI with the
Python language host, the Kubernetes and random resource providers, kube-apiserver,
kube-controller-manager, kube-scheduler, etcd and kwok. Each lands in
``${OCIAM_CACHE_DIR:-~/.cache/ociam}/toolchain/<name>-<version>-<recipe hash>/`` (the
hash covers this module's source and the pin), and an existing build is kept.
``toolchain_bin_dir()`` links them all into one directory for the tests, which never
build or download: ``require_toolchain()`` fails and says how to build what is missing.

Modules whose go.mod has ``replace`` directives cannot be ``go install``-ed: each binary
is built from a small wrapper module in a temporary directory that requires the module
and repeats its non-local replaces. Go's module and build caches stay the defaults.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.realsys.rootfs import BuildError

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "tools" / "toolchain.toml"
#: bump when a helper every recipe uses (go_build, download, wrapper_go_mod, ...) changes
#: what it builds: every binary is then rebuilt
SHARED_RECIPE_VERSION = "1"
#: the file whose presence marks a finished build (with what was built and how long it took)
STAMP = "BUILD.json"

PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"
PULUMI_VERSION_VAR = "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
K8S_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
K8S_PROVIDER_SDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
TF_RANDOM = "github.com/terraform-providers/terraform-provider-random"
TF_RANDOM_SERVED = "github.com/hashicorp/terraform-provider-random"
BRIDGE = "github.com/pulumi/pulumi-terraform-bridge/v3"
KUBERNETES = "k8s.io/kubernetes"
ETCD = "go.etcd.io/etcd/server/v3"
KWOK = "sigs.k8s.io/kwok"
NETPOL_ANALYZER = "github.com/np-guard/netpol-analyzer"
TRIVY = "github.com/aquasecurity/trivy"
#: kwok's stage configs (kustomize/stage in its module) copied next to the binary
KWOK_STAGES = ("node/fast", "node/heartbeat-with-lease", "pod/fast", "pod/general")


def cache_dir() -> Path:
    return Path(os.environ.get("OCIAM_CACHE_DIR", Path.home() / ".cache" / "ociam"))


def toolchain_root() -> Path:
    return cache_dir() / "toolchain"


def load_pins(path: Path = PINS) -> dict[str, dict[str, str]]:
    with path.open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    return {
        name: {key: str(value) for key, value in section.items()}
        for name, section in data.items()
        if isinstance(section, dict)
    }


@dataclass(frozen=True)
class Recipe:
    """One binary: the pin it comes from and how it is built into a directory."""

    name: str
    section: str
    build: Callable[[Recipe, Mapping[str, str], Path, Path], None]
    #: the version the binary reports, from its pin section
    version_key: str = "version"
    #: the command that prints the version (after the binary's path); None: a resource
    #: provider without one, asked through GetPluginInfo
    version_args: tuple[str, ...] | None = ("--version",)

    def pin(self, pins: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        if self.section not in pins:
            raise BuildError(f"{PINS} has no [{self.section}] section (needed for {self.name})")
        return dict(pins[self.section])

    def version(self, pins: Mapping[str, Mapping[str, str]]) -> str:
        return self.pin(pins)[self.version_key]

    def recipe_hash(self, pins: Mapping[str, Mapping[str, str]]) -> str:
        """Of the pin, the recipe's own build function and :data:`SHARED_RECIPE_VERSION`
        (so that adding or changing one recipe does not rebuild the others)."""
        digest = hashlib.sha256(inspect.getsource(self.build).encode())
        digest.update(SHARED_RECIPE_VERSION.encode())
        digest.update(json.dumps([self.name, self.pin(pins)], sort_keys=True).encode())
        return digest.hexdigest()[:12]

    def directory(self, pins: Mapping[str, Mapping[str, str]]) -> Path:
        version = self.version(pins).replace("+", "_")
        return toolchain_root() / f"{self.name}-{version}-{self.recipe_hash(pins)}"

    def binary(self, pins: Mapping[str, Mapping[str, str]]) -> Path:
        return self.directory(pins) / self.name

    def built(self, pins: Mapping[str, Mapping[str, str]]) -> bool:
        return (self.directory(pins) / STAMP).is_file() and self.binary(pins).is_file()


# ---------------------------------------------------------------- go and modules


def go_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every go command: static binaries, this machine's Go, no VCS."""
    env = dict(os.environ)
    env.update(
        {
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod -buildvcs=false",
        }
    )
    env.update(extra or {})
    return env


def _run(command: Sequence[str], cwd: Path, log: Path, env: Mapping[str, str]) -> str:
    """Run ``command`` in ``cwd``; output goes to ``log``; failure raises with its tail."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        out.write(result.stdout)
    if result.returncode != 0:
        lines = [line for line in result.stdout.splitlines() if not line.startswith("go: downl")]
        tail = "\n".join(lines[-40:])
        raise BuildError(f"{' '.join(command)} failed ({result.returncode}) in {cwd}:\n{tail}")
    return result.stdout


def require_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("no go on PATH: the toolchain is built with the machine's Go")
    return go


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    dir: Path
    go_mod: Path
    time: str


def download(path: str, version: str, scratch: Path, log: Path) -> Module:
    """``path@version`` in the module cache (fetched from the proxy once)."""
    output = _run(
        [require_go(), "mod", "download", "-json", f"{path}@{version}"], scratch, log, go_env()
    )
    info: dict[str, Any] = json.loads(output[output.index("{") :])
    if "Error" in info:
        raise BuildError(f"go mod download {path}@{version}: {info['Error']}")
    stamp = json.loads(Path(info["Info"]).read_text(encoding="utf-8"))
    return Module(path, version, Path(info["Dir"]), Path(info["GoMod"]), str(stamp["Time"]))


def wrapper_go_mod(
    name: str,
    go: str,
    requires: Mapping[str, str],
    replaces: Mapping[str, str] | None = None,
    godebug: Sequence[str] = (),
) -> str:
    """A wrapper module's go.mod: ``replaces`` maps a module to ``target version`` or a dir."""
    lines = [f"module ociam.invalid/toolchain/{name}", "", f"go {go}", ""]
    lines += [f"godebug {line}" for line in godebug]
    lines += ["require ("] + [f"\t{path} {version}" for path, version in requires.items()]
    lines += [")", ""]
    lines += [f"replace {path} => {target}" for path, target in (replaces or {}).items()]
    return "\n".join(lines) + "\n"


def go_directive(go_mod: Path) -> str:
    match = re.search(r"(?m)^go\s+(\S+)", go_mod.read_text(encoding="utf-8"))
    if match is None:
        raise BuildError(f"{go_mod} has no go directive")
    return match.group(1)


def go_build(
    work: Path,
    package: str,
    output: Path,
    log: Path,
    ldflags: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> None:
    flags = " ".join(["-s", "-w", *ldflags])
    command = [require_go(), "build", "-trimpath", "-ldflags", flags, "-o", str(output), package]
    _run(command, work, log, go_env(env))


def copy_tree_writable(source: Path, target: Path) -> None:
    """A writable copy of a (read-only) module directory."""
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR | (stat.S_IXUSR if path.is_dir() else 0))


def install_script(source: Path, target: Path) -> None:
    """Copy a script out of a module zip, which drops the exec bit, and restore it."""
    shutil.copyfile(source, target)
    target.chmod(0o755)


# ---------------------------------------------------------------- recipes


def build_pulumi(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """pulumi, pulumi-language-python and pulumi-language-python-exec side by side."""
    log = scratch / "build.log"
    version = pin["version"]
    pkg = download(PULUMI_PKG, version, scratch, log)
    sdk = download(PULUMI_SDK, version, scratch, log)
    work = scratch / "pulumi"
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod(
            "pulumi",
            go_directive(pkg.go_mod),
            {PULUMI_PKG: version, PULUMI_SDK: version},
            {"github.com/atotto/clipboard": pin["clipboard_replace"]},
        ),
        encoding="utf-8",
    )
    go_build(
        work,
        f"{PULUMI_PKG}/cmd/pulumi",
        out / "pulumi",
        log,
        [f"-X {PULUMI_VERSION_VAR}={version}"],
    )
    host_version = pin["language_host_sdk_version"]
    host_sdk = download(PULUMI_SDK, host_version, scratch, log)
    host = scratch / "pulumi-language-python"
    host.mkdir()
    (host / "go.mod").write_text(
        wrapper_go_mod(
            "pulumi-language-python",
            go_directive(host_sdk.go_mod),
            {PULUMI_SDK: host_version},
            {"golang.org/x/text": pin["language_host_text_replace"]},
        ),
        encoding="utf-8",
    )
    go_build(
        host,
        f"{PULUMI_SDK}/python/cmd/pulumi-language-python",
        out / "pulumi-language-python",
        log,
        [f"-X {PULUMI_VERSION_VAR}={host_version}"],
    )
    # the exec script of the CLI's own SDK (it takes every argument the older host passes)
    install_script(
        sdk.dir / "python" / "cmd" / "pulumi-language-python-exec",
        out / "pulumi-language-python-exec",
    )


def build_pulumi_kubernetes(
    recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path
) -> None:
    """The provider from a writable copy of its module, with its generated embeds."""
    log = scratch / "build.log"
    provider = download(K8S_PROVIDER, pin["version"], scratch, log)
    source = scratch / "provider"
    copy_tree_writable(provider.dir, source)
    work = scratch / "pulumi-kubernetes"
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod(
            "pulumi-kubernetes",
            go_directive(provider.go_mod),
            {K8S_PROVIDER: pin["version"]},
            {
                K8S_PROVIDER: str(source),
                K8S_PROVIDER_SDK: f"{K8S_PROVIDER_SDK} {pin['sdk_version']}",
            },
        ),
        encoding="utf-8",
    )
    # schema-embed.json and terraform-mapping-embed.json, as its `go generate` makes them
    command = source / "cmd" / "pulumi-resource-kubernetes"
    generator = work / "generate"
    generator.mkdir()
    generate = (command / "generate.go").read_text(encoding="utf-8")
    generate = re.sub(r"(?m)^//( \+build|go:build) ignore$", "", generate)
    (generator / "main.go").write_text(generate, encoding="utf-8")
    go_build(work, "./generate", scratch / "generate-embeds", log)
    _run(
        [str(scratch / "generate-embeds")],
        command,
        log,
        go_env({"VERSION": pin["plugin_version"]}),
    )
    go_build(
        work,
        f"{K8S_PROVIDER}/cmd/pulumi-resource-kubernetes",
        out / recipe.name,
        log,
        [f"-X {K8S_PROVIDER}/pkg/version.Version={pin['plugin_version']}"],
    )


_RANDOM_SHIM = """\
// Package shim exposes the Terraform random provider's internal constructor to the bridge.
package shim

import (
\ttfpf "github.com/hashicorp/terraform-plugin-framework/provider"
\t"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the Terraform Plugin Framework provider.
func NewProvider() tfpf.Provider { return provider.New() }
"""

_RANDOM_INFO = """\
// Package info maps the Terraform random provider to the Pulumi package "random" with
// the tokens of the Python SDK pulumi_random (random:index/<camelName>:<Name>).
package info

import (
\t"context"
\t_ "embed"
\t"fmt"
\t"unicode"

\tpftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
\t"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
\t"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
\t"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
\t"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is set with -ldflags -X.
var Version = "0.0.0-dev"

//go:embed bridge-metadata.json
var metadata []byte

func token(name string) tokens.Type {
\tfile := string(unicode.ToLower(rune(name[0]))) + name[1:]
\treturn tokens.Type("random:index/" + file + ":" + name)
}

// random_bytes has no id attribute: its id is its base64 value.
func bytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
\tvalue, ok := state["base64"]
\tif !ok {
\t\treturn "", fmt.Errorf("random_bytes: no base64 in state")
\t}
\tif value.IsSecret() {
\t\tvalue = value.SecretValue().Element
\t}
\tif !value.IsString() {
\t\treturn "", fmt.Errorf("random_bytes: base64 is not a string")
\t}
\treturn resource.ID(value.StringValue()), nil
}

// Provider is the bridge's description of the package.
func Provider() tfbridge.ProviderInfo {
\treturn tfbridge.ProviderInfo{
\t\tName:        "random",
\t\tP:           pftfbridge.ShimProvider(shim.NewProvider()),
\t\tVersion:     Version,
\t\tDescription: "A Pulumi package to safely use randomness in Pulumi programs.",
\t\tLicense:     "Apache-2.0",
\t\tResources: map[string]*tfbridge.ResourceInfo{
\t\t\t"random_bytes":    {Tok: token("RandomBytes"), ComputeID: bytesID},
\t\t\t"random_id":       {Tok: token("RandomId")},
\t\t\t"random_integer":  {Tok: token("RandomInteger")},
\t\t\t"random_password": {Tok: token("RandomPassword")},
\t\t\t"random_pet":      {Tok: token("RandomPet")},
\t\t\t"random_shuffle":  {Tok: token("RandomShuffle")},
\t\t\t"random_string":   {Tok: token("RandomString")},
\t\t\t"random_uuid":     {Tok: token("RandomUuid")},
\t\t\t"random_uuid4":    {Tok: token("RandomUuid4")},
\t\t\t"random_uuid7":    {Tok: token("RandomUuid7")},
\t\t},
\t\tMetadataInfo: tfbridge.NewProviderMetadata(metadata),
\t}
}
"""

_RANDOM_TFGEN = """\
package main

import (
\tpftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

\t"ociam.invalid/toolchain/pulumi-random/info"
)

func main() { pftfgen.Main("random", info.Provider()) }
"""

_RANDOM_MAIN = """\
package main

import (
\t"context"
\t_ "embed"

\tpftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

\t"ociam.invalid/toolchain/pulumi-random/info"
)

//go:embed schema.json
var schema []byte

func main() {
\tmeta := pftfbridge.ProviderMetadata{PackageSchema: schema}
\tpftfbridge.Main(context.Background(), "random", info.Provider(), meta)
}
"""


def build_pulumi_random(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """The Terraform random provider bridged to Pulumi: tfgen writes the schema and the
    bridge metadata, then the provider embeds them."""
    log = scratch / "build.log"
    tf_version = pin["terraform_provider_version"]
    terraform = download(TF_RANDOM_SERVED, tf_version, scratch, log)
    download(BRIDGE, pin["bridge_version"], scratch, log)
    work = scratch / "pulumi-random"
    go = go_directive(terraform.go_mod)
    tf_replace = f"{TF_RANDOM_SERVED} {tf_version}"
    files = {
        "go.mod": wrapper_go_mod(
            "pulumi-random",
            go,
            {BRIDGE: pin["bridge_version"], TF_RANDOM: tf_version, f"{TF_RANDOM}/shim": "v0.0.0"},
            {
                TF_RANDOM: tf_replace,
                f"{TF_RANDOM}/shim": "./shim",
                "github.com/hashicorp/terraform-plugin-sdk/v2": pin["sdk_v2_replace"],
                "github.com/hashicorp/terraform-plugin-framework": pin["framework_replace"],
                "github.com/hashicorp/terraform-plugin-go": pin["plugin_go_replace"],
            },
        ),
        # the shim's path is inside the Terraform provider's, so it may import internal/
        "shim/go.mod": (
            f"module {TF_RANDOM}/shim\n\ngo {go}\n\nrequire {TF_RANDOM} {tf_version}\n\n"
            f"replace {TF_RANDOM} => {tf_replace}\n"
        ),
        "shim/shim.go": _RANDOM_SHIM,
        "info/info.go": _RANDOM_INFO,
        "info/bridge-metadata.json": "{}\n",
        "cmd/pulumi-tfgen-random/main.go": _RANDOM_TFGEN,
        "cmd/pulumi-resource-random/main.go": _RANDOM_MAIN,
    }
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text, encoding="utf-8")
    stamp = [f"-X ociam.invalid/toolchain/pulumi-random/info.Version={pin['plugin_version']}"]
    go_build(work, "./cmd/pulumi-tfgen-random", scratch / "pulumi-tfgen-random", log, stamp)
    schema_dir = scratch / "schema"
    schema_dir.mkdir()
    _run(
        [str(scratch / "pulumi-tfgen-random"), "schema", "--out", str(schema_dir)],
        work,
        log,
        go_env(),
    )
    shutil.copyfile(schema_dir / "schema.json", work / "cmd/pulumi-resource-random/schema.json")
    metadata = schema_dir / "bridge-metadata.json"
    if metadata.is_file():
        shutil.copyfile(metadata, work / "info/bridge-metadata.json")
    go_build(work, "./cmd/pulumi-resource-random", out / recipe.name, log, stamp)
    shutil.copyfile(schema_dir / "schema.json", out / "schema.json")


def kubernetes_ldflags(version: str, commit_time: str) -> list[str]:
    """What hack/lib/version.sh stamps; the build date is the tag's commit time
    (reproducible), the commit itself is unknown to the module proxy."""
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", version)
    if match is None:
        raise BuildError(f"kubernetes version {version!r} is not vMAJOR.MINOR.PATCH")
    values = {
        "gitVersion": version,
        "gitMajor": match.group(1),
        "gitMinor": match.group(2),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": commit_time,
    }
    return [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]


def build_kubernetes(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """cmd/<name> of k8s.io/kubernetes, its staging modules at v0.MINOR.PATCH."""
    log = scratch / "build.log"
    version = pin["version"]
    kubernetes = download(KUBERNETES, version, scratch, log)
    go_mod = kubernetes.go_mod.read_text(encoding="utf-8")
    staging_version = "v0." + version.split(".", 1)[1]
    staging = re.findall(r"(?m)^\s*(k8s\.io/[\w.-]+) => \./staging/", go_mod)
    if not staging:
        raise BuildError(f"{kubernetes.go_mod}: no staging replaces found")
    godebug = re.findall(r"(?m)^godebug\s+(\S+)", go_mod)
    work = scratch / "kubernetes"
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod(
            "kubernetes",
            go_directive(kubernetes.go_mod),
            {KUBERNETES: version},
            {module: f"{module} {staging_version}" for module in staging},
            godebug,
        ),
        encoding="utf-8",
    )
    go_build(
        work,
        f"{KUBERNETES}/cmd/{recipe.name}",
        out / recipe.name,
        log,
        kubernetes_ldflags(version, kubernetes.time),
    )


def build_etcd(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """The etcd server: the root package of go.etcd.io/etcd/server/v3."""
    log = scratch / "build.log"
    version = pin["version"]
    server = download(ETCD, version, scratch, log)
    work = scratch / "etcd"
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod("etcd", go_directive(server.go_mod), {ETCD: version}), encoding="utf-8"
    )
    git_sha = f"module {ETCD}@{version}"
    go_build(
        work,
        ETCD,
        out / recipe.name,
        log,
        [f"-X 'go.etcd.io/etcd/api/v3/version.GitSHA={git_sha}'"],
    )


def build_kwok(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """kwok, and its stage configs in ``stages/`` (one multi-document file per stage set)."""
    log = scratch / "build.log"
    version = pin["version"]
    kwok = download(KWOK, version, scratch, log)
    work = scratch / "kwok"
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod("kwok", go_directive(kwok.go_mod), {KWOK: version}), encoding="utf-8"
    )
    go_build(
        work,
        f"{KWOK}/cmd/kwok",
        out / recipe.name,
        log,
        [f"-X {KWOK}/pkg/consts.Version={version.removeprefix('v')}"],
    )
    stages = out / "stages"
    stages.mkdir()
    for stage_set in KWOK_STAGES:
        documents = [
            path.read_text(encoding="utf-8").strip()
            for path in sorted((kwok.dir / "kustomize" / "stage" / stage_set).glob("*.yaml"))
            if path.name != "kustomization.yaml"
        ]
        if not documents:
            raise BuildError(f"{kwok.dir}/kustomize/stage/{stage_set} has no stages")
        target = stages / f"{stage_set.replace('/', '-')}.yaml"
        target.write_text("\n---\n".join(documents) + "\n", encoding="utf-8")


def build_with_go_sum(
    module: str, package: str, recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path
) -> Module:
    """``package`` of ``module`` from a wrapper module that carries the module's own
    go.sum, so every dependency is checked against the hashes its authors recorded
    (some of them, e.g. np-guard/models, the checksum database does not answer for)."""
    log = scratch / "build.log"
    version = pin["version"]
    source = download(module, version, scratch, log)
    work = scratch / recipe.name
    work.mkdir()
    (work / "go.mod").write_text(
        wrapper_go_mod(recipe.name, go_directive(source.go_mod), {module: version}),
        encoding="utf-8",
    )
    shutil.copyfile(source.dir / "go.sum", work / "go.sum")
    (work / "go.sum").chmod(0o644)
    extra = {"GOEXPERIMENT": pin["goexperiment"]} if pin.get("goexperiment") else None
    stamp = (
        [f"-X {pin['version_variable']}={version.removeprefix('v')}"]
        if pin.get("version_variable")
        else []
    )
    go_build(work, package, out / recipe.name, log, stamp, extra)
    return source


def build_netpolicy(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """np-guard's NetworkPolicy connectivity analyzer (its CLI, cmd/netpolicy)."""
    build_with_go_sum(
        NETPOL_ANALYZER, f"{NETPOL_ANALYZER}/cmd/netpolicy", recipe, pin, out, scratch
    )


def build_trivy(recipe: Recipe, pin: Mapping[str, str], out: Path, scratch: Path) -> None:
    """Trivy, whose misconfiguration checks (trivy-checks) are compiled in: the config
    scan runs with ``--skip-check-update`` and reaches no registry."""
    build_with_go_sum(TRIVY, f"{TRIVY}/cmd/trivy", recipe, pin, out, scratch)


RECIPES: tuple[Recipe, ...] = (
    Recipe("etcd", "etcd", build_etcd),
    Recipe("kube-apiserver", "kubernetes", build_kubernetes),
    Recipe("kube-controller-manager", "kubernetes", build_kubernetes),
    Recipe("kube-scheduler", "kubernetes", build_kubernetes),
    Recipe("kwok", "kwok", build_kwok),
    Recipe("pulumi", "pulumi", build_pulumi, version_args=("version",)),
    Recipe(
        "pulumi-resource-kubernetes",
        "pulumi_kubernetes",
        build_pulumi_kubernetes,
        version_key="plugin_version",
        version_args=None,
    ),
    Recipe(
        "pulumi-resource-random",
        "pulumi_random",
        build_pulumi_random,
        version_key="plugin_version",
        version_args=None,
    ),
    Recipe("netpolicy", "netpol_analyzer", build_netpolicy, version_args=("--help",)),
    Recipe("trivy", "trivy", build_trivy, version_args=("version",)),
)
#: what the pulumi recipe puts next to the CLI, linked into the bin directory too
PULUMI_COMPANIONS = ("pulumi-language-python", "pulumi-language-python-exec")


def recipe(name: str) -> Recipe:
    for candidate in RECIPES:
        if candidate.name == name:
            return candidate
    names = ", ".join(r.name for r in RECIPES)
    raise BuildError(f"no toolchain recipe {name!r} (there are: {names})")


# ---------------------------------------------------------------- building


@dataclass
class BuildResult:
    name: str
    directory: Path
    seconds: float
    built: bool
    reported_version: str = field(default="")


def plugin_info_version(binary: Path) -> str:
    """The version a resource provider reports through the engine's GetPluginInfo RPC."""
    # grpc and protobuf come with the Pulumi SDK, without type stubs
    grpc: Any = importlib.import_module("grpc")
    empty_pb2: Any = importlib.import_module("google.protobuf.empty_pb2")
    provider_pb2_grpc: Any = importlib.import_module("pulumi.runtime.proto.provider_pb2_grpc")

    # a provider takes the engine's address; it is only dialled for logging, never here
    with subprocess.Popen(
        [str(binary), "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            port = process.stdout.readline().strip() if process.stdout else ""
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = provider_pb2_grpc.ResourceProviderStub(channel)
                info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=60)
            return f"{info.version} (GetPluginInfo)"
        finally:
            process.kill()


def reported_version(binary: Path, args: Sequence[str] | None) -> str:
    """What the binary says its version is (the first lines of its version output)."""
    if args is None:
        return plugin_info_version(binary)
    result = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, check=False, timeout=60
    )
    text = (result.stdout or result.stderr).strip()
    return " | ".join(line.strip() for line in text.splitlines()[:3] if line.strip())


def build(one: Recipe, pins: Mapping[str, Mapping[str, str]], force: bool = False) -> BuildResult:
    """Build ``one`` into its cache directory unless it is there (or ``force``)."""
    target = one.directory(pins)
    if one.built(pins) and not force:
        return BuildResult(one.name, target, 0.0, built=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"ociam-{one.name}-") as scratch:
        try:
            one.build(one, one.pin(pins), partial, Path(scratch))
        except BuildError as error:
            log = Path(scratch) / "build.log"
            if log.is_file():
                shutil.copyfile(log, target.with_name(target.name + ".failed.log"))
            shutil.rmtree(partial, ignore_errors=True)
            raise BuildError(f"{one.name}: {error}") from error
        shutil.copyfile(Path(scratch) / "build.log", partial / "build.log")
    seconds = time.monotonic() - start
    go_version = subprocess.run(
        [require_go(), "version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    stamp = {
        "name": one.name,
        "pin": one.pin(pins),
        "recipe_hash": one.recipe_hash(pins),
        "go": go_version,
        "build_seconds": round(seconds, 1),
    }
    (partial / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return BuildResult(one.name, target, seconds, built=True)


def bin_dir(pins: Mapping[str, Mapping[str, str]]) -> Path:
    digest = hashlib.sha256()
    for one in RECIPES:
        digest.update(f"{one.name}={one.recipe_hash(pins)}\n".encode())
    return toolchain_root() / f"bin-{digest.hexdigest()[:12]}"


def link_bin_dir(pins: Mapping[str, Mapping[str, str]]) -> Path:
    """A directory of symlinks to every built binary (and the CLI's companions)."""
    target = bin_dir(pins)
    target.mkdir(parents=True, exist_ok=True)
    links = {one.name: one.binary(pins) for one in RECIPES}
    pulumi_dir = recipe("pulumi").directory(pins)
    links.update({name: pulumi_dir / name for name in PULUMI_COMPANIONS})
    links["kwok-stages"] = recipe("kwok").directory(pins) / "stages"
    for name, source in links.items():
        link = target / name
        if link.is_symlink() and link.readlink() == source:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(source)
    return target


def missing(pins: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    pins = load_pins() if pins is None else pins
    return [one.name for one in RECIPES if not one.built(pins)]


def require_toolchain() -> Path:
    """For tests: the bin directory, or a failure naming what is missing and how to build it."""
    pins = load_pins()
    absent = missing(pins)
    if absent:
        raise BuildError(
            f"toolchain not built: {', '.join(absent)} missing in {toolchain_root()}; "
            "run `.venv/bin/python -m tests.realsys.toolchain` (or .ci/bootstrap): it builds "
            f"them from the Go module proxy as pinned in {PINS.relative_to(ROOT)}"
        )
    return link_bin_dir(pins)


def require_tool(name: str) -> Path:
    """For tests: one built binary, or a failure saying how to build it (the others need
    not be built)."""
    pins = load_pins()
    one = recipe(name)
    if not one.built(pins):
        raise BuildError(
            f"{name} {one.version(pins)} is not built in {one.directory(pins)}; run "
            f"`.venv/bin/python -m tests.realsys.toolchain {name}` (or .ci/bootstrap): it "
            f"builds it from the Go module proxy as pinned in {PINS.relative_to(ROOT)}"
        )
    return one.binary(pins)


def toolchain_bin_dir() -> Path:
    """The directory with every built binary (symlinks), for PATH; fails if any is missing."""
    return require_toolchain()


def build_all(force: bool = False, names: Sequence[str] = ()) -> list[BuildResult]:
    """Build (one at a time) what is not yet in the cache, then link the bin directory."""
    pins = load_pins()
    chosen = [recipe(name) for name in names] if names else list(RECIPES)
    results = []
    for one in chosen:
        print(f"toolchain: {one.name} {one.version(pins)}", flush=True)
        result = build(one, pins, force)
        result.reported_version = reported_version(one.binary(pins), one.version_args)
        results.append(result)
    if not missing(pins):
        link_bin_dir(pins)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realsys.toolchain", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even what is cached")
    parser.add_argument("names", nargs="*", help="binaries to build (default: all)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        results = build_all(args.force, args.names)
    except BuildError as error:
        print(f"toolchain: {error}", file=sys.stderr)
        return 1
    for result in results:
        how = f"built in {result.seconds:.0f} s" if result.built else "cached"
        print(f"toolchain: {result.name:28} {how:16} {result.reported_version}")
    absent = missing()
    where = bin_dir(load_pins()) if not absent else f"(not linked; missing: {', '.join(absent)})"
    print(f"toolchain: ready in {time.monotonic() - start:.0f} s: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
