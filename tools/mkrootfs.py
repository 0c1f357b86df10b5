"""Make a small root filesystem tarball from Debian's busybox-static.

There is no Docker Hub here, so the demo and the tests build their base image
from /bin/busybox: `python tools/mkrootfs.py OUT.tar` then `palletctl import`.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import time

BUSYBOX = "/bin/busybox"
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"


def applets(busybox: str = BUSYBOX) -> list[str]:
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout
    return [a for a in out.split() if a and "/" not in a]


def write_busybox_rootfs(out: str, busybox: str = BUSYBOX) -> None:
    """Write an uncompressed rootfs tarball with busybox and its applet links."""
    if shutil.which(busybox) is None:
        raise SystemExit(f"{busybox} not found: apt-get install busybox-static")
    now = int(time.time())

    def entry(name: str, kind: bytes, mode: int, **kw: object) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, now
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "home", "usr", "usr/bin", "var"):
            tar.addfile(entry(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        with open(busybox, "rb") as f:
            data = f.read()
        tar.addfile(entry("bin/busybox", tarfile.REGTYPE, 0o755, size=len(data)), io.BytesIO(data))
        for name in applets(busybox):
            if name != "busybox":
                tar.addfile(entry(f"bin/{name}", tarfile.LNKTYPE, 0o755, linkname="bin/busybox"))
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            raw = text.encode()
            tar.addfile(entry(name, tarfile.REGTYPE, 0o644, size=len(raw)), io.BytesIO(raw))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: mkrootfs.py OUT.tar")
    write_busybox_rootfs(sys.argv[1])
