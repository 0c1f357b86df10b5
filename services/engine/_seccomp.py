"""Seccomp: Docker's default profile, and Docker-format profiles as OCI `linux.seccomp`.

The default is a port of moby's profiles/seccomp/default.json: an allow-list
whose default action is SCMP_ACT_ERRNO with EPERM (errno 1), an architecture
map, and rules that apply only for some architectures, kernels or
capabilities (`includes` / `excludes`). `oci_profile` evaluates those
conditions for this host and the container's capability set, as dockerd's
setupSeccomp does, and returns the object runc reads.

`--security-opt seccomp=<file>` profiles take the same (Docker) format; OCI
profiles (`architectures` instead of `archMap`) are accepted as well.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterable
from typing import Any

from pallet import errors

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
EPERM = 1
ENOSYS = 38

# Go architecture names (what `includes.arches` uses) by uname machine.
_GOARCH = {
    "x86_64": "amd64", "amd64": "amd64", "i386": "386", "i686": "386", "aarch64": "arm64",
    "arm64": "arm64", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
    "riscv64": "riscv64", "mips64": "mips64", "mips64el": "mips64le", "loongarch64": "loong64",
}
# libseccomp architecture by Go architecture.
_SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64", "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
}

_ARCH_MAP = [
    ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
    ("SCMP_ARCH_MIPS64", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
    ("SCMP_ARCH_MIPS64N32", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
    ("SCMP_ARCH_MIPSEL64", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
    ("SCMP_ARCH_MIPSEL64N32", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
    ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", []),
]

# Allowed for every container.
_ALLOWED_TEXT = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl
fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32
getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4
waitid waitpid write writev
"""
_ALLOWED = _ALLOWED_TEXT.split()

# CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET:
# clone without any of these namespace flags is allowed to everyone.
_CLONE_NS_FLAGS = 0x7E020000


def _rule(names: str, action: str = ALLOW, *, args: list[dict[str, Any]] | None = None,
          caps: Iterable[str] = (), arches: Iterable[str] = (), min_kernel: str = "",
          not_caps: Iterable[str] = (), not_arches: Iterable[str] = (),
          errno: int | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"names": names.split(), "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = args
    includes = {k: v for k, v in (("caps", list(caps)), ("arches", list(arches)),
                                  ("minKernel", min_kernel)) if v}
    excludes = {k: v for k, v in (("caps", list(not_caps)), ("arches", list(not_arches))) if v}
    if includes:
        rule["includes"] = includes
    if excludes:
        rule["excludes"] = excludes
    return rule


def _arg(index: int, value: int, op: str) -> dict[str, Any]:
    return {"index": index, "value": value, "op": op}


def default_profile() -> dict[str, Any]:
    """Docker's default profile, in Docker's profile format."""
    personality = [_rule("personality", args=[_arg(0, v, "SCMP_CMP_EQ")])
                   for v in (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)]
    return {
        "defaultAction": ERRNO,
        "defaultErrnoRet": EPERM,
        "archMap": [{"architecture": a, "subArchitectures": subs} for a, subs in _ARCH_MAP],
        "syscalls": [
            {"names": list(_ALLOWED), "action": ALLOW},
            _rule("process_vm_readv process_vm_writev ptrace", min_kernel="4.8"),
            _rule("socket", args=[_arg(0, 40, "SCMP_CMP_NE")]),  # no AF_VSOCK
            *personality,
            _rule("sync_file_range2 swapcontext", arches=["ppc64le"]),
            _rule("arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
                  arches=["arm", "arm64"]),
            _rule("arch_prctl", arches=["amd64", "x32"]),
            _rule("modify_ldt", arches=["amd64", "x32", "x86"]),
            _rule("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", arches=["s390", "s390x"]),
            _rule("riscv_flush_icache", arches=["riscv64"]),
            _rule("open_by_handle_at", caps=["CAP_DAC_READ_SEARCH"]),
            _rule("bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount "
                  "mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname "
                  "sethostname setns syslog umount umount2 unshare", caps=["CAP_SYS_ADMIN"]),
            _rule("clone", args=[_arg(0, _CLONE_NS_FLAGS, "SCMP_CMP_MASKED_EQ")],
                  not_caps=["CAP_SYS_ADMIN"], not_arches=["s390", "s390x"]),
            _rule("clone", args=[_arg(1, _CLONE_NS_FLAGS, "SCMP_CMP_MASKED_EQ")],
                  arches=["s390", "s390x"], not_caps=["CAP_SYS_ADMIN"]),
            # clone3 passes its flags in a struct seccomp cannot see: ENOSYS makes libc fall back to clone.
            _rule("clone3", ERRNO, errno=ENOSYS, not_caps=["CAP_SYS_ADMIN"]),
            _rule("reboot", caps=["CAP_SYS_BOOT"]),
            _rule("chroot", caps=["CAP_SYS_CHROOT"]),
            _rule("delete_module init_module finit_module", caps=["CAP_SYS_MODULE"]),
            _rule("acct", caps=["CAP_SYS_PACCT"]),
            _rule("kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
                  caps=["CAP_SYS_PTRACE"]),
            _rule("iopl ioperm", caps=["CAP_SYS_RAWIO"]),
            _rule("settimeofday stime clock_settime clock_settime64", caps=["CAP_SYS_TIME"]),
            _rule("vhangup", caps=["CAP_SYS_TTY_CONFIG"]),
            _rule("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", caps=["CAP_SYS_NICE"]),
            _rule("syslog", caps=["CAP_SYSLOG"]),
            _rule("bpf", caps=["CAP_BPF"]),
            _rule("perf_event_open", caps=["CAP_PERFMON"]),
        ],
    }


def native_arch() -> str:
    """This host's Go architecture name (amd64, arm64, ...)."""
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def kernel_version(release: str | None = None) -> tuple[int, int]:
    rel = release if release is not None else os.uname().release
    parts = (rel.split("-")[0].split(".") + ["0", "0"])[:2]
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except ValueError:
        return 0, 0


def _parse_kernel(text: str) -> tuple[int, int]:
    v = kernel_version(text)
    if v == (0, 0):
        raise errors.InvalidArgument(f"seccomp profile: invalid minKernel {text!r}")
    return v


def oci_profile(profile: dict[str, Any], caps: Iterable[str], arch: str | None = None,
                kernel: tuple[int, int] | None = None) -> dict[str, Any]:
    """The OCI linux.seccomp object for a Docker-format profile and a capability set."""
    if not isinstance(profile, dict):
        raise errors.InvalidArgument("seccomp profile must be a JSON object")
    goarch = arch or native_arch()
    kver = kernel or kernel_version()
    capset = set(caps)
    scmp_arch = _SCMP_ARCH.get(goarch, "")
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction") or ERRNO}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    arches: list[str] = list(profile.get("architectures") or [])
    if profile.get("archMap") and arches:
        raise errors.InvalidArgument("seccomp profile: use either 'architectures' or 'archMap'")
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == scmp_arch:
            arches = [scmp_arch, *(entry.get("subArchitectures") or [])]
    if arches:
        out["architectures"] = arches
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    syscalls = []
    for call in profile.get("syscalls") or []:
        if not isinstance(call, dict):
            raise errors.InvalidArgument("seccomp profile: each syscalls entry must be an object")
        names = list(call.get("names") or [])
        if call.get("name"):
            if names:
                raise errors.InvalidArgument("seccomp profile: use either 'name' or 'names', not both")
            names = [call["name"]]
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if inc.get("caps") and not all(c in capset for c in inc["caps"]):
            continue
        if inc.get("minKernel") and kver < _parse_kernel(inc["minKernel"]):
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        if exc.get("caps") and any(c in capset for c in exc["caps"]):
            continue
        if exc.get("minKernel") and kver >= _parse_kernel(exc["minKernel"]):
            continue
        rule: dict[str, Any] = {"names": names, "action": call.get("action") or ALLOW}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = int(call["errnoRet"])
        if call.get("args"):
            rule["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                            for a in call["args"]]
        syscalls.append(rule)
    out["syscalls"] = syscalls
    return out


def load(text: str) -> dict[str, Any]:
    """A profile given as JSON text (what the CLI sends for seccomp=<file>)."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise errors.InvalidArgument(f"decoding seccomp profile failed: {exc}") from None
    if not isinstance(profile, dict):
        raise errors.InvalidArgument("decoding seccomp profile failed: not a JSON object")
    return profile
