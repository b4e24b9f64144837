//! The seccomp-bpf allow-list, compiled once per process from the data file
//! `policy/seccomp-x86_64.json` (see `policy/README.md` for what is left out and why).

use std::sync::OnceLock;

use seccompiler::{BpfProgram, TargetArch};

const POLICY_X86_64: &str = include_str!("../policy/seccomp-x86_64.json");
const FILTER_NAME: &str = "sandbox";
const NO_NATIVE_CODE: &str = "no_native_code";
const NO_EXEC: &str = "no_exec";
const ZYGOTE: &str = "zygote";
/// What a warm pool's template may do beyond a sandbox: build the child sandboxes it forks.
const ZYGOTE_EXTRA: [&str; 7] = [
    "unshare",
    "setns",
    "mount",
    "umount2",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
];

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

/// The filter stacked unless the request allows starting programs.
pub fn no_exec() -> Result<&'static BpfProgram, String> {
    named(NO_EXEC)
}

/// The allow-list of a warm pool's template: a sandbox's plus [`ZYGOTE_EXTRA`].
pub fn zygote_program() -> Result<&'static BpfProgram, String> {
    named(ZYGOTE)
}

/// The policy file with the zygote filter derived from the sandbox filter.
fn policy_with_zygote() -> Result<serde_json::Value, String> {
    let mut policy: serde_json::Value =
        serde_json::from_str(POLICY_X86_64).map_err(|e| format!("parse policy: {e}"))?;
    let mut zygote = policy
        .get(FILTER_NAME)
        .cloned()
        .ok_or_else(|| format!("policy has no filter named {FILTER_NAME:?}"))?;
    let rules = zygote
        .get_mut("filter")
        .and_then(|f| f.as_array_mut())
        .ok_or("the sandbox filter has no rule list")?;
    rules.extend(
        ZYGOTE_EXTRA
            .iter()
            .map(|name| serde_json::json!({ "syscall": name })),
    );
    policy[ZYGOTE] = zygote;
    Ok(policy)
}

fn compile() -> Result<Filters, String> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(format!(
            "no seccomp policy for architecture {}",
            std::env::consts::ARCH
        ));
    }
    let policy = policy_with_zygote()?.to_string();
    seccompiler::compile_from_json(policy.as_bytes(), TargetArch::x86_64)
        .map(|filters| filters.into_iter().collect())
        .map_err(|e| format!("compile policy: {e}"))
}

/// A filter as the bytes of its `sock_filter` array (what a process hands to
/// `prctl(PR_SET_SECCOMP)`), for a template that installs it in its children.
pub fn program_bytes(program: &BpfProgram) -> Vec<u8> {
    program
        .iter()
        .flat_map(|insn| {
            let mut b = Vec::with_capacity(8);
            b.extend_from_slice(&insn.code.to_ne_bytes());
            b.push(insn.jt);
            b.push(insn.jf);
            b.extend_from_slice(&insn.k.to_ne_bytes());
            b
        })
        .collect()
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
        assert!(super::no_exec().is_ok());
    }

    #[test]
    fn zygote_filter_is_the_sandbox_filter_plus_its_extras() {
        let policy = super::policy_with_zygote().expect("derived");
        let names = |filter: &str| -> Vec<String> {
            policy[filter]["filter"]
                .as_array()
                .expect("rules")
                .iter()
                .map(|r| r["syscall"].as_str().expect("name").to_string())
                .collect()
        };
        let (sandbox, zygote) = (names("sandbox"), names("zygote"));
        assert_eq!(&zygote[..sandbox.len()], &sandbox[..]);
        assert_eq!(zygote[sandbox.len()..], super::ZYGOTE_EXTRA);
        for extra in super::ZYGOTE_EXTRA {
            assert!(
                !sandbox.iter().any(|s| s == extra),
                "{extra} is never a sandbox's"
            );
        }
        let (z, s) = (super::zygote_program().unwrap(), super::program().unwrap());
        assert!(z.len() > s.len());
        assert_eq!(super::program_bytes(s).len(), s.len() * 8);
    }
}
