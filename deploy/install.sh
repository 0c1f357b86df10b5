#!/usr/bin/env bash
# Install Pallet from this checkout on a Debian host, as systemd services.
#
#   deploy/install.sh [--enable]                 install (as root), optionally enable + start palletd
#   deploy/install.sh --uninstall [--purge]      remove it (--purge: also /etc/pallet and /var/lib/pallet)
#   deploy/install.sh --root DIR [--no-venv]     stage every file under DIR instead of / (packaging,
#                                                tests): no apt, no users, no systemctl
#   deploy/install.sh --dry-run ...              print what would be done, change nothing
#
# What it does (each step is safe to repeat):
#   apt packages      runc iptables iproute2 python3-venv ca-certificates
#   venv              PREFIX (default /opt/pallet): python3 -m venv + pip install of this checkout
#   commands          /usr/local/bin/{palletd,palletctl,pallet-*} -> PREFIX/bin/...
#   users             /etc/sysusers.d/pallet.conf: group "pallet" (may use palletd's socket),
#                     system user "pallet-registry" (runs the registry)
#   directories       /etc/tmpfiles.d/pallet.conf: /run/pallet and /var/lib/pallet (0711);
#                     /etc/pallet, /etc/pallet/tls (certificates), /etc/pallet/tls/registry
#   config            /etc/pallet/pallet.toml from deploy/pallet.toml, only if there is none
#   units             /etc/systemd/system/{palletd,pallet-imagesvc,pallet-netsvc,pallet-registry}.service,
#                     then systemctl daemon-reload
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UNITS=(palletd.service pallet-imagesvc.service pallet-netsvc.service pallet-registry.service)
COMMANDS=(palletd palletctl pallet-shim pallet-imagesvc pallet-netsvc pallet-registry pallet-compose)
DEBS=(runc iptables iproute2 python3-venv ca-certificates)
DEFAULT_PREFIX=/opt/pallet

ROOT=${DESTDIR:-}
PREFIX=$DEFAULT_PREFIX
BINDIR=/usr/local/bin
PYTHON=${PYTHON:-python3}
DRY_RUN=0
UNINSTALL=0
PURGE=0
NO_VENV=0
ENABLE=0

usage() {
    cat <<EOF
usage: $0 [options]

  --root DIR     install under DIR instead of / (also: DESTDIR=DIR); skips apt, users and systemctl
  --prefix DIR   where the venv goes (default $DEFAULT_PREFIX); the units' ExecStart= follow it
  --bindir DIR   where the command symlinks go (default /usr/local/bin)
  --python EXE   interpreter that makes the venv (default python3, 3.11 or newer)
  --no-venv      do not make the venv / pip install (the symlinks and units still point into PREFIX)
  --enable       systemctl enable --now palletd.service (pulls in pallet-imagesvc and pallet-netsvc)
  --uninstall    stop and remove units, commands and venv; keep /etc/pallet and /var/lib/pallet
  --purge        with --uninstall: also remove /etc/pallet and /var/lib/pallet (images, volumes!)
  --dry-run      print the commands, change nothing
  -h, --help     this text
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift ;;
        --root=*) ROOT=${1#*=} ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift ;;
        --prefix=*) PREFIX=${1#*=} ;;
        --bindir) [ $# -ge 2 ] || die "--bindir needs a directory"; BINDIR=$2; shift ;;
        --bindir=*) BINDIR=${1#*=} ;;
        --python) [ $# -ge 2 ] || die "--python needs an executable"; PYTHON=$2; shift ;;
        --python=*) PYTHON=${1#*=} ;;
        --no-venv) NO_VENV=1 ;;
        --enable) ENABLE=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --purge) PURGE=1 ;;
        --dry-run|-n) DRY_RUN=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done

case $PREFIX in /*) ;; *) die "--prefix must be an absolute path" ;; esac
case $BINDIR in /*) ;; *) die "--bindir must be an absolute path" ;; esac
[ "$PREFIX" != / ] || die "--prefix / would put the venv over the whole system"
if [ -n "$ROOT" ]; then
    case $ROOT in /*) ;; *) ROOT=$(pwd)/$ROOT ;; esac
    ROOT=${ROOT%/}
    [ -n "$ROOT" ] || die "--root / is the real system: leave --root out"
fi
[ $PURGE = 0 ] || [ $UNINSTALL = 1 ] || die "--purge goes with --uninstall"
# Only the real system needs root; a staging root or a dry run does not.
if [ -z "$ROOT" ] && [ $DRY_RUN = 0 ] && [ "$(id -u)" != 0 ]; then
    die "run as root (or stage with --root DIR, or look with --dry-run)"
fi

STAGED=0
[ -z "$ROOT" ] || STAGED=1

run() {
    echo "+ $*"
    [ $DRY_RUN = 1 ] || "$@"
}

# a system directory (/usr/local/bin, /etc/systemd/system, ...): made 0755 if missing, else left alone
sysdir() {  # sysdir PATH
    [ -d "$ROOT$1" ] || run install -d -m 0755 "$ROOT$1"
}

# one of Pallet's directories: mode (and owner, on the real system) set whether or not it exists yet
dir() {  # dir MODE OWNER:GROUP PATH
    local mode=$1 owner=$2 path=$ROOT$3
    run install -d -m "$mode" "$path"
    run chmod "$mode" "$path"
    if [ $STAGED = 0 ]; then run chown "$owner" "$path"; fi
}

# copy a file into place (0644 root:root), rewriting /opt/pallet to PREFIX in units
put() {  # put SRC DEST [MODE]
    local src=$1 dest=$ROOT$2 mode=${3:-0644}
    if [ "$PREFIX" != "$DEFAULT_PREFIX" ] && [[ $src == *.service ]]; then
        echo "+ sed 's#$DEFAULT_PREFIX/#$PREFIX/#g' $src > $dest"
        if [ $DRY_RUN = 0 ]; then
            sed "s#$DEFAULT_PREFIX/#$PREFIX/#g" "$src" >"$dest.tmp.$$"
            chmod "$mode" "$dest.tmp.$$"
            mv -f "$dest.tmp.$$" "$dest"
        fi
    else
        run install -m "$mode" "$src" "$dest"
    fi
}

install_packages() {
    local missing=()
    for p in "${DEBS[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "Debian packages: all present (${DEBS[*]})"
        return
    fi
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

make_venv() {
    local venv=$ROOT$PREFIX
    if [ $STAGED = 1 ]; then
        echo "note: a venv made under --root keeps $venv in its scripts; use --no-venv to stage only the files"
    fi
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || die "$PYTHON is not Python 3.11 or newer (Pallet needs tomllib); pass --python"
    if [ ! -x "$venv/bin/python" ]; then
        run "$PYTHON" -m venv "$venv"
    fi
    run "$venv/bin/python" -m pip install -q --upgrade pip
    # --upgrade: a checkout at the same version number is reinstalled all the same
    run "$venv/bin/python" -m pip install -q --upgrade "$SRC"
}

do_install() {
    [ $STAGED = 1 ] || install_packages
    [ $NO_VENV = 1 ] || make_venv

    sysdir "$BINDIR"
    for c in "${COMMANDS[@]}"; do
        run ln -sfn "$PREFIX/bin/$c" "$ROOT$BINDIR/$c"
    done

    sysdir /etc/sysusers.d
    put "$SRC/deploy/systemd/pallet-sysusers.conf" /etc/sysusers.d/pallet.conf
    if [ $STAGED = 0 ]; then
        if command -v systemd-sysusers >/dev/null; then
            run systemd-sysusers /etc/sysusers.d/pallet.conf
        else
            getent group pallet >/dev/null || run groupadd --system pallet
            getent passwd pallet-registry >/dev/null || run useradd --system --user-group \
                --home-dir /var/lib/pallet/registry --no-create-home --shell /usr/sbin/nologin \
                --comment "Pallet OCI registry" pallet-registry
        fi
    fi

    sysdir /etc/tmpfiles.d
    put "$SRC/deploy/systemd/pallet-tmpfiles.conf" /etc/tmpfiles.d/pallet.conf
    dir 0711 root:root /var/lib/pallet
    if [ $STAGED = 0 ]; then
        run systemd-tmpfiles --create /etc/tmpfiles.d/pallet.conf
    fi

    dir 0755 root:root /etc/pallet
    # certificates: palletd's server files (keys 0600) here, the registry's in tls/registry
    dir 0711 root:root /etc/pallet/tls
    dir 0750 root:pallet-registry /etc/pallet/tls/registry
    if [ -e "$ROOT/etc/pallet/pallet.toml" ]; then
        echo "keeping $ROOT/etc/pallet/pallet.toml (the sample is $SRC/deploy/pallet.toml)"
    else
        put "$SRC/deploy/pallet.toml" /etc/pallet/pallet.toml
    fi

    sysdir /etc/systemd/system
    for u in "${UNITS[@]}"; do
        put "$SRC/deploy/systemd/$u" "/etc/systemd/system/$u"
    done

    if [ $STAGED = 0 ]; then
        run systemctl daemon-reload
        if [ $ENABLE = 1 ]; then
            run systemctl enable --now palletd.service
        fi
    elif [ $ENABLE = 1 ]; then
        echo "note: --enable does nothing with --root"
    fi

    echo
    if [ $DRY_RUN = 1 ]; then
        echo "(dry run: nothing was changed)"
        return
    fi
    echo "Pallet is installed${ROOT:+ under $ROOT}."
    if [ $ENABLE = 0 ]; then
        echo "  start it:          systemctl enable --now palletd    (also starts pallet-imagesvc, pallet-netsvc)"
    fi
    echo "  settings:          /etc/pallet/pallet.toml"
    echo "  use it as USER:    usermod -aG pallet USER            (that is root on this host)"
    echo "  a registry:        systemctl enable --now pallet-registry"
}

# true if there is a mount at or under path
mounted_under() {
    awk -v p="$1" '$5 == p || index($5, p "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo
}

do_uninstall() {
    if [ $STAGED = 0 ]; then
        echo "note: stopping palletd leaves running containers (and their shims) alone"
        for u in "${UNITS[@]}"; do
            if [ $DRY_RUN = 1 ] || systemctl cat "$u" >/dev/null 2>&1; then
                run systemctl disable --now "$u" || true
            fi
        done
    fi
    for u in "${UNITS[@]}"; do
        run rm -f "$ROOT/etc/systemd/system/$u"
    done
    [ $STAGED = 1 ] || run systemctl daemon-reload
    run rm -f "$ROOT/etc/tmpfiles.d/pallet.conf" "$ROOT/etc/sysusers.d/pallet.conf"
    for c in "${COMMANDS[@]}"; do
        local link=$ROOT$BINDIR/$c
        if [ -L "$link" ] && [ "$(readlink "$link")" = "$PREFIX/bin/$c" ]; then
            run rm -f "$link"
        fi
    done
    if [ -f "$ROOT$PREFIX/pyvenv.cfg" ]; then
        run rm -rf "$ROOT$PREFIX"
    elif [ -e "$ROOT$PREFIX" ]; then
        echo "leaving $ROOT$PREFIX: not a venv"
    fi
    if [ $PURGE = 1 ]; then
        for d in /var/lib/pallet /run/pallet; do
            if [ $STAGED = 0 ] && [ -d "$d" ] && mounted_under "$d"; then
                die "$d still has mounts (running containers?): stop them, then --purge again"
            fi
        done
        run rm -rf --one-file-system "$ROOT/etc/pallet" "$ROOT/var/lib/pallet" "$ROOT/run/pallet"
    else
        echo "kept $ROOT/etc/pallet and $ROOT/var/lib/pallet (--purge removes them)"
    fi
    echo "the pallet group and the pallet-registry user are kept"
}

if [ $UNINSTALL = 1 ]; then
    do_uninstall
else
    do_install
fi
