//! What callers may name: environments (a directory under the data dir, so nothing that
//! could leave it) and packages (requirement strings for the installer, so nothing it
//! could read as an option, a path or a URL).

use super::EnvError;

/// Longest environment name accepted.
pub const MAX_NAME: usize = 64;
/// The name that means "no managed environment: the host interpreter's standard library".
pub const NO_ENV: &str = "none";

/// An environment name: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit.
pub fn check_env_name(name: &str) -> Result<(), EnvError> {
    let bad = |reason: &str| EnvError::InvalidName {
        name: name.chars().take(80).collect(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > MAX_NAME {
        return Err(bad(&format!("is longer than {MAX_NAME} characters")));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(bad("must start with a letter or digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(bad("may hold only letters, digits, '.', '_' and '-'"));
    }
    if name == NO_ENV {
        return Err(bad(
            "is reserved (it means the host interpreter without an environment)",
        ));
    }
    Ok(())
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// A requirement from the package index: `name`, `name[extra]`, `name==1.2`,
/// `name>=1,<2`. No options (`-r`, `--index-url`), paths, URLs or markers.
pub fn check_package(spec: &str) -> Result<(), EnvError> {
    let bad = |reason: &str| EnvError::InvalidPackage {
        spec: spec.chars().take(120).collect(),
        reason: reason.to_string(),
    };
    let s = spec.trim();
    if s.is_empty() || s.len() > 200 {
        return Err(bad("must be 1 to 200 characters"));
    }
    if !s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        return Err(bad(
            "must start with a package name (options, paths and URLs are not accepted)",
        ));
    }
    let name_end = s.find(|c: char| !is_name_char(c)).unwrap_or(s.len());
    let mut rest = &s[name_end..];
    if let Some(after) = rest.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or_else(|| bad("unclosed '[' of extras"))?;
        if !after[..close]
            .chars()
            .all(|c| is_name_char(c) || c == ',' || c == ' ')
        {
            return Err(bad("extras may hold only names separated by commas"));
        }
        rest = &after[close + 1..];
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(());
    }
    for clause in rest.split(',') {
        let clause = clause.trim();
        let op_len = ["===", "==", ">=", "<=", "~=", "!=", "<", ">"]
            .iter()
            .find(|op| clause.starts_with(**op))
            .map(|op| op.len())
            .ok_or_else(|| bad("a version must follow one of == >= <= ~= != < > ==="))?;
        let version = clause[op_len..].trim();
        if version.is_empty()
            || !version.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '*' | '+' | '!' | '_' | '-')
            })
        {
            return Err(bad(
                "a version may hold only letters, digits and . * + ! _ -",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_escape_the_data_dir_are_refused() {
        for bad in [
            "",
            "../x",
            "/abs",
            "a/b",
            ".hidden",
            "..",
            "x\0y",
            "none",
            &"a".repeat(300),
        ] {
            assert!(check_env_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["default", "quant", "py3.11-numpy_2", "A1"] {
            check_env_name(good).unwrap();
        }
    }

    #[test]
    fn package_specs_are_requirements_not_options() {
        for good in [
            "six",
            "numpy==1.26.4",
            "pandas>=2,<3",
            "requests[socks]",
            "ta-lib~=0.6",
            "x===1.0+local",
        ] {
            check_package(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "--index-url=http://evil",
            "-r/etc/passwd",
            "./local",
            "/abs/pkg.whl",
            "git+https://host/repo",
            "pkg @ https://host/pkg.whl",
            "pkg; os_name=='posix'",
            "pkg==",
            "pkg[extra",
            "",
        ] {
            assert!(check_package(bad).is_err(), "{bad:?} accepted");
        }
    }
}
