"""The VM tier's long steps, run in a background thread from the start of the pytest session.

Under software emulation the steps take 40-50 min here: boot the plain image
and record what it does (the baseline every probe is checked against, so that
a probe that cannot see a failure fails), run the harden playbook over SSH,
run it again (the rerun must change nothing), then score the hardened VM with
OpenSCAP and Lynis. None of it needs the rest of the suite, and most of the
suite waits on other processes, so the steps start as soon as collection has
selected a ``vm`` test (tests/vm/conftest.py) and run beside the other tiers.
The tests wait for the pipeline, then probe the VM themselves: first as
converged, then after a reboot (tests/vm/conftest.py's ``host`` fixture).

A step that fails is kept with its reason; every test that needs it fails
with that reason. Nothing is skipped.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.vm import converge, image, scan
from tests.vm.machine import PROBE_PORTS, Machine, VmError, banner, require_qemu

PROBE_LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0);s.bind(('::',int(sys.argv[1])))\n"
    "s.listen(8)\n"
    "while True:\n c,_=s.accept();c.sendall(b'ociam-probe\\n');c.close()\n"
)
#: the whole pipeline, as a last resort (each step has its own, shorter timeouts)
PIPELINE_TIMEOUT_S = 3 * 3600.0


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
    openscap: scan.OpenScap | None = None
    openscap_error: str | None = None
    lynis: dict[str, Any] | None = None
    lynis_error: str | None = None
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


def require_prerequisites() -> None:
    require_qemu()
    for tool in ("sshpass", "ssh-keygen", "openssl"):
        if shutil.which(tool) is None:
            raise VmError(f"{tool} not found: install the packages in .ci/apt-packages.txt")
    if not image.image().ready():
        raise VmError(
            f"VM image {image.image().directory} is not built: run "
            "`.venv/bin/python -m tests.vm.image` (.ci/bootstrap does)"
        )
    if not image.ssg_datastream().is_file():
        raise VmError(
            f"SCAP content {image.ssg_datastream()} is not fetched: run "
            "`.venv/bin/python -m tests.vm.image` (.ci/bootstrap does)"
        )


class Pipeline:
    """Boot, baseline, harden twice, scan: in a thread; ``result()`` waits for it."""

    def __init__(self, workdir: Path, note: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.note = note
        self.session: Session | None = None
        self.error: str | None = None
        self.machine: Machine | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vm-pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def result(self) -> Session:
        """The hardened and scanned VM; VmError with the failed step's reason."""
        self._thread.join(PIPELINE_TIMEOUT_S)
        if self._thread.is_alive():
            raise VmError(f"the VM pipeline did not end within {PIPELINE_TIMEOUT_S:.0f} s")
        if self.error is not None or self.session is None:
            raise VmError(self.error or "the VM pipeline ended without a result")
        return self.session

    def stop(self) -> None:
        """Power the VM off (or kill qemu); the thread's next SSH call then fails and it ends."""
        self._stopping.set()
        if self.machine is not None:
            self.machine.stop()
        self._thread.join(120)
        if self.machine is not None:
            self.machine.kill()

    def _run(self) -> None:
        try:
            self.session = self._boot()
            for step in (self._harden, self._scan):
                if self.error is not None or self._stopping.is_set():
                    break
                step(self.session)
        except VmError as exc:
            self.error = str(exc)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _boot(self) -> Session:
        require_prerequisites()
        key = self.workdir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ociam-vm-test",
                        "-f", str(key)], check=True)  # fmt: skip
        password = secrets.token_urlsafe(18)
        password_hash = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
            text=True, check=True,
        ).stdout.strip()  # fmt: skip
        self.machine = machine = Machine(image.image(), self.workdir, key, password_hash)
        boot = machine.start()
        self.note(f"boot of the plain image (TCG, to the admin's SSH login): {boot:.0f} s")
        # the image's lynis package brings Debian's daily lynis.timer: an audit it starts
        # (the VM's clock passing midnight is enough) would run beside the tier's own
        machine.root("systemctl disable --now lynis.timer && systemctl stop lynis.service")
        start_listeners(machine)
        plain = Plain(
            answering_ports=answering_ports(machine),
            password_login=password_login(machine, password).returncode == 0,
            # squashfs: in Debian's kernel, loads on the plain image (cramfs does not load there)
            module_loaded="squashfs"
            in machine.root("modprobe squashfs && lsmod; modprobe -r squashfs || true"),
            mount_options=mount_options(machine),
        )
        return Session(machine, converge.inventory(machine, self.workdir), password, plain)

    def _harden(self, session: Session) -> None:
        session.first = converge.harden(session.inventory)
        self.note(f"harden playbook, first run: {session.first.seconds:.0f} s "
                  f"{session.first.recap}")  # fmt: skip
        if session.first.returncode != 0:
            self.error = (f"harden playbook failed ({session.first.returncode}):\n"
                          f"{session.first.output[-6000:]}")  # fmt: skip
            return
        session.rerun = converge.harden(session.inventory)
        self.note(f"harden playbook, rerun: {session.rerun.seconds:.0f} s {session.rerun.recap}")
        start_listeners(session.machine)

    def _scan(self, session: Session) -> None:
        """OpenSCAP and Lynis at once (two vCPUs; both only read the host's state).

        An OpenSCAP that died of a signal is run once more, alone, after Lynis."""

        def openscap() -> None:
            try:
                session.openscap = scan.openscap(session.machine)
            except scan.ScannerCrashed as exc:
                crashed.append(str(exc))
            except (AssertionError, VmError, subprocess.SubprocessError) as exc:
                session.openscap_error = str(exc)

        crashed: list[str] = []
        parallel = threading.Thread(target=openscap, name="vm-openscap", daemon=True)
        parallel.start()
        try:
            started = time.monotonic()
            session.lynis = scan.lynis(session.machine)
            self.note(f"Lynis audit on the hardened VM: {time.monotonic() - started:.0f} s")
        except (VmError, ValueError, subprocess.SubprocessError) as exc:
            session.lynis_error = str(exc)
        parallel.join()
        if crashed:
            self.note(f"OpenSCAP crashed beside Lynis and ran again alone: {crashed[0][:300]}")
            try:
                session.openscap = scan.openscap(session.machine)
            except (AssertionError, VmError, subprocess.SubprocessError) as exc:
                session.openscap_error = f"{crashed[0]}\nand again alone: {exc}"
