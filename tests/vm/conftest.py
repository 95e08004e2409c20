"""Session fixtures of the ``vm`` tier: one Debian 12 VM, booted once, hardened once, rebooted once.

Prerequisites (installed by .ci/bootstrap): qemu-system-x86 and qemu-utils,
the VM image and the SCAP content (``python -m tests.vm.image``). A missing
one fails every test of the tier with the reason; nothing is skipped and
nothing is built at test time.

Sequence (TCG is slow, so everything is done once per session): boot the
plain image and record what a plain host does (the probes must see it, or
they could not fail); run the harden playbook over SSH, then again (the rerun
must change nothing); the checks of ``test_vm_hardening.py`` run on the
converged VM and again after a reboot (the ``host`` fixture's two phases).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.vm import converge, image
from tests.vm.machine import PROBE_PORTS, Machine, VmError, banner, require_qemu

HERE = Path(__file__).resolve().parent
#: measured durations and figures, printed at the end of the run
SUMMARY = pytest.StashKey[list[str]]()
PROBE_LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(('::',int(sys.argv[1])))\n"
    "s.listen(8)\n"
    "while True:\n c,_=s.accept();c.sendall(b'ociam-probe\\n');c.close()\n"
)


def note(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(SUMMARY, []).append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("vm tier")
        for line in lines:
            terminalreporter.write_line(line)


@dataclass
class Plain:
    """What the plain image does before the role ran (the probes' baseline)."""

    answering_ports: set[int] = field(default_factory=set)
    password_login: bool = False
    module_loaded: bool = False
    #: mount point -> its options in force, for every filesystem mounted
    mount_options: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Session:
    machine: Machine
    inventory: Path
    password: str
    plain: Plain
    first: converge.PlayResult | None = None
    rerun: converge.PlayResult | None = None
    rebooted: bool = False


def start_listeners(machine: Machine) -> None:
    """TCP listeners on the probe ports (any address) that greet every client."""
    local = machine.workdir / "ociam-probe.py"
    local.write_text(PROBE_LISTENER, encoding="utf-8")
    machine.copy_in(local, "/tmp/ociam-probe.py")
    for port in PROBE_PORTS:
        machine.root(
            f"systemctl stop ociam-probe-{port} 2>/dev/null;"
            f" systemd-run --quiet --unit=ociam-probe-{port} python3 /tmp/ociam-probe.py {port}"
        )
    for port in PROBE_PORTS:
        deadline = time.monotonic() + 60
        while f":{port} " not in machine.root("ss -Htln") and time.monotonic() < deadline:
            time.sleep(1)


def answering_ports(machine: Machine) -> set[int]:
    """Guest probe ports whose listener's greeting reaches the host."""
    return {
        guest for guest, host in machine.probe_ports.items() if banner(host) == b"ociam-probe\n"
    }


def mount_options(machine: Machine) -> dict[str, set[str]]:
    """Mount point -> the options in force (``findmnt``, the kernel's view)."""
    lines = machine.root("findmnt --real -rno TARGET,OPTIONS").splitlines()
    return {target: set(options.split(",")) for target, options in (line.split() for line in lines)}


def password_login(machine: Machine, password: str) -> subprocess.CompletedProcess[str]:
    """An SSH login as the admin with the admin's correct password and no key."""
    argv = machine.ssh_argv(extra=(
        "-o", "PubkeyAuthentication=no", "-o", "BatchMode=no",
        "-o", "PreferredAuthentications=password,keyboard-interactive",
        "-o", "NumberOfPasswordPrompts=1",
    ))  # fmt: skip
    return subprocess.run(
        ["sshpass", "-p", password, *argv, "true"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _require(config: pytest.Config) -> None:
    require_qemu()
    for tool in ("sshpass", "ssh-keygen", "openssl"):
        if shutil.which(tool) is None:
            raise VmError(f"{tool} not found: install the packages in .ci/apt-packages.txt")
    if not image.ssg_datastream().is_file():
        raise VmError(
            f"SCAP content {image.ssg_datastream()} is not fetched: run "
            "`.venv/bin/python -m tests.vm.image` (.ci/bootstrap does)"
        )


@pytest.fixture(scope="session")
def vm_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    """The booted plain VM with its baseline recorded (not hardened yet)."""
    config = request.config
    try:
        _require(config)
    except VmError as exc:
        pytest.fail(str(exc), pytrace=False)
    workdir = tmp_path_factory.mktemp("vm")
    key = workdir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ociam-vm-test",
                    "-f", str(key)], check=True)  # fmt: skip
    password = secrets.token_urlsafe(18)
    password_hash = subprocess.run(
        ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    machine = Machine(image.image(), workdir, key, password_hash)
    try:
        boot = machine.start()
        note(config, f"boot of the plain image (TCG, to the admin's SSH login): {boot:.0f} s")
        start_listeners(machine)
        plain = Plain(
            answering_ports=answering_ports(machine),
            password_login=password_login(machine, password).returncode == 0,
            # squashfs: in Debian's kernel, loads on the plain image (cramfs does not load there)
            module_loaded="squashfs"
            in machine.root("modprobe squashfs && lsmod; modprobe -r squashfs || true"),
            mount_options=mount_options(machine),
        )
        yield Session(machine, converge.inventory(machine, workdir), password, plain)
    except VmError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        machine.stop()


@pytest.fixture(scope="session")
def hardened(request: pytest.FixtureRequest, vm_session: Session) -> Session:
    """The VM after the harden playbook ran twice over SSH (first run and rerun)."""
    if vm_session.first is None:
        vm_session.first = converge.harden(vm_session.inventory)
        note(request.config, f"harden playbook, first run: {vm_session.first.seconds:.0f} s "
                             f"{vm_session.first.recap}")  # fmt: skip
        if vm_session.first.returncode != 0:
            pytest.fail(f"harden playbook failed ({vm_session.first.returncode}):\n"
                        f"{vm_session.first.output[-6000:]}", pytrace=False)  # fmt: skip
        vm_session.rerun = converge.harden(vm_session.inventory)
        note(request.config, f"harden playbook, rerun: {vm_session.rerun.seconds:.0f} s "
                             f"{vm_session.rerun.recap}")  # fmt: skip
        start_listeners(vm_session.machine)
    return vm_session


@pytest.fixture(scope="session", params=["converged", "rebooted"])
def host(request: pytest.FixtureRequest, hardened: Session) -> Machine:
    """The hardened VM as converged, then (second phase) after a reboot."""
    if request.param == "rebooted" and not hardened.rebooted:
        try:
            seconds = hardened.machine.reboot()
        except VmError as exc:
            pytest.fail(f"the hardened VM did not come back after a reboot: {exc}", pytrace=False)
        hardened.rebooted = True
        note(
            request.config, f"reboot of the hardened VM (to the admin's SSH login): {seconds:.0f} s"
        )
        start_listeners(hardened.machine)
    return hardened.machine
