"""One qemu virtual machine of the VM tier: boot, SSH, reboot, stop.

qemu-system-x86_64 with software emulation (TCG: KVM is not usable on the build
machines), direct kernel boot of the image's own Debian kernel and initrd, the
cached image behind a throwaway qcow2 overlay (the cache is never written),
user-mode networking: the host reaches the guest only through the forwarded
ports on 127.0.0.1, and inside the guest every such connection comes from the
user-mode gateway 10.0.2.2 (the admin network of the tests).
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm.image import Image

#: where the forwarded connections come from, inside the guest
ADMIN_SOURCE = "10.0.2.2"
ADMIN_USER = "ociam-admin"
ADMIN_GROUP = "ociam-admins"
#: guest ports forwarded from the host: SSH and two a hardened host must not answer on
PROBE_PORTS = (8080, 5432)
SSH_OPTIONS = (
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "-o", "BatchMode=yes",
    "-o", "ServerAliveInterval=15",
)  # fmt: skip
MEMORY_MB = 1536
BOOT_TIMEOUT_S = 420.0


class VmError(RuntimeError):
    """The VM did not do what the tier needs; the message says what and shows the console."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_qemu() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None or shutil.which("qemu-img") is None:
        raise VmError(
            "qemu-system-x86_64 or qemu-img not found: install qemu-system-x86 and qemu-utils "
            "(.ci/apt-packages.txt; .ci/bootstrap does)"
        )
    return qemu


def banner(port: int, timeout: float = 8.0) -> bytes:
    """What a TCP service on the forwarded ``port`` says first (b'' if nothing answers).

    With user-mode networking the host side of a forwarded port always accepts;
    only data coming back shows that the guest let the connection in."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64)
    except OSError:
        return b""


@dataclass
class Machine:
    image: Image
    workdir: Path
    key: Path
    password_hash: str
    ssh_port: int = field(default_factory=free_port)
    probe_ports: dict[int, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"

    def console_tail(self, lines: int = 40) -> str:
        if not self.console.is_file():
            return "(no console output)"
        text = self.console.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> float:
        """Boot the VM and wait for the admin's SSH login; returns the boot time in seconds."""
        qemu = require_qemu()
        if not self.image.ready():
            raise VmError(
                f"VM image {self.image.directory} is not built: run "
                "`.venv/bin/python -m tests.vm.image` (.ci/bootstrap does)"
            )
        drives = []
        for disk in self.image.disks:
            overlay = self.workdir / f"{disk.stem}.qcow2"
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(disk),
                 str(overlay)],
                check=True, capture_output=True,
            )  # fmt: skip
            drives += ["-drive", f"file={overlay},if=virtio,format=qcow2,cache=unsafe"]
        self.probe_ports = {guest: free_port() for guest in PROBE_PORTS}
        forwards = [f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"] + [
            f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in self.probe_ports.items()
        ]
        public = self.key.with_suffix(".pub").read_text(encoding="utf-8").strip()
        cmdline = " ".join((
            "root=LABEL=root rw console=ttyS0 net.ifnames=0",
            f"ociam.admin_key={base64.b64encode(public.encode()).decode()}",
            f"ociam.admin_hash={base64.b64encode(self.password_hash.encode()).decode()}",
        ))  # fmt: skip
        command = [
            qemu, "-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "2", "-m", str(MEMORY_MB),
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", cmdline,
            *drives,
            "-netdev", f"user,id=net0,{','.join(forwards)}",
            "-device", "virtio-net-pci,netdev=net0",
            "-device", "virtio-rng-pci",
            "-display", "none", "-monitor", "none", "-serial", f"file:{self.console}",
        ]  # fmt: skip
        started = time.monotonic()
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_for_login()
        return time.monotonic() - started

    def wait_for_login(self, timeout: float = BOOT_TIMEOUT_S, not_boot: str | None = None) -> str:
        """Wait until the admin logs in with the key (into a boot other than ``not_boot``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                raise VmError(f"qemu exited ({self.process.returncode}): {stderr}\n"
                              f"{self.console_tail()}")  # fmt: skip
            result = self.ssh("cat /proc/sys/kernel/random/boot_id", check=False, timeout=40)
            boot = result.stdout.strip()
            if result.returncode == 0 and boot and boot != not_boot:
                return boot
            time.sleep(3)
        raise VmError(f"no SSH login as {ADMIN_USER} within {timeout:.0f} s; console:\n"
                      f"{self.console_tail()}")  # fmt: skip

    def ssh_argv(self, user: str = ADMIN_USER, extra: Sequence[str] = ()) -> list[str]:
        # ssh keeps the first value of an option: the caller's come before the defaults
        return ["ssh", *extra, *SSH_OPTIONS, "-i", str(self.key), "-p", str(self.ssh_port),
                f"{user}@127.0.0.1"]  # fmt: skip

    def ssh(
        self, script: str, check: bool = True, timeout: float = 300, user: str = ADMIN_USER
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in the guest as ``user`` (the admin; use sudo for root)."""
        try:
            result = subprocess.run(
                [*self.ssh_argv(user), script],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            if check:
                raise VmError(f"ssh `{script}` timed out after {timeout:.0f} s") from exc
            return subprocess.CompletedProcess(exc.cmd, 255, "", "timeout")
        if check and result.returncode != 0:
            raise VmError(
                f"ssh `{script}` failed ({result.returncode}):\n{result.stdout[-3000:]}"
                f"\n{result.stderr[-2000:]}"
            )
        return result

    def root(self, script: str, check: bool = True, timeout: float = 300) -> str:
        """Run ``script`` as root in the guest (sudo); its stdout."""
        quoted = script.replace("'", "'\"'\"'")
        return self.ssh(f"sudo sh -c '{quoted}'", check=check, timeout=timeout).stdout

    def copy_in(self, source: Path, target: str) -> None:
        subprocess.run(
            ["scp", *SSH_OPTIONS, "-i", str(self.key), "-P", str(self.ssh_port), str(source),
             f"{ADMIN_USER}@127.0.0.1:{target}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip

    def copy_out(self, source: str, target: Path) -> None:
        subprocess.run(
            ["scp", *SSH_OPTIONS, "-i", str(self.key), "-P", str(self.ssh_port),
             f"{ADMIN_USER}@127.0.0.1:{source}", str(target)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip

    def reboot(self) -> float:
        """Reboot from inside (systemctl reboot); wait for the admin's login into the new boot."""
        before = self.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
        started = time.monotonic()
        self.ssh("sudo systemctl reboot", check=False, timeout=30)
        self.wait_for_login(not_boot=before)
        return time.monotonic() - started

    def stop(self) -> None:
        """Power off from inside; qemu is killed if it has not ended a minute later."""
        if self.process is None or self.process.poll() is not None:
            return
        self.ssh("sudo systemctl poweroff", check=False, timeout=20)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
