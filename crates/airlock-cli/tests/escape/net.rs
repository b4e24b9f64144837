//! NET: with no network granted, the code reaches no address.
//! Oracles: loopback listeners the test binds on the host (TCP on 127.0.0.1 and ::1,
//! UDP, abstract and path unix sockets) see nothing; a route lookup inside the sandbox
//! (UDP `connect`, which sends no packet) finds no route. Nothing here sends traffic
//! anywhere but loopback: the only non-loopback addresses appear in UDP `connect` calls
//! inside the sandbox.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::time::Duration;

use crate::common::{bare_python, run_json, Run};
use crate::{
    assert_bare_ran, assert_no_line_with, assert_printed, assert_ran, fill, lines_with, marker, py,
    py_bool, run_probe, spawn_run, TcpTrap, TempDir, UdpTrap, TRAP_WAIT,
};

/// Shared by the probes below (which import `errno`): `attempt` prints whether a dial got
/// through (`REACHED how`) or failed (`FAILED how ERRNO`).
const ATTEMPT: &str = r#"def attempt(how, f):
    try:
        f()
        print("REACHED", how)
    except OSError as e:
        print("FAILED", how, errno.errorcode.get(e.errno, e))"#;

/// Dials the host's loopback listeners every way it can.
const DIAL: &str = r#"
import errno, socket
TCP4, TCP6, UDP4, ABSTRACT, PATH = @TCP4@, @TCP6@, @UDP4@, @ABSTRACT@, @PATH@
@ATTEMPT@
def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(addr)
    s.sendall(b"hello")
for host in ["127.0.0.1", "127.1.2.3", "localhost", "0.0.0.0"]:
    attempt("tcp %s" % host, lambda: tcp(socket.AF_INET, (host, TCP4)))
if TCP6:
    attempt("tcp6 ::1", lambda: tcp(socket.AF_INET6, ("::1", TCP6)))
    attempt("tcp6 mapped", lambda: tcp(socket.AF_INET6, ("::ffff:127.0.0.1", TCP4)))
def udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(3):
        s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", addr)
for host in ["127.0.0.1", "127.255.255.254"]:
    attempt("udp %s" % host, lambda: udp((host, UDP4)))
def unix(addr):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(addr)
    s.sendall(b"hello")
if ABSTRACT:
    attempt("abstract", lambda: unix("\0" + ABSTRACT))
if PATH:
    attempt("path", lambda: unix(PATH))
print("PROBE-RAN")
"#;

#[derive(Default)]
struct Targets {
    tcp4: Option<u16>,
    tcp6: Option<u16>,
    udp4: Option<u16>,
    abstract_name: Option<String>,
    path: Option<String>,
}

fn dial(t: &Targets) -> String {
    let opt_port = |p: Option<u16>| p.map_or("None".into(), |p| p.to_string());
    let opt_str = |s: &Option<String>| s.as_ref().map_or("None".into(), py);
    fill(
        DIAL,
        &[
            ("TCP4", t.tcp4.unwrap_or(9).to_string()),
            ("TCP6", opt_port(t.tcp6)),
            ("UDP4", t.udp4.unwrap_or(9).to_string()),
            ("ABSTRACT", opt_str(&t.abstract_name)),
            ("PATH", opt_str(&t.path)),
            ("ATTEMPT", ATTEMPT.to_string()),
        ],
    )
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_loopback_tcp_listeners_see_nothing() {
    require_root!();
    let v4 = TcpTrap::v4();
    let v6 = TcpTrap::v6();
    let targets = Targets {
        tcp4: Some(v4.port),
        tcp6: v6.as_ref().map(|t| t.port),
        ..Default::default()
    };
    let run = run_probe(&dial(&targets), &[]);
    assert!(!v4.saw_connection(TRAP_WAIT), "{}", run.stdout());
    if let Some(v6) = v6 {
        assert!(!v6.saw_connection(TRAP_WAIT), "{}", run.stdout());
    }
    assert_no_line_with(&run, "REACHED tcp");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_loopback_udp_sees_nothing() {
    require_root!();
    let trap = UdpTrap::bind("127.0.0.1:0").unwrap();
    let tcp = TcpTrap::v4();
    let targets = Targets {
        tcp4: Some(tcp.port),
        udp4: Some(trap.port),
        ..Default::default()
    };
    let run = run_probe(&dial(&targets), &[]);
    assert!(!trap.saw_datagram(TRAP_WAIT), "{}", run.stdout());
}

/// A unix listener on the host, abstract or at a path: did anyone connect?
struct UnixTrap {
    listener: UnixListener,
}

impl UnixTrap {
    fn saw_connection(&self, wait: Duration) -> bool {
        crate::poll(wait, Duration::from_millis(10), || {
            self.listener.accept().is_ok()
        })
    }
}

fn abstract_trap() -> (UnixTrap, String) {
    let name = format!("airlock-escape-{}", marker());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    (UnixTrap { listener }, name)
}

fn path_trap(dir: &TempDir) -> (UnixTrap, String) {
    let granted = dir.join("granted");
    std::fs::create_dir(&granted).unwrap();
    let path = granted.join("service.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    // World-writable, as many real service sockets are (dbus, X11): only the sandbox
    // can keep the code from connecting.
    crate::chmod(&path, 0o777);
    (UnixTrap { listener }, path.to_str().unwrap().to_string())
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn host_abstract_unix_socket_sees_nothing() {
    require_root!();
    let (trap, name) = abstract_trap();
    let tcp = TcpTrap::v4();
    let targets = Targets {
        tcp4: Some(tcp.port),
        abstract_name: Some(name),
        ..Default::default()
    };
    let run = run_probe(&dial(&targets), &[]);
    assert!(!trap.saw_connection(TRAP_WAIT), "{}", run.stdout());
    assert_printed(&run, "FAILED abstract");
}

/// A socket inside a directory granted read-only: reading a directory must not mean
/// talking to the services whose sockets live there.
///
/// Only Landlock can stop this (a read-only mount does not cover `connect`), and only
/// from ABI 9 (Linux 7.1) on; where the build machine's kernel is older the test is
/// ignored with that reason (see build.rs), and README and `airlock doctor` state the limit.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
#[cfg_attr(
    landlock_below_9,
    ignore = "KNOWN LIMIT: this kernel's Landlock ABI is below 9, which cannot refuse connect() to a pathname socket inside a read grant"
)]
fn host_unix_socket_in_a_read_grant_sees_nothing() {
    require_root!();
    let dir = TempDir::new("net-unix-grant");
    let (trap, path) = path_trap(&dir);
    let tcp = TcpTrap::v4();
    let targets = Targets {
        tcp4: Some(tcp.port),
        path: Some(path.clone()),
        ..Default::default()
    };
    let granted = std::path::Path::new(&path).parent().unwrap();
    let run = run_probe(
        &dial(&targets),
        &["--allow-read", granted.to_str().unwrap()],
    );
    assert!(!trap.saw_connection(TRAP_WAIT), "{}", run.stdout());
}

/// The twin: unsandboxed, the same probe reaches every one of the listeners.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_bare_python_reaches_every_listener() {
    require_root!();
    let dir = TempDir::new("net-twin");
    let v4 = TcpTrap::v4();
    let v6 = TcpTrap::v6();
    let udp = UdpTrap::bind("127.0.0.1:0").unwrap();
    let (abs, name) = abstract_trap();
    let (path, sock) = path_trap(&dir);
    let targets = Targets {
        tcp4: Some(v4.port),
        tcp6: v6.as_ref().map(|t| t.port),
        udp4: Some(udp.port),
        abstract_name: Some(name),
        path: Some(sock),
    };
    let text = assert_bare_ran(&bare_python(&dial(&targets)));
    assert!(v4.saw_connection(TRAP_WAIT), "{text}");
    if let Some(v6) = v6 {
        assert!(v6.saw_connection(TRAP_WAIT), "{text}");
    }
    assert!(udp.saw_datagram(TRAP_WAIT), "{text}");
    assert!(abs.saw_connection(TRAP_WAIT), "{text}");
    assert!(path.saw_connection(TRAP_WAIT), "{text}");
}

/// Route lookups only: UDP `connect` picks a route and sends nothing.
const ROUTES: &str = r#"
import errno, os, socket
def route(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect((addr, 53))
        print("ROUTE", addr, "FOUND", s.getsockname()[0])
    except OSError as e:
        print("ROUTE", addr, errno.errorcode.get(e.errno, e.errno))
for addr in ["10.0.0.1", "169.254.169.254", "192.168.0.1", "172.16.0.1", "100.64.0.1", "192.0.2.1"]:
    route(socket.AF_INET, addr)
for addr in ["2001:db8::1", "fd00::1"]:
    route(socket.AF_INET6, addr)
print("ROUTES", open("/proc/net/route").read().count("\n") - 1)
print("IFACES", sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else [n for _, n in socket.if_nameindex()])
print("RESOLV", os.path.exists("/etc/resolv.conf"))
print("PROBE-RAN")
"#;

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn no_route_to_gateway_metadata_or_anywhere() {
    require_root!();
    let run: Run = run_probe(ROUTES, &[]);
    let routes = lines_with(run.stdout(), "ROUTE ");
    assert_eq!(routes.len(), 8, "{}", run.stdout());
    assert!(
        routes.iter().all(|l| l.ends_with("ENETUNREACH")),
        "a route out exists: {routes:#?}"
    );
    assert_printed(&run, "ROUTES 0");
    assert_printed(&run, "IFACES ['lo']");
}

/// Another tenant listening: an abstract stream socket, an abstract datagram socket and
/// a UDP port on its loopback; counts whatever reaches it. (Its own report is the
/// oracle: it is a second sandbox, not the attacker.)
const LISTENER: &str = r#"
import os, select, socket, threading, time
A, P, READY, WAIT, ATTACK_HERE = @ABSTRACT@, @PORT@, @READY@, @WAIT@, @ATTACK_HERE@
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + A + "-stream")
s.listen()
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d.bind("\0" + A + "-dgram")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", P))
name_thread(READY)
if ATTACK_HERE:
    threading.Thread(target=lambda: exec(ATTACK, {"A": A, "P": P})).start()
contacts = 0
end = time.time() + WAIT
while time.time() < end:
    ready, _, _ = select.select([s, d, u], [], [], 0.05)
    for x in ready:
        if x is s:
            x.accept()
        else:
            x.recv(4096)
        contacts += 1
print("CONTACTS", contacts)
print("PROBE-RAN")
"#;

/// Dials the other tenant's sockets by name and port (through [`attack`]).
const ATTACK: &str = r#"
import errno, socket
@ATTEMPT@
def stream():
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect("\0" + A + "-stream")
attempt("abstract stream", stream)
attempt("abstract dgram", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", "\0" + A + "-dgram"))
attempt("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", P)))
"#;

/// The ATTACK code, [`ATTEMPT`] filled in.
fn attack() -> String {
    fill(ATTACK, &[("ATTEMPT", ATTEMPT.to_string())])
}

fn listener(name: &str, port: u16, ready: &str, wait: f64, attack_here: bool) -> String {
    format!(
        "{}\nATTACK = {}\n{}",
        crate::NAME_THREAD,
        py(attack()),
        fill(
            LISTENER,
            &[
                ("ABSTRACT", py(name)),
                ("PORT", port.to_string()),
                ("READY", py(ready)),
                ("WAIT", wait.to_string()),
                ("ATTACK_HERE", py_bool(attack_here)),
            ],
        )
    )
}

fn tenant_port() -> u16 {
    40000 + (std::process::id() % 20000) as u16
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn another_tenant_s_sockets_are_unreachable() {
    require_root!();
    let (name, ready) = (marker(), marker());
    let port = tenant_port();
    let code = listener(&name, port, &ready, 3.0, false);
    let victim = spawn_run(code, &["--timeout", "20"]);
    assert!(crate::wait_for_thread(&ready, Duration::from_secs(10)));
    let attack = format!(
        "A, P = {}, {}\n{}\nprint('PROBE-RAN')",
        py(&name),
        port,
        attack()
    );
    let attacker = run_json(&attack, &[]);
    let victim = victim.join().unwrap();
    assert_ran(&attacker);
    assert_ran(&victim);
    assert!(
        victim.stdout().contains("CONTACTS 0"),
        "another tenant was reached: {}\n{}",
        victim.stdout(),
        attacker.stdout()
    );
}

/// The twin: the same attack from inside the listener's own sandbox (the same
/// namespaces, i.e. no isolation between them) is counted.
#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn twin_attack_within_one_sandbox_is_counted() {
    require_root!();
    let code = listener(&marker(), tenant_port(), &marker(), 1.5, true);
    let run = run_probe(&code, &[]);
    assert_printed(&run, "CONTACTS 3");
}
