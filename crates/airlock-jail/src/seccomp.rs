//! The seccomp-bpf allow-list, compiled once per process from the data file
//! `policy/seccomp-x86_64.json` (see `policy/README.md` for what is left out and why).

use std::sync::OnceLock;

use seccompiler::{BpfProgram, TargetArch};

const POLICY_X86_64: &str = include_str!("../policy/seccomp-x86_64.json");
const FILTER_NAME: &str = "sandbox";

/// The compiled filter for this machine's architecture, or why there is none.
pub fn program() -> Result<&'static BpfProgram, String> {
    static PROGRAM: OnceLock<Result<BpfProgram, String>> = OnceLock::new();
    PROGRAM.get_or_init(compile).as_ref().map_err(Clone::clone)
}

fn compile() -> Result<BpfProgram, String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "no seccomp policy for architecture {}",
            std::env::consts::ARCH
        ));
    }
    let mut filters = seccompiler::compile_from_json(POLICY_X86_64.as_bytes(), TargetArch::x86_64)
        .map_err(|e| format!("compile policy: {e}"))?;
    filters
        .remove(FILTER_NAME)
        .ok_or_else(|| format!("policy has no filter named {FILTER_NAME:?}"))
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
    }
}
