//! KERNEL: the code reaches no kernel surface a program does not need. Each call is made
//! through `syscall(2)` with harmless arguments, in a forked child so a success cannot
//! disturb the probe. Oracle: the call fails with ENOSYS (the seccomp allow-list) or
//! EPERM, or the process is killed; an EINVAL/EFAULT/ENOTTY would mean the kernel
//! looked at the arguments, i.e. the surface was reached.

use crate::common::bare_python;
use crate::{assert_bare_ran, fill, lines_with, run_probe, Run};

/// Runs every `(name, number, args)` of CALLS in its own child; prints
/// `CALL name rc ERRNO` or `CALL name killed SIG`.
const SYSCALLS: &str = r#"
import ctypes, errno, os, struct
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def BUF(b):
    return ctypes.create_string_buffer(b, len(b))
def CLONE_ARGS(flags):
    # struct clone_args, first version (64 bytes): flags, pidfd, child_tid, parent_tid,
    # exit_signal (SIGCHLD), stack, stack_size, tls.
    return BUF(struct.pack("<8Q", flags, 0, 0, 0, 17, 0, 0, 0))
CALLS = @CALLS@
for name, nr, args in CALLS:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        ctypes.set_errno(0)
        rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
        e = ctypes.get_errno()
        os.write(w, ("%d %s\n" % (rc, errno.errorcode.get(e, e) if rc < 0 else "-")).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 200)
        if not chunk:
            break
        out += chunk
    os.close(r)
    _, st = os.waitpid(pid, 0)
    if out:
        for line in out.decode().splitlines():
            print("CALL", name, line)
    elif os.WIFSIGNALED(st):
        print("CALL", name, "killed", os.WTERMSIG(st))
    else:
        print("CALL", name, "silent", st)
print("PROBE-RAN")
"#;

/// How one call ended, from a `CALL` line: `Ok(())` when the kernel surface was not
/// reached (ENOSYS, EPERM, killed), else what happened.
fn blocked(line: &str) -> Result<(), String> {
    let mut parts = line.split_whitespace();
    let name = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (Some("killed"), Some(_)) => Ok(()),
        (Some(rc), Some(err)) if rc.starts_with('-') && (err == "ENOSYS" || err == "EPERM") => {
            Ok(())
        }
        _ => Err(format!("{name}: {line}")),
    }
}

/// Panic naming every `CALL` line (prefix removed) that reached the kernel.
#[track_caller]
fn assert_none_reached(lines: &[&str]) {
    let reached: Vec<String> = lines.iter().filter_map(|l| blocked(l).err()).collect();
    assert!(reached.is_empty(), "kernel surface reached: {reached:#?}");
}

fn probe(calls: &str) -> String {
    fill(SYSCALLS, &[("CALLS", calls.to_string())])
}

/// Run the calls in the sandbox; panic naming every call that reached the kernel.
#[track_caller]
fn assert_all_blocked(calls: &str) -> Run {
    let run = run_probe(&probe(calls), &[]);
    let lines = lines_with(run.stdout(), "CALL ");
    let expected = calls.matches("(\"").count();
    assert!(
        lines.len() >= expected,
        "only {} of {expected} calls reported: {}",
        lines.len(),
        run.stdout()
    );
    assert_none_reached(&lines);
    run
}

const TRACING: &str = r#"[
    ("ptrace_traceme", 101, [0, 0, 0, 0]),
    ("ptrace_attach_init", 101, [16, 1, 0, 0]),
    ("ptrace_seize_parent", 101, [0x4206, os.getppid(), 0, 0]),
    ("process_vm_readv", 310, [1, 0, 0, 0, 0, 0]),
    ("process_vm_writev", 311, [1, 0, 0, 0, 0, 0]),
    ("kcmp", 312, [1, 1, 0, 0, 0]),
    ("pidfd_getfd", 438, [-1, 0, 0]),
    ("bpf_prog_load", 321, [5, 0, 0]),
    ("bpf_map_create", 321, [0, 0, 0]),
    ("perf_event_open", 298, [0, 0, -1, -1, 0]),
    ("userfaultfd", 323, [0]),
    ("keyctl_get_session", 250, [0, -3, 0]),
    ("add_key", 248, [b"user", b"airlock", 0, 0, -3]),
    ("request_key", 249, [b"user", b"airlock", 0, 0]),
    ("io_uring_setup", 425, [1, 0]),
    ("io_uring_enter", 426, [-1, 0, 0, 0, 0, 0]),
    ("io_uring_register", 427, [-1, 0, 0, 0]),
    ("fanotify_init", 300, [0, 0]),
    ("process_madvise", 440, [-1, 0, 0, 0, 0]),
    ("memfd_secret", 447, [0]),
]"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn tracing_bpf_perf_userfaultfd_keyrings_and_io_uring_are_refused() {
    require_root!();
    assert_all_blocked(TRACING);
}

const NAMESPACES_AND_MOUNTS: &str = r#"[
    ("unshare_user", 272, [0x10000000]),
    ("unshare_mount", 272, [0x00020000]),
    ("unshare_pid", 272, [0x20000000]),
    ("unshare_net", 272, [0x40000000]),
    ("unshare_uts", 272, [0x04000000]),
    ("unshare_ipc", 272, [0x08000000]),
    ("unshare_cgroup", 272, [0x02000000]),
    ("unshare_time", 272, [0x00000080]),
    ("setns", 308, [-1, 0]),
    ("mount_tmpfs", 165, [b"none", b"/tmp", b"tmpfs", 0, 0]),
    ("mount_remount_root_rw", 165, [0, b"/", 0, 32 | 4096, 0]),
    ("umount2_proc", 166, [b"/proc", 2]),
    ("pivot_root", 155, [b"/tmp", b"/tmp"]),
    ("chroot", 161, [b"/tmp"]),
    ("fsopen", 430, [b"tmpfs", 0]),
    ("fsconfig", 431, [-1, 0, 0, 0, 0]),
    ("fsmount", 432, [-1, 0, 0]),
    ("fspick", 433, [-100, b"/", 0]),
    ("move_mount", 429, [-1, b"", -100, b"/tmp", 0]),
    ("open_tree_clone", 428, [-100, b"/", 1]),
    ("mount_setattr", 442, [-100, b"/", 0, 0, 0]),
    ("clone_newuser", 56, [0x10000000 | 17, 0, 0, 0, 0]),
    ("clone_newuser_high_bits", 56, [(1 << 32) | 0x10000000 | 17, 0, 0, 0, 0]),
    ("clone_newns", 56, [0x00020000 | 17, 0, 0, 0, 0]),
    ("clone_newpid", 56, [0x20000000 | 17, 0, 0, 0, 0]),
    ("clone_newnet", 56, [0x40000000 | 17, 0, 0, 0, 0]),
    ("clone_newcgroup", 56, [0x02000000 | 17, 0, 0, 0, 0]),
    ("clone_newtime", 56, [0x00000080 | 17, 0, 0, 0, 0]),
    ("clone3_newuser", 435, [CLONE_ARGS(0x10000000), 64]),
    ("clone3_plain", 435, [CLONE_ARGS(0), 64]),
]"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn namespace_mount_and_clone_flag_escapes_are_refused() {
    require_root!();
    assert_all_blocked(NAMESPACES_AND_MOUNTS);
}

const ADMIN: &str = r#"[
    ("init_module", 175, [0, 0, b""]),
    ("finit_module", 313, [-1, b"", 0]),
    ("delete_module", 176, [b"airlock_no_such_module", 0x800]),
    ("kexec_load", 246, [0, 0, 0, 0]),
    ("kexec_file_load", 320, [-1, -1, 0, 0, 0]),
    ("reboot_bad_magic", 169, [0, 0, 0, 0]),
    ("swapon", 167, [0, 0]),
    ("swapoff", 168, [0]),
    ("acct", 163, [0]),
    ("iopl", 172, [0]),
    ("ioperm", 173, [0, 0, 0]),
    ("syslog_size", 103, [10, 0, 0]),
    ("quotactl", 179, [0, 0, 0, 0]),
    ("settimeofday", 164, [0, 0]),
    ("clock_settime", 227, [-1, 0]),
    ("adjtimex", 159, [0]),
    ("personality_linux32", 135, [0x0008]),
    ("personality_no_aslr", 135, [0x0040000]),
    ("vhangup", 153, []),
    ("sethostname", 170, [b"x", 1]),
    ("setdomainname", 171, [b"x", 1]),
    ("uselib", 134, [0]),
    ("sysctl", 156, [0]),
    ("nr_1000", 1000, []),
]"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn modules_kexec_and_administration_calls_are_refused() {
    require_root!();
    assert_all_blocked(ADMIN);
}

/// Address families a Python program without network never needs; raw IP sockets
/// (allowed families, refused by the kernel for want of CAP_NET_RAW); and a family
/// with bits above the 32 the kernel reads.
const SOCKETS: &str = r#"[
    ("packet", 41, [17, 3, 0]),
    ("packet_high_bits", 41, [(1 << 32) | 17, 3, 0]),
    ("netlink_audit", 41, [16, 3, 9]),
    ("netlink_uevent", 41, [16, 3, 15]),
    ("netlink_netfilter", 41, [16, 3, 12]),
    ("netlink_generic", 41, [16, 3, 16]),
    ("netlink_sock_diag", 41, [16, 3, 4]),
    ("netlink_xfrm", 41, [16, 3, 6]),
    ("vsock", 41, [40, 1, 0]),
    ("alg", 41, [38, 5, 0]),
    ("key", 41, [15, 3, 2]),
    ("xdp", 41, [44, 3, 0]),
    ("bluetooth", 41, [31, 3, 0]),
    ("can", 41, [29, 3, 1]),
    ("tipc", 41, [30, 2, 0]),
    ("rds", 41, [21, 5, 0]),
    ("llc", 41, [26, 2, 0]),
    ("x25", 41, [9, 5, 0]),
    ("ax25", 41, [3, 2, 0]),
    ("appletalk", 41, [5, 2, 0]),
    ("pppox", 41, [24, 1, 0]),
    ("nfc", 41, [39, 2, 0]),
    ("qipcrtr", 41, [42, 2, 0]),
    ("smc", 41, [43, 1, 0]),
    ("mctp", 41, [45, 2, 0]),
    ("phonet", 41, [35, 2, 0]),
    ("ieee802154", 41, [36, 2, 0]),
    ("caif", 41, [37, 1, 0]),
    ("rxrpc", 41, [33, 2, 2]),
    ("kcm", 41, [41, 2, 0]),
    ("inet_raw", 41, [2, 3, 1]),
    ("inet6_raw", 41, [10, 3, 58]),
    ("inet_packet_type", 41, [2, 10, 0]),
    ("socketpair_inet", 53, [2, 1, 0, BUF(b"\0" * 8)]),
    ("socketpair_netlink", 53, [16, 3, 0, BUF(b"\0" * 8)]),
]"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn exotic_socket_families_are_refused() {
    require_root!();
    assert_all_blocked(SOCKETS);
}

/// TIOCSTI (0x5412) and TIOCLINUX (0x541C), also with high bits set (the kernel takes
/// the command as 32 bits). stdin is /dev/null: a kernel that got the call would say
/// ENOTTY, the filter says ENOSYS.
const TTY_IOCTLS: &str = r#"[
    ("tiocsti", 16, [0, 0x5412, BUF(b"x")]),
    ("tiocsti_high_bits", 16, [0, (1 << 32) | 0x5412, BUF(b"x")]),
    ("tiocsti_all_high_bits", 16, [0, (0xffffffff << 32) | 0x5412, BUF(b"x")]),
    ("tiocsti_stdout", 16, [1, 0x5412, BUF(b"x")]),
    ("tioclinux", 16, [0, 0x541C, BUF(b"\x0c")]),
    ("tioclinux_high_bits", 16, [0, (1 << 40) | 0x541C, BUF(b"\x0c")]),
]"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn terminal_injection_ioctls_are_refused_even_with_high_bits() {
    require_root!();
    assert_all_blocked(TTY_IOCTLS);
}

/// The other system call entries: x32 numbers and `int 0x80` (i386 getpid, 20, and
/// i386 ptrace, 26), from machine code in an anonymous executable mapping.
const ENTRIES: &str = r#"
import ctypes, errno, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for name, nr in [("x32_getpid", 0x40000000 | 39), ("x32_ptrace", 0x40000000 | 521),
                 ("x32_unshare", 0x40000000 | 272)]:
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
    print("CALL", name, rc, errno.errorcode.get(ctypes.get_errno(), "-") if rc < 0 else "-")
def int80(nr):
    # mov eax, nr; xor ebx, ebx; int 0x80; ret
    code = b"\xb8" + nr.to_bytes(4, "little") + b"\x31\xdb\xcd\x80\xc3"
    buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
for name, nr in [("int80_getpid", 20), ("int80_ptrace_traceme", 26)]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        rc = int80(nr)
        os.write(w, ("%d %s\n" % (rc, errno.errorcode.get(-rc, "-") if rc < 0 else "-")).encode())
        os._exit(0)
    os.close(w)
    _, st = os.waitpid(pid, 0)
    out = os.read(r, 100).decode().strip()
    print("CALL", name, out if out else "killed %d" % os.WTERMSIG(st))
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn x32_and_int80_entries_are_refused() {
    require_root!();
    let run = run_probe(ENTRIES, &[]);
    let lines = lines_with(run.stdout(), "CALL ");
    assert_eq!(lines.len(), 5, "{}", run.stdout());
    assert_none_reached(&lines);
}

/// The twin: unsandboxed, harmless calls of the same families reach the kernel, and
/// the `blocked` oracle says so. (Only calls safe on the host: they create a throwaway
/// user namespace or trace relationship in a child that exits, or fail on arguments.)
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_reaches_the_kernel_surface() {
    require_root!();
    let calls = r#"[
    ("ptrace_traceme", 101, [0, 0, 0, 0]),
    ("userfaultfd", 323, [0]),
    ("keyctl_get_session", 250, [0, -3, 0]),
    ("unshare_user", 272, [0x10000000]),
    ("bpf_prog_load", 321, [5, 0, 0]),
    ("perf_event_open", 298, [0, 0, -1, -1, 0]),
    ("io_uring_setup", 425, [1, 0]),
    ("netlink_audit", 41, [16, 3, 9]),
    ("tiocsti", 16, [0, 0x5412, BUF(b"x")]),
    ("tiocsti_high_bits", 16, [0, (1 << 32) | 0x5412, BUF(b"x")]),
]"#;
    let text = assert_bare_ran(&bare_python(&probe(calls)));
    let reached: Vec<&str> = lines_with(&text, "CALL ")
        .into_iter()
        .filter(|l| blocked(l).is_err())
        .collect();
    for name in [
        "ptrace_traceme",
        "userfaultfd",
        "unshare_user",
        "bpf_prog_load",
        "tiocsti ",
        "tiocsti_high_bits",
    ] {
        assert!(
            reached.iter().any(|l| l.starts_with(name)),
            "unsandboxed, {name} must reach the kernel: {text}"
        );
    }
    let entries = assert_bare_ran(&bare_python(ENTRIES));
    assert!(
        lines_with(&entries, "CALL int80_getpid ")
            .iter()
            .all(|l| blocked(&format!("int80_getpid {l}")).is_err()),
        "unsandboxed, int 0x80 getpid returns a pid: {entries}"
    );
}
