"""The Debian 12 virtual machine image of the VM tier, and the SCAP content it is scanned with.

    .venv/bin/python -m tests.vm.image [--force]

Built locally (no image registry, no cloud image download): debootstrap of
bookworm from this machine's configured apt mirror with a Debian kernel
(linux-image-amd64), systemd, openssh-server and what a small server has, then
one ext4 disk per filesystem made from that tree with ``mkfs.ext4 -d`` (no loop
device). The kernel and initrd are copied next to them for qemu's direct kernel boot.

The filesystems are laid out as ANSSI BP-028 (R28) asks a server to be installed:
``/boot``, ``/usr``, ``/var``, ``/var/log``, ``/var/tmp``, ``/home``, ``/opt`` and
``/srv`` apart from ``/`` (here each on a disk of its own, found by its label;
an installer would make partitions or logical volumes). This is the installation
the role's README asks of a city (a role cannot repartition a running host); the
mount options on them are the role's (tasks/mounts.yml).
Cached under ``~/.cache/ociam/vm/debian12-<hash>/`` by a hash of this module's
source and the package list: nothing is built when the cache matches.

The image is a plain installed server, as a city's admin gets one: nothing of
the hardening role is in it. Two test conveniences are: ``ociam-vm-provision``
(a first-boot unit, like cloud-init's, that creates the admin ``ociam-admin``
in group ``ociam-admins`` with the public key and password hash the test
passes on the kernel command line), and the scanners ``lynis`` and
``openscap-scanner`` preinstalled so that no test waits for apt under TCG.

The SCAP Security Guide content for Debian 12 comes from Debian trixie's
``ssg-debian`` package (bookworm has none), fetched from the same mirror with a
private apt configuration for the trixie suite (the system's sources are not
touched), pinned by version and SHA-256 here (``SSG_VERSION``), and cached
under ``~/.cache/ociam/ssg/``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.realsys.rootfs import (
    KEYRING,
    BuildError,
    apt_mirrors,
    chroot,
    debootstrap,
    require_tools,
)

CACHE = Path.home() / ".cache" / "ociam"
SUITE = "bookworm"
#: the root filesystem, then each filesystem apart from it: (mount point, label, size)
FILESYSTEMS = (
    ("/", "root", "1G"),
    ("/boot", "boot", "512M"),
    ("/usr", "usr", "3G"),
    ("/var", "var", "2G"),
    ("/var/log", "var-log", "512M"),
    ("/var/tmp", "var-tmp", "512M"),
    ("/home", "home", "256M"),
    ("/opt", "opt", "128M"),
    ("/srv", "srv", "128M"),
)
PACKAGES = (
    # a bootable server: kernel, initramfs, udev, systemd, networking by systemd-networkd
    "linux-image-amd64",
    "initramfs-tools",
    "udev",
    "systemd",
    "systemd-sysv",
    "dbus",
    "e2fsprogs",
    "kmod",
    "iproute2",
    "procps",
    # what Ansible and an admin need
    "openssh-server",
    "sudo",
    "python3",
    "python3-apt",
    "debconf-utils",
    "ca-certificates",
    "cron",
    "logrotate",
    # the scanners the tests run inside the VM (not hardening)
    "lynis",
    "openscap-scanner",
)
# The SCAP Security Guide release the benchmark is measured with: Debian trixie's
# ssg-debian (carries ssg-debian12-ds.xml). Change version and digest together.
SSG_SUITE = "trixie"
SSG_PACKAGE = "ssg-debian"
SSG_VERSION = "0.1.76-1"
SSG_SHA256 = "f6880719015c16e8e221bc2503c0e5a9f83d6a09fc6f9292d3522e46bf4fc9d7"
SSG_DATASTREAM = "usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml"

PROVISION_UNIT = """\
[Unit]
Description=Create the test admin from the kernel command line (first boot only)
ConditionPathExists=!/var/lib/ociam-vm-provisioned
Before=ssh.service
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ociam-vm-provision

[Install]
WantedBy=multi-user.target
"""
PROVISION_SCRIPT = """\
#!/bin/sh
# First boot: the admin account the tests log in with, from the kernel command
# line (ociam.admin_key=<base64 public key> ociam.admin_hash=<base64 crypt hash>).
set -eu
arg() { tr ' ' '\\n' </proc/cmdline | sed -n "s/^$1=//p" | base64 -d; }
key="$(arg ociam.admin_key)"
hash="$(arg ociam.admin_hash)"
if [ -z "$key" ] || [ -z "$hash" ]; then
    echo "ociam-vm-provision: no admin on the command line" >&2
    exit 1
fi
getent group ociam-admins >/dev/null || groupadd ociam-admins
id ociam-admin >/dev/null 2>&1 || useradd -m -s /bin/bash -G ociam-admins ociam-admin
usermod -p "$hash" ociam-admin
install -d -m 700 -o ociam-admin -g ociam-admin /home/ociam-admin/.ssh
printf '%s\\n' "$key" >/home/ociam-admin/.ssh/authorized_keys
chown ociam-admin: /home/ociam-admin/.ssh/authorized_keys
echo 'ociam-admin ALL=(ALL:ALL) NOPASSWD: ALL' >/etc/sudoers.d/ociam-admin
chmod 440 /etc/sudoers.d/ociam-admin
test -e /etc/ssh/ssh_host_ed25519_key || ssh-keygen -A
touch /var/lib/ociam-vm-provisioned
"""
NETWORK = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n"
#: as an installer writes it: by label, default options (the hardening options are the role's)
FSTAB = "".join(
    f"LABEL={label} {point} ext4 {'errors=remount-ro' if point == '/' else 'defaults'} 0 "
    f"{1 if point == '/' else 2}\n"
    for point, label, _ in FILESYSTEMS
)


@dataclass(frozen=True)
class Image:
    """A built VM image: one raw ext4 disk per filesystem (root first), kernel and initrd."""

    directory: Path

    @property
    def disks(self) -> list[Path]:
        return [self.directory / f"{label}.raw" for _, label, _ in FILESYSTEMS]

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.json"

    def ready(self) -> bool:
        return self.manifest.is_file() and all(
            p.is_file() for p in (*self.disks, self.kernel, self.initrd)
        )


def inputs_hash() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    layout = [" ".join(filesystem) for filesystem in FILESYSTEMS]
    digest.update("\n".join((SUITE, *layout, *PACKAGES)).encode())
    return digest.hexdigest()[:16]


def image() -> Image:
    """The image for the current inputs (built or not)."""
    return Image(CACHE / "vm" / f"debian12-{inputs_hash()}")


def ssg_datastream() -> Path:
    """The cached ssg-debian12-ds.xml of the pinned SSG release (fetched or not)."""
    return CACHE / "ssg" / f"{SSG_PACKAGE}_{SSG_VERSION}" / Path(SSG_DATASTREAM).name


def _run(command: Sequence[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def _customize(rootfs: Path) -> None:
    etc = rootfs / "etc"
    (etc / "fstab").write_text(FSTAB, encoding="utf-8")
    (etc / "hostname").write_text("ociam-vm\n", encoding="utf-8")
    (etc / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 ociam-vm\n", encoding="utf-8")
    # qemu's user-mode network: DHCP from 10.0.2.2, DNS at 10.0.2.3
    (etc / "systemd/network/10-uplink.network").write_text(NETWORK, encoding="utf-8")
    (etc / "resolv.conf").unlink(missing_ok=True)
    (etc / "resolv.conf").write_text("nameserver 10.0.2.3\n", encoding="utf-8")
    wants = etc / "systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (etc / "systemd/system/ociam-vm-provision.service").write_text(PROVISION_UNIT, encoding="utf-8")
    script = rootfs / "usr/local/sbin/ociam-vm-provision"
    script.write_text(PROVISION_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    for unit in ("ociam-vm-provision.service",):
        (wants / unit).symlink_to(f"/etc/systemd/system/{unit}")
    (wants / "systemd-networkd.service").unlink(missing_ok=True)
    (wants / "systemd-networkd.service").symlink_to("/lib/systemd/system/systemd-networkd.service")
    # every VM is a new machine: own machine-id and SSH host keys (made at first boot)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "machine-id").write_text("", encoding="utf-8")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # the virtio drivers the VM boots from, in the initrd
    with (etc / "initramfs-tools/modules").open("a", encoding="utf-8") as modules:
        modules.write("virtio_pci\nvirtio_blk\nvirtio_net\next4\n")
    chroot(rootfs, "update-initramfs", "-u", "-k", "all")
    # empty apt lists dated to the epoch: the apt module's cache_valid_time refreshes them
    lists = rootfs / "var/lib/apt/lists"
    for entry in lists.glob("*"):
        if entry.is_file():
            entry.unlink()
    (lists / "partial").mkdir(exist_ok=True)
    _run(["touch", "-d", "@0", str(lists)], "touch apt lists")


def _split(rootfs: Path, into: Path) -> list[tuple[Path, str, str]]:
    """Each filesystem's tree, moved out of ``rootfs`` (deepest mount point first), an empty
    mount point with the same owner and mode left behind; ``rootfs`` itself is the root's."""
    into.mkdir()
    trees: dict[str, Path] = {}
    for point, label, _ in sorted(FILESYSTEMS[1:], key=lambda f: -f[0].count("/")):
        source = rootfs / point.lstrip("/")
        status = source.stat()
        tree = into / label
        source.rename(tree)
        source.mkdir()
        os.chown(source, status.st_uid, status.st_gid)
        source.chmod(stat.S_IMODE(status.st_mode))
        trees[label] = tree
    trees["root"] = rootfs
    return [(trees[label], label, size) for _, label, size in FILESYSTEMS]


def build(force: bool = False) -> Image:
    """Build the image unless the cache holds one for the same inputs."""
    target = image()
    if target.ready() and not force:
        print(f"vm image: {target.directory} is up to date")
        return target
    require_tools("debootstrap", "mkfs.ext4", "chroot")
    mirrors = apt_mirrors()
    print(f"vm image: building {target.directory.name} from {mirrors.archive} ({SUITE})")
    target.directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ociam-vm-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        debootstrap(SUITE, rootfs, PACKAGES, mirrors)
        _customize(rootfs)
        staging = Path(tmp) / "image"
        staging.mkdir()
        kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
        initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
        if not kernels or not initrds:
            raise BuildError(f"no kernel or initrd in {rootfs}/boot")
        shutil.copy2(kernels[-1], staging / "vmlinuz")
        shutil.copy2(initrds[-1], staging / "initrd.img")
        for tree, label, size in _split(rootfs, Path(tmp) / "filesystems"):
            _run(
                ["mkfs.ext4", "-q", "-F", "-L", label, "-d", str(tree),
                 str(staging / f"{label}.raw"), size],
                f"mkfs.ext4 -d ({label})",
            )  # fmt: skip
        manifest = {"suite": SUITE, "inputs": inputs_hash(), "kernel": kernels[-1].name,
                    "mirror": mirrors.archive, "packages": list(PACKAGES)}  # fmt: skip
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if target.directory.exists():
            shutil.rmtree(target.directory)
        shutil.move(str(staging), target.directory)
    for old in target.directory.parent.glob("debian12-*"):
        if old != target.directory:
            shutil.rmtree(old, ignore_errors=True)
    print(f"vm image: built {target.directory}")
    return target


def fetch_ssg(force: bool = False) -> Path:
    """ssg-debian12-ds.xml of the pinned ssg-debian, from the trixie suite of the mirror."""
    datastream = ssg_datastream()
    if datastream.is_file() and not force:
        print(f"vm image: {datastream} is cached")
        return datastream
    archive = apt_mirrors().archive
    with tempfile.TemporaryDirectory(prefix="ociam-ssg-") as tmp:
        work = Path(tmp)
        for sub in ("etc/sources.list.d", "etc/preferences.d", "lists/partial", "cache"):
            (work / sub).mkdir(parents=True)
        (work / "etc/sources.list.d/trixie.sources").write_text(
            f"Types: deb\nURIs: {archive}\nSuites: {SSG_SUITE}\nComponents: main\n"
            f"Signed-By: {KEYRING}\n",
            encoding="utf-8",
        )
        apt_options = [
            "-o", "Dir::Etc::SourceList=/dev/null",
            "-o", f"Dir::Etc::SourceParts={work / 'etc/sources.list.d'}",
            "-o", "Dir::Etc::Preferences=/dev/null",
            "-o", f"Dir::Etc::PreferencesParts={work / 'etc/preferences.d'}",
            "-o", f"Dir::State::Lists={work / 'lists'}",
            "-o", f"Dir::Cache={work / 'cache'}",
            "-o", "Dir::State::status=/dev/null",
            "-o", "Acquire::Languages=none",
            "-o", "APT::Get::List-Cleanup=false",
        ]  # fmt: skip
        _run(["apt-get", *apt_options, "-qq", "update"], f"apt-get update ({SSG_SUITE})")
        subprocess.run(
            ["apt-get", *apt_options, "-qq", "download", f"{SSG_PACKAGE}={SSG_VERSION}"],
            cwd=work, capture_output=True, text=True, check=True,
        )  # fmt: skip
        deb = next(work.glob(f"{SSG_PACKAGE}_*.deb"))
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != SSG_SHA256:
            raise BuildError(f"{deb.name}: sha256 {digest}, pinned {SSG_SHA256}")
        _run(["dpkg-deb", "-x", str(deb), str(work / "x")], f"dpkg-deb -x {deb.name}")
        datastream.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(work / "x" / SSG_DATASTREAM, datastream)
    print(f"vm image: fetched {datastream}")
    return datastream


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild and refetch")
    args = parser.parse_args(argv)
    try:
        build(args.force)
        fetch_ssg(args.force)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"vm image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
