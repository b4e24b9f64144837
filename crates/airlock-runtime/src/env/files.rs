//! Host-side file work on environments. What an installer wrote is untrusted: these
//! functions never follow a symlink, read only directory entries and metadata (never
//! file contents), and stop at a bound on entries.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Most entries walked in one environment (a full scientific stack has ~30,000).
const MAX_ENTRIES: usize = 1_000_000;

fn walk(
    root: &Path,
    visit: &mut dyn FnMut(&Path, &fs::Metadata) -> io::Result<()>,
) -> io::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let meta = fs::symlink_metadata(&dir)?;
        visit(&dir, &meta)?;
        if !meta.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&dir)? {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(io::Error::other(format!(
                    "more than {MAX_ENTRIES} entries under {}",
                    root.display()
                )));
            }
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                visit(&path, &meta)?;
            }
        }
    }
    Ok(())
}

/// Give every entry under `root` (links themselves, not their targets) to uid:gid.
pub fn chown_tree(root: &Path, uid: u32, gid: u32) -> io::Result<()> {
    walk(root, &mut |path, _| {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
    })
}

/// Bytes held by regular files under `root`.
pub fn tree_size(root: &Path) -> io::Result<u64> {
    let mut total = 0;
    walk(root, &mut |_, meta| {
        if meta.is_file() {
            total += meta.blocks() * 512;
        }
        Ok(())
    })?;
    Ok(total)
}

/// Copy a tree preserving links, modes and owners (reflinks where the filesystem has them).
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg("--")
        .arg(from)
        .arg(to)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cp -a {} {}: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Installed distributions of a virtual environment, from the names of its
/// `*.dist-info` directories (`numpy-1.26.4.dist-info` → ("numpy", "1.26.4")).
pub fn installed_packages(env_root: &Path) -> io::Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    let lib = env_root.join("lib");
    for py in fs::read_dir(&lib)? {
        let site = py?.path().join("site-packages");
        let Ok(entries) = fs::read_dir(&site) else {
            continue;
        };
        for entry in entries {
            let name = entry?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".dist-info")) else {
                continue;
            };
            if let Some((name, version)) = stem.split_once('-') {
                found.push((normalize(name), version.to_string()));
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// PEP 503 normalised name: lower case, runs of `-_.` become `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Write `bytes` to `path` atomically (a temporary file renamed over it).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_like_the_index_does() {
        assert_eq!(normalize("Typing_Extensions"), "typing-extensions");
        assert_eq!(normalize("zope.interface"), "zope-interface");
        assert_eq!(normalize("a__b"), "a-b");
    }

    #[test]
    fn packages_come_from_dist_info_names_only() {
        let dir = std::env::temp_dir().join(format!("airlock-distinfo-{}", std::process::id()));
        let site = dir.join("lib/python3.11/site-packages");
        fs::create_dir_all(site.join("numpy-1.26.4.dist-info")).unwrap();
        fs::create_dir_all(site.join("Typing_Extensions-4.9.0.dist-info")).unwrap();
        fs::create_dir_all(site.join("numpy")).unwrap();
        // A symlink named like metadata is listed by name only, never followed.
        std::os::unix::fs::symlink("/etc", site.join("evil-6.6.6.dist-info")).unwrap();
        let found = installed_packages(&dir).unwrap();
        assert_eq!(
            found,
            [
                ("evil".to_string(), "6.6.6".to_string()),
                ("numpy".to_string(), "1.26.4".to_string()),
                ("typing-extensions".to_string(), "4.9.0".to_string())
            ]
        );
        assert!(tree_size(&dir).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
