//! The sandbox's filesystem, as an ordered list of steps computed from a [`JailSpec`].
//!
//! Computing the plan is pure (no kernel calls), so the layout is unit-tested without
//! root; `child.rs` executes the steps under the new root before `pivot_root`.

use std::path::{Path, PathBuf};

use crate::spec::{JailSpec, Network, HOSTNAME, SANDBOX_UID, WORKDIR};

/// Host device nodes bound into the sandbox's /dev.
pub const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// /proc entries hidden behind /dev/null, as container runtimes do.
const PROC_MASKED_FILES: [&str; 10] = [
    "kcore",
    "keys",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "latency_stats",
    "sysrq-trigger",
    "kallsyms",
    "kmsg",
    // The same in every sandbox: it would identify the host and show tenants share it.
    "sys/kernel/random/boot_id",
];
/// /proc directories hidden behind an empty read-only tmpfs.
const PROC_MASKED_DIRS: [&str; 4] = ["acpi", "scsi", "asound", "firmware"];
/// /proc subtrees made read-only.
const PROC_READONLY: [&str; 4] = ["sys", "bus", "fs", "irq"];

/// Where a bind's source comes from: an index into the spec's binds, or a host device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Bind(usize),
    Device(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Mount a tmpfs; `size` in bytes; `exec` false adds noexec.
    Tmpfs {
        target: PathBuf,
        size: u64,
        mode: u32,
        exec: bool,
    },
    Symlink {
        link: PathBuf,
        points_to: PathBuf,
    },
    /// Bind a host path (opened earlier as an O_PATH descriptor).
    Bind {
        source: Source,
        target: PathBuf,
        writable: bool,
        exec: bool,
    },
    /// A file airlock writes; read-only for the code unless under a writable tmpfs.
    File {
        target: PathBuf,
        contents: Vec<u8>,
        mode: u32,
    },
    Proc {
        target: PathBuf,
    },
    /// Hide a /proc file behind /dev/null (skipped when the kernel has no such file).
    MaskFile {
        target: PathBuf,
    },
    /// Hide a /proc directory behind an empty read-only tmpfs (skipped when absent).
    MaskDir {
        target: PathBuf,
    },
    /// Make an existing mount point read-only (skipped when absent).
    ReadOnly {
        target: PathBuf,
    },
}

fn generated_etc(network: &Network) -> Vec<(&'static str, String)> {
    let hosts = match network {
        Network::None => "files",
        Network::Host { .. } => "files dns",
    };
    let uid = SANDBOX_UID;
    vec![
        (
            "/etc/passwd",
            format!("sandbox:x:{uid}:{uid}:sandbox:{WORKDIR}:/bin/sh\nnobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n"),
        ),
        ("/etc/group", format!("sandbox:x:{uid}:\nnogroup:x:65534:\n")),
        ("/etc/hostname", format!("{HOSTNAME}\n")),
        (
            "/etc/hosts",
            format!("127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost\n"),
        ),
        (
            "/etc/nsswitch.conf",
            format!("passwd: files\ngroup: files\nhosts: {hosts}\n"),
        ),
    ]
}

/// The steps that build the sandbox's root, in order.
pub fn plan(spec: &JailSpec) -> Vec<Step> {
    let exec_writable = spec.allow_exec_writable;
    let tmpfs = spec.limits.tmpfs_bytes;
    let files_size: u64 = spec
        .files
        .iter()
        .map(|f| f.contents.len() as u64 + 4096)
        .sum();
    let mut steps = vec![Step::Tmpfs {
        target: "/".into(),
        size: (4 << 20) + files_size,
        mode: 0o755,
        exec: true,
    }];
    for (link, points_to) in &spec.symlinks {
        steps.push(Step::Symlink {
            link: link.clone(),
            points_to: points_to.clone(),
        });
    }
    // The writable tmpfs come before the binds, so a grant below /tmp is not shadowed.
    for (target, mode) in [("/tmp", 0o1777), (WORKDIR, 0o755)] {
        steps.push(Step::Tmpfs {
            target: target.into(),
            size: tmpfs,
            mode,
            exec: exec_writable,
        });
    }
    let mut binds: Vec<(usize, &crate::spec::Bind)> = spec.binds.iter().enumerate().collect();
    binds.sort_by_key(|(_, b)| b.target.components().count());
    for (i, b) in binds {
        steps.push(Step::Bind {
            source: Source::Bind(i),
            target: b.target.clone(),
            writable: b.writable,
            exec: !b.writable || exec_writable,
        });
    }
    steps.push(Step::Tmpfs {
        target: "/dev".into(),
        size: 64 << 10,
        mode: 0o755,
        exec: false,
    });
    for (i, dev) in DEVICES.iter().enumerate() {
        steps.push(Step::Bind {
            source: Source::Device(i),
            target: Path::new("/dev").join(dev),
            writable: true,
            exec: false,
        });
    }
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Step::Symlink {
            link: link.into(),
            points_to: to.into(),
        });
    }
    steps.push(Step::Tmpfs {
        target: "/dev/shm".into(),
        size: tmpfs,
        mode: 0o1777,
        exec: exec_writable,
    });
    steps.push(Step::Proc {
        target: "/proc".into(),
    });
    for f in PROC_MASKED_FILES {
        steps.push(Step::MaskFile {
            target: Path::new("/proc").join(f),
        });
    }
    for d in PROC_MASKED_DIRS {
        steps.push(Step::MaskDir {
            target: Path::new("/proc").join(d),
        });
    }
    for d in PROC_READONLY {
        steps.push(Step::ReadOnly {
            target: Path::new("/proc").join(d),
        });
    }
    for (path, contents) in generated_etc(&spec.network) {
        steps.push(Step::File {
            target: path.into(),
            contents: contents.into_bytes(),
            mode: 0o444,
        });
    }
    for f in &spec.files {
        steps.push(Step::File {
            target: f.path.clone(),
            contents: f.contents.clone(),
            mode: f.mode,
        });
    }
    steps.push(Step::ReadOnly {
        target: "/dev".into(),
    });
    steps.push(Step::ReadOnly { target: "/".into() });
    steps
}

/// Sandbox paths the code may write under (for Landlock).
pub fn writable_paths(spec: &JailSpec) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = vec!["/tmp".into(), WORKDIR.into(), "/dev/shm".into()];
    paths.extend(
        spec.binds
            .iter()
            .filter(|b| b.writable)
            .map(|b| b.target.clone()),
    );
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Bind;

    fn spec() -> JailSpec {
        let mut s = JailSpec::new("/usr/bin/python3", vec!["python3".into()]);
        s.binds = vec![
            Bind {
                source: "/usr/lib".into(),
                target: "/usr/lib".into(),
                writable: false,
            },
            Bind {
                source: "/usr".into(),
                target: "/usr".into(),
                writable: false,
            },
        ];
        s
    }

    #[test]
    fn root_first_and_read_only_last() {
        let steps = plan(&spec());
        assert!(matches!(&steps[0], Step::Tmpfs { target, .. } if target == Path::new("/")));
        assert_eq!(steps.last(), Some(&Step::ReadOnly { target: "/".into() }));
    }

    #[test]
    fn parents_are_bound_before_children() {
        let steps = plan(&spec());
        let order: Vec<&PathBuf> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Bind {
                    source: Source::Bind(_),
                    target,
                    ..
                } => Some(target),
                _ => None,
            })
            .collect();
        assert_eq!(order, [&PathBuf::from("/usr"), &PathBuf::from("/usr/lib")]);
    }

    #[test]
    fn writable_mounts_are_noexec_unless_allowed() {
        let mut s = spec();
        let noexec_tmp = |s: &JailSpec| {
            plan(s).iter().any(|st| {
                matches!(st, Step::Tmpfs { target, exec: false, .. } if target == Path::new("/tmp"))
            })
        };
        assert!(noexec_tmp(&s));
        s.allow_exec_writable = true;
        assert!(!noexec_tmp(&s));
    }

    #[test]
    fn proc_is_masked_like_container_runtimes() {
        let steps = plan(&spec());
        for f in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/timer_list",
            "/proc/sysrq-trigger",
        ] {
            assert!(steps.contains(&Step::MaskFile { target: f.into() }), "{f}");
        }
        assert!(steps.contains(&Step::ReadOnly {
            target: "/proc/sys".into()
        }));
    }
}
