//! The seccomp-bpf allow-list, compiled once per process from the data file
//! `policy/seccomp-x86_64.json` (see `policy/README.md` for what is left out and why).

use std::sync::OnceLock;

use seccompiler::{BpfProgram, TargetArch};

const POLICY_X86_64: &str = include_str!("../policy/seccomp-x86_64.json");
const FILTER_NAME: &str = "sandbox";
const NO_NATIVE_CODE: &str = "no_native_code";

/// The compiled filters of the policy file, by name.
type Filters = std::collections::HashMap<String, BpfProgram>;

fn filters() -> Result<&'static Filters, String> {
    static FILTERS: OnceLock<Result<Filters, String>> = OnceLock::new();
    FILTERS.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn named(name: &str) -> Result<&'static BpfProgram, String> {
    filters()?
        .get(name)
        .ok_or_else(|| format!("policy has no filter named {name:?}"))
}

/// The allow-list every sandbox runs under, for this machine's architecture.
pub fn program() -> Result<&'static BpfProgram, String> {
    named(FILTER_NAME)
}

/// The filter stacked on the allow-list unless native code is allowed.
pub fn no_native_code() -> Result<&'static BpfProgram, String> {
    named(NO_NATIVE_CODE)
}

fn compile() -> Result<Filters, String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "no seccomp policy for architecture {}",
            std::env::consts::ARCH
        ));
    }
    seccompiler::compile_from_json(POLICY_X86_64.as_bytes(), TargetArch::x86_64)
        .map(|filters| filters.into_iter().collect())
        .map_err(|e| format!("compile policy: {e}"))
}

/// Install the filter on the calling thread (also sets no_new_privs).
pub fn apply(program: &BpfProgram) -> Result<(), String> {
    seccompiler::apply_filter(program).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn policy_compiles() {
        let prog = super::program().expect("policy compiles");
        assert!(prog.len() > 100, "a real allow-list, not an empty filter");
        assert!(super::no_native_code().is_ok());
    }
}
