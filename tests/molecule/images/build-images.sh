#!/usr/bin/env bash
# Build the local systemd base images the Molecule scenarios run on.
#
#   tests/molecule/images/build-images.sh [--force] [bookworm|trixie ...]
#
# No container registry is reachable from the build machines, so the images
# come from debootstrap (minbase, merged /usr) against the apt mirror this
# machine is configured with, and are loaded with `podman import`:
#
#   localhost/ociam-molecule:debian12   (bookworm)
#   localhost/ociam-molecule:debian13   (trixie)
#
# Cached: each image carries the label `ociam.inputs`, a hash of this script,
# packages.txt and the suite. An image whose label matches is kept; anything
# else is rebuilt. --force rebuilds regardless. Needs root, debootstrap,
# debian-archive-keyring and podman (see .ci/apt-packages.txt).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="${OCIAM_IMAGE_REPO:-localhost/ociam-molecule}"
packages_file="$here/packages.txt"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/../containers.conf}"

force=0
suites=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        bookworm|trixie) suites+=("$arg") ;;
        *) echo "build-images: unknown argument '$arg' (suites: bookworm trixie)" >&2; exit 2 ;;
    esac
done
[ "${#suites[@]}" -gt 0 ] || suites=(bookworm trixie)

die() { echo "build-images: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, rootful podman)"
for tool in debootstrap podman flock sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' not found; install the packages in .ci/apt-packages.txt"
done

tag_for() { case "$1" in bookworm) echo debian12 ;; trixie) echo debian13 ;; esac; }

# The archive and security mirrors this machine's apt uses (deb822 first,
# then one-line sources.list): never a hard-coded host.
read_mirrors() {
    local files=() line uri
    shopt -s nullglob
    files=(/etc/apt/sources.list.d/*.sources)
    shopt -u nullglob
    mirror=""
    security=""
    if [ "${#files[@]}" -gt 0 ]; then
        while read -r uri; do
            case "$uri" in
                *security*) [ -n "$security" ] || security="$uri" ;;
                *) [ -n "$mirror" ] || mirror="$uri" ;;
            esac
        done < <(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "${files[@]}")
    fi
    if [ -z "$mirror" ] && [ -r /etc/apt/sources.list ]; then
        while read -r line; do
            uri="$(awk '{ for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' <<<"$line")"
            case "$uri" in
                *security*) [ -n "$security" ] || security="$uri" ;;
                *) [ -n "$mirror" ] || mirror="$uri" ;;
            esac
        done < <(grep -E '^deb[[:space:]]' /etc/apt/sources.list)
    fi
    [ -n "$mirror" ] || die "no apt mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
    mirror="${mirror%/}"
    security="${security:-${mirror}-security}"
    security="${security%/}"
}

inputs_hash() {
    { cat "${BASH_SOURCE[0]}" "$packages_file"; echo "suite=$1"; } | sha256sum | cut -c1-16
}

build_one() {
    local suite="$1" tag hash rootfs include
    tag="$repo:$(tag_for "$suite")"
    hash="$(inputs_hash "$suite")"
    if [ "$force" -eq 0 ] && podman image exists "$tag" &&
        [ "$(podman image inspect --format '{{ index .Labels "ociam.inputs" }}' "$tag")" = "$hash" ]; then
        echo "build-images: $tag is up to date (inputs $hash)"
        return 0
    fi
    echo "build-images: building $tag from $mirror ($suite, inputs $hash)"
    rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/ociam-rootfs-$suite.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: the trap must remove this rootfs
    trap "rm -rf '$rootfs'" RETURN
    include="$(grep -Ev '^[[:space:]]*(#|$)' "$packages_file" | paste -sd, -)"
    debootstrap --variant=minbase --merged-usr --include="$include" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
        tail -n 30 "$rootfs.log" >&2
        rm -f "$rootfs.log"
        die "debootstrap $suite failed"
    }
    rm -f "$rootfs.log"

    # apt sources as a fresh install writes them: archive, updates, security.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Empty package lists, dated to the epoch, so that apt's cache_valid_time
    # sees a stale cache and refreshes it instead of finding no packages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    mkdir -p "$rootfs/var/lib/apt/lists/partial"
    touch -d @0 "$rootfs/var/lib/apt/lists"
    find "$rootfs/var/cache/apt/archives" -name '*.deb' -delete

    # Every container is a new machine: its own machine-id and SSH host keys.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs"/var/lib/dbus/machine-id "$rootfs"/etc/ssh/ssh_host_*
    cat >"$rootfs/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate missing SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
EOF
    ln -sf /etc/systemd/system/ssh-hostkeys.service \
        "$rootfs/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"
    # Units that cannot work in a container and only add noise to the boot.
    for unit in systemd-remount-fs.service getty@tty1.service console-getty.service; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done

    tar --numeric-owner --xattrs -C "$rootfs" -c . |
        podman import \
            --change 'CMD ["/sbin/init"]' \
            --change 'STOPSIGNAL SIGRTMIN+3' \
            --change "LABEL ociam.inputs=$hash" \
            --change "LABEL ociam.suite=$suite" \
            --message "ociam molecule base image ($suite, inputs $hash)" \
            - "$tag" >/dev/null
    echo "build-images: built $tag ($(podman image inspect --format '{{ .Size }}' "$tag" | numfmt --to=iec))"
}

read_mirrors
mkdir -p /run/lock
exec 9>/run/lock/ociam-build-images.lock
flock 9

start=$SECONDS
pids=()
for suite in "${suites[@]}"; do
    build_one "$suite" &
    pids+=("$!")
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
[ "$failed" -eq 0 ] || die "one or more images failed to build"
echo "build-images: done in $((SECONDS - start)) s"
