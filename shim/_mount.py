"""mount(2) and umount2(2) through ctypes, with mount(8)-style options.

A mount is {"type", "source", "options": [...]}, as in the bundle's
mounts.json: flag-like options (ro, nosuid, bind, rbind, ...) become mount
flags, the rest (lowerdir=..., upperdir=...) the filesystem data string.
"""

from __future__ import annotations

import ctypes
import errno
import os

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MNT_DETACH = 0x2

# option -> (clear?, flag)
_FLAGS = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
}
_PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED, "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}

_libc = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_ulong, ctypes.c_char_p)
        _libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        _libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                ctypes.c_ulong, ctypes.c_ulong)
    return _libc


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """(flags, propagation flags, data) for a list of mount options."""
    flags, prop, data = 0, 0, []
    for opt in options:
        if opt in _FLAGS:
            clear, flag = _FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in _PROPAGATION:
            prop |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def mount(mtype: str, source: str, target: str, options: list[str]) -> None:
    """Mount like mount(8): a bind with ro is a bind followed by a read-only remount."""
    libc = _lib()
    flags, prop, data = parse_options(options)
    what = f"mount {mtype} {source} on {target}"
    if flags & MS_BIND:
        _check(libc.mount(_b(source), _b(target), None, flags & (MS_BIND | MS_REC), None), what)
        extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if extra:
            rc = libc.mount(None, _b(target), None, MS_REMOUNT | MS_BIND | extra, None)
            if rc != 0:
                err = ctypes.get_errno()
                umount(target)
                raise OSError(err, f"{what}: remount: {os.strerror(err)}")
    else:
        _check(libc.mount(_b(source), _b(target), _b(mtype), flags, _b(data) if data else None),
               what)
    if prop:
        _check(libc.mount(None, _b(target), None, prop, None), f"{what}: propagation")


def umount(target: str) -> bool:
    """Unmount the top mount on target (lazily if busy); False if nothing is mounted there."""
    libc = _lib()
    if libc.umount2(_b(target), 0) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    if libc.umount2(_b(target), MNT_DETACH) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(err, f"umount {target}: {os.strerror(err)}")


def set_child_subreaper() -> None:
    """prctl(PR_SET_CHILD_SUBREAPER, 1): orphans in our subtree are reparented to us."""
    _check(_lib().prctl(36, 1, 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def mounted_under(path: str) -> list[str]:
    """Mount points at or below path (from /proc/self/mountinfo), outermost first."""
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            mp = line.split(b" ", 5)[4].decode("utf-8", "surrogateescape")
            mp = mp.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
            mp = mp.replace("\\134", "\\")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                out.append(mp)
    return out
