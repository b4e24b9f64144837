"""Airlock's warm-pool template (a zygote): imports the environment's heavy modules once,
then forks one child per request the pool will serve; each child makes itself a sandbox
and becomes the runner for exactly one request.

The template is jailed like any sandbox (its own user, mount, pid, net, ipc, uts and cgroup
namespaces on the read-only root; a seccomp allow-list) but stays root of its user
namespace so that it can build children, and never runs a request. The host sends it,
once on fd 3, the plan of a child: seccomp programs, Landlock rules and mounts, all
computed by the host (airlock-jail's zygote module). Then, on the unix socket at fd 5,
one message per child with the child's descriptors attached: report pipe, stdout,
stderr, channel in, channel out, and the files that join its cgroup.

A child, before it reads any byte of its request: joins its cgroup, keeps only its own
five descriptors, unshares mount, net, ipc, uts and cgroup namespaces (it is already pid 1
of a new pid namespace), replaces /tmp, /work, /dev/shm and /proc with its own, takes its
own host uid through a nested user namespace that shows it as the sandbox uid, drops
every capability, applies Landlock and the seccomp filters, and reports. Nothing here is
trusted by the host: it checks each child's state in /proc before handing it out.

Messages on the report pipe use the jail's format: a tag byte, a 4-byte little-endian
length, the payload. "L" ends a child's setup (payload: Landlock's enforcement), "E"
reports a failure ("layer\\0message"), "X" carries the wait status the template reaped.
"""

import ctypes
import fcntl
import gc
import importlib.util
import json
import os
import select
import socket
import struct
import sys

RUNNER_PATH = "/airlock/runner.py"
PLAN_FD = 3
CONTROL_FD = 5
REPORT_FD = 5  # where a child keeps its report pipe during setup

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x2000, 0x4000, 0x40000
MNT_DETACH = 0x2
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_SECCOMP, PR_CAP_AMBIENT = 4, 24, 22, 47
PR_CAP_AMBIENT_CLEAR_ALL, SECCOMP_MODE_FILTER = 4, 2
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_RULE_PATH_BENEATH = 1
SIOCSIFFLAGS, IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x8914, 0x1, 0x8, 0x40
LINUX_CAPABILITY_VERSION_3 = 0x20080522

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


class SetupError(Exception):
    def __init__(self, layer, message):
        super().__init__(message)
        self.layer = layer


def call(layer, what, result):
    if result < 0:
        errno = ctypes.get_errno()
        raise SetupError(layer, f"{what}: {os.strerror(errno)}")
    return result


def report(fd, tag, payload):
    os.write(fd, tag + struct.pack("<I", len(payload)) + payload)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class Plan:
    """The host's plan of a child, turned into ready-made ctypes objects once."""

    def __init__(self, plan):
        self.buffers = [ctypes.create_string_buffer(bytes.fromhex(h), len(h) // 2) for h in plan["seccomp"]]
        self.programs = [SockFprog(len(b) // 8, ctypes.addressof(b)) for b in self.buffers]
        self.landlock = plan.get("landlock")
        if self.landlock:
            ll = self.landlock
            self.landlock_attr = struct.pack("=QQQ", ll["handled_fs"], ll["handled_net"], ll["scoped"])
        self.mounts = plan["mounts"]
        self.sandbox_uid = plan["sandbox_uid"]
        with open("/proc/sys/kernel/cap_last_cap") as f:
            self.last_cap = int(f.read())


def mount(source, target, fstype, flags, data=None):
    encode = lambda s: None if s is None else s.encode()
    return libc.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def build_mounts(plan, uid):
    call("mounts", "make / private", mount(None, "/", None, MS_REC | MS_PRIVATE))
    for step in plan.mounts:
        op, target = step["op"], step.get("target")
        if op == "umount":
            call("mounts", f"detach {target}", libc.umount2(target.encode(), MNT_DETACH))
        elif op == "tmpfs":
            options = f"{step['options']},uid={uid},gid={uid}"
            call("mounts", f"mount tmpfs at {target}", mount("tmpfs", target, "tmpfs", step["flags"], options))
        elif op == "proc":
            call("mounts", "mount proc", mount("proc", target, "proc", step["flags"]))
        elif op == "move":
            call("mounts", f"move {step['from']} to {step['to']}", mount(step["from"], step["to"], None, MS_MOVE))
        elif op == "mask_file":
            if os.path.exists(target):
                call("mounts", f"mask {target}", mount("/dev/null", target, None, MS_BIND))
        elif op == "mask_dir":
            if os.path.isdir(target):
                call("mounts", f"mask {target}", mount("tmpfs", target, "tmpfs", step["flags"], step["options"]))
        elif op == "read_only":
            if os.path.exists(target):
                call("mounts", f"bind {target}", mount(target, target, None, MS_BIND | MS_REC))
                call("mounts", f"remount {target}", mount(None, target, None, MS_REMOUNT | MS_BIND | step["flags"]))
        else:
            raise SetupError("mounts", f"unknown mount step {op!r}")


def loopback_up():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14s", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING, b"")
        try:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, request)
        except OSError as error:
            raise SetupError("network", f"loopback up: {error}")


def become_sandbox_user(plan, uid):
    """Take the box's uid in the template's namespace, then a nested user namespace in
    which it shows as the sandbox uid (as in a cold sandbox)."""
    try:
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    except OSError as error:
        raise SetupError("uid_map", f"take uid {uid}: {error}")
    # Changing uid made the process non-dumpable, which hides /proc/self's map files.
    call("uid_map", "dumpable", libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
    call("uid_map", "unshare user", libc.unshare(CLONE_NEWUSER))
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{plan.sandbox_uid} {uid} 1"), ("gid_map", f"{plan.sandbox_uid} {uid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError as error:
        raise SetupError("uid_map", f"write {name}: {error}")


def drop_capabilities(plan):
    for cap in range(plan.last_cap + 1):
        call("capabilities", f"drop capability {cap} from the bounding set", libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
    call("capabilities", "clear ambient", libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
    header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()
    call("capabilities", "capset", libc.capset(ctypes.byref(header), data))


def apply_landlock(plan):
    ll = plan.landlock
    if not ll:
        return 2  # no Landlock on this kernel
    attr = plan.landlock_attr
    ruleset = call("landlock", "create ruleset", libc.syscall(SYS_LANDLOCK_CREATE_RULESET, attr, len(attr), 0))
    for path, access in ll["rules"]:
        try:
            parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError as error:
            raise SetupError("landlock", f"open {path}: {error}")
        rule = struct.pack("=Qi", access, parent)
        result = libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, 0)
        os.close(parent)
        call("landlock", f"rule for {path}", result)
    call("landlock", "restrict", libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0))
    os.close(ruleset)
    return ll["enforcement"]


def apply_seccomp(plan):
    for program in plan.programs:
        call("seccomp", "install filter", libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(program), 0, 0))


def place_descriptors(fds):
    """stdin /dev/null, stdout, stderr, channel in at 3, out at 4, the report pipe at 5;
    every other descriptor (the template's socket, other children's pipes) closed."""
    report_fd, out, err, chan_in, chan_out = fds[:5]
    null = os.open("/dev/null", os.O_RDONLY)
    raised = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd in (null, out, err, chan_in, chan_out, report_fd)]
    for target, fd in enumerate(raised):
        os.dup2(fd, target, inheritable=target < 5)
    os.closerange(6, 1 << 20)


def join_cgroup(joins):
    for join in joins:
        try:
            os.write(join, b"0")
        except OSError as error:
            raise SetupError("cgroup", f"join: {error}")


def become_sandbox(plan, params):
    """Make this process (pid 1 of its pid namespace, descriptors placed) a sandbox."""
    uid = params["uid"]
    if uid is None:
        uid = 0  # rootless: the caller's own uid, shared by every sandbox
    call("namespaces", "unshare", libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP))
    build_mounts(plan, uid)
    loopback_up()
    os.chdir("/work")
    become_sandbox_user(plan, uid)
    drop_capabilities(plan)
    enforcement = apply_landlock(plan)
    apply_seccomp(plan)
    call("fds", "not dumpable", libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
    report(REPORT_FD, b"L", bytes([enforcement]))
    os.close(REPORT_FD)


def child(plan, message, fds, runner):
    """The forked child: become a sandbox, then serve one request. Never returns."""
    report_fd = fds[0]
    try:
        join_cgroup(fds[5:])
        place_descriptors(fds)
        report_fd = REPORT_FD
        become_sandbox(plan, json.loads(message))
    except SetupError as error:
        report(report_fd, b"E", f"{error.layer}\0{error}".encode())
        os._exit(126)
    except BaseException as error:
        report(report_fd, b"E", f"zygote\0child setup: {type(error).__name__}: {error}".encode())
        os._exit(126)
    try:
        runner.serve(exec_forbidden=True)
    finally:
        os._exit(1)


def spawn(plan, own_pid_ns, message, fds, runner):
    """Fork a child as pid 1 of a new pid namespace. Returns (pid, report fd)."""
    report_fd = fds[0]
    try:
        call("namespaces", "unshare pid", libc.unshare(CLONE_NEWPID))
        pid = os.fork()
    except (OSError, SetupError) as error:
        libc.setns(own_pid_ns, CLONE_NEWPID)
        report(report_fd, b"E", f"zygote\0fork a child: {error}".encode())
        for fd in fds:
            os.close(fd)
        return None
    if pid == 0:
        child(plan, message, fds, runner)
    # Later children start in the template's own pid namespace again, then a new one.
    if libc.setns(own_pid_ns, CLONE_NEWPID) != 0:
        os._exit(70)
    for fd in fds[1:]:
        os.close(fd)
    return pid, report_fd


def load_runner():
    spec = importlib.util.spec_from_file_location("airlock_runner", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    runner = load_runner()
    plan = Plan(runner.read_request())
    runner.configure_matplotlib(os.environ.pop("AIRLOCK_FONT", None))
    runner.preload()
    channel = runner.Channel(runner.CHANNEL_FD)
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        # Forking a process with other threads can leave locks held forever in the child.
        channel.send({"type": "error", "message": f"the template has {threads} threads after its imports"})
        os._exit(70)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    control = socket.socket(fileno=CONTROL_FD)
    # What the imports allocated stays shared with every child instead of being copied
    # when the collector touches it.
    gc.collect()
    gc.freeze()
    channel.send({"type": "hello", "version": runner.PROTOCOL_VERSION, "zygote": True})
    children = {}  # pidfd -> (pid, report fd)
    while True:
        readable, _, _ = select.select([control] + list(children), [], [])
        for ready in readable:
            if ready is control:
                message, fds, _, _ = socket.recv_fds(control, 4096, 16)
                if not message:
                    os._exit(0)  # the host is gone
                if len(fds) < 6:
                    for fd in fds:
                        os.close(fd)
                    continue
                spawned = spawn(plan, own_pid_ns, message, fds, runner)
                if spawned:
                    children[os.pidfd_open(spawned[0])] = spawned
            else:
                pid, report_fd = children.pop(ready)
                os.close(ready)
                _, status = os.waitpid(pid, 0)
                try:
                    report(report_fd, b"X", struct.pack("<i", status))
                except OSError:
                    pass
                os.close(report_fd)


if __name__ == "__main__":
    main()
