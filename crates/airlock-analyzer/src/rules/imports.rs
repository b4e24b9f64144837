//! AL1xx: imported modules against the policy's lists — `import`, `from … import`,
//! `from … import *`, and `__import__("…")` / `importlib.import_module("…")` when the name
//! is known statically (even when built: `__import__("o" + "s")`).

use ruff_text_size::TextSize;

use crate::policy::ModuleDecision;
use crate::result::Severity;
use crate::semantic::ImportKind;

use super::{Checker, Family, Rule};

pub const FAMILY: Family = Family {
    title: "imports",
    codes: "AL1xx",
    about: "Every imported module is looked up in the policy's `[modules]` lists; the most \
            specific entry wins (`os.path` allowed beats `os` denied). Imports anywhere \
            count — inside functions, in `try` blocks, in dead branches — and so do \
            `__import__` and `importlib.import_module` with a name known statically.",
    rules: &[&DENIED_MODULE, &RESTRICTED_MODULE, &UNKNOWN_MODULE],
};

/// AL101: a module in `modules.denied`.
pub const DENIED_MODULE: Rule = Rule {
    code: "AL101",
    name: "denied-module",
    severity: Severity::High,
    summary: "import of a module the policy denies",
    what: "Reports an import of a module in `modules.denied` (os, sys, subprocess, socket, \
           ctypes, pickle, importlib, builtins, multiprocessing, inspect, gc …), or of one \
           of its submodules.",
    why: "These modules exist to run programs, open connections, load native code, \
          deserialize code or reach the interpreter's internals — what an escape attempt \
          needs, and what an analysis snippet does not.",
    example: "import subprocess\nsubprocess.run([\"ls\", \"/\"])",
    instead: "Use the allowed data-science stack (numpy, pandas, scipy, matplotlib …); read \
              the input files you were given with pandas; print results instead of \
              writing them elsewhere. If the module is truly needed, ask the operator to \
              allow it in the policy.",
};

/// AL102: a module in `modules.restricted`.
pub const RESTRICTED_MODULE: Rule = Rule {
    code: "AL102",
    name: "restricted-module",
    severity: Severity::Medium,
    summary: "import of a module the policy restricts",
    what: "Reports an import of a module in `modules.restricted`: file-system helpers \
           (pathlib, glob, tempfile, zipfile), threads and event loops (threading, \
           concurrent, asyncio).",
    why: "Notebooks use them for real work, but they reach beyond computation: files \
          outside the working directory, work that outlives a timeout, every core the jail \
          allows.",
    example: "import threading\nthreading.Thread(target=print).start()",
    instead: "Read inputs with pandas (`pd.read_csv(\"prices.csv\")`) and write results to \
              `./outputs/`; vectorize with numpy instead of threads.",
};

/// AL103: a module in no list.
pub const UNKNOWN_MODULE: Rule = Rule {
    code: "AL103",
    name: "unknown-module",
    severity: Severity::Low,
    summary: "import of a module the policy neither allows nor denies",
    what: "Reports an import of a module that is in none of the policy's lists.",
    why: "It may be harmless, missing from the environment, or a wrapper around something \
          denied; the policy does not say, so a person should glance at it.",
    example: "import yfinance",
    instead: "Prefer the allowed packages; if this one is needed and harmless, ask the \
              operator to add it to `modules.allowed`.",
};

pub(super) fn check(checker: &mut Checker) {
    let imports = checker.model.imports();
    for import in imports {
        match import.kind {
            ImportKind::From => {
                // `from os import path` is `os.path`; report once per deciding entry.
                let mut seen: Vec<(ModuleDecision, Option<&str>)> = Vec::new();
                let of_module = checker.policy.module_decision(&import.module);
                for (name, _) in &import.names {
                    let decision = checker.policy.module_decision(name);
                    if !seen.contains(&decision) {
                        seen.push(decision);
                        // `from os import system` is reported as an import of `os`.
                        let shown = if decision == of_module {
                            import.module.as_str()
                        } else {
                            name.as_str()
                        };
                        report(checker, decision.0, shown, import.kind, import.offset);
                    }
                }
            }
            kind => {
                let decision = checker.policy.module_decision(&import.module).0;
                report(checker, decision, &import.module, kind, import.offset);
            }
        }
    }
}

fn report(
    checker: &mut Checker,
    decision: ModuleDecision,
    module: &str,
    kind: ImportKind,
    offset: TextSize,
) {
    let how = match kind {
        ImportKind::Dynamic => "dynamic import of",
        ImportKind::Star => "wildcard import from",
        ImportKind::Import | ImportKind::From => "import of",
    };
    let top = module.split('.').next().unwrap_or(module);
    match decision {
        ModuleDecision::Allowed => {}
        ModuleDecision::Denied => {
            let reason = reason(top).unwrap_or("denied by the policy");
            checker.report(
                &DENIED_MODULE,
                offset,
                format!("{how} `{module}`: {reason}"),
            );
        }
        ModuleDecision::Restricted => {
            let reason = reason(top).unwrap_or("restricted by the policy");
            checker.report(
                &RESTRICTED_MODULE,
                offset,
                format!("{how} `{module}`: {reason}"),
            );
        }
        ModuleDecision::Unknown => checker.report(
            &UNKNOWN_MODULE,
            offset,
            format!("{how} `{module}`, which the policy neither allows nor denies"),
        ),
    }
}

/// Why a well-known module is denied or restricted, for the message.
fn reason(top: &str) -> Option<&'static str> {
    Some(match top {
        "os" | "posix" | "nt" => "runs programs, changes files, reads the environment",
        "sys" => "reaches frames, every loaded module and the interpreter's hooks",
        "subprocess" | "_posixsubprocess" | "pty" | "commands" | "popen2" => "runs other programs",
        "shutil" => "copies, moves and deletes whole trees of files",
        "multiprocessing" => "spawns processes and pickles what it passes between them",
        "socket" | "socketserver" | "ssl" | "select" | "selectors" | "urllib" | "urllib2"
        | "urllib3" | "http" | "ftplib" | "telnetlib" | "smtplib" | "poplib" | "imaplib"
        | "nntplib" | "xmlrpc" | "requests" | "httpx" | "aiohttp" | "websocket" | "websockets"
        | "paramiko" | "asyncore" | "asynchat" | "webbrowser" => "opens network connections",
        "ctypes" | "_ctypes" | "cffi" => "loads native code and reads raw memory",
        "pickle" | "_pickle" | "cPickle" | "dill" | "cloudpickle" | "marshal" | "shelve" => {
            "deserializing runs code the data names"
        }
        "importlib" | "imp" | "pkgutil" | "runpy" | "zipimport" => "loads and runs modules by name",
        "builtins" | "__builtin__" => "hands out eval, exec and __import__ under other names",
        "inspect" | "gc" | "code" | "codeop" | "pdb" | "bdb" | "trace" | "dis" => {
            "reaches frames, code objects or every live object"
        }
        "signal" | "resource" | "faulthandler" => "changes how the process is controlled",
        "pip" | "ensurepip" | "setuptools" | "distutils" | "venv" => {
            "installs packages (network, and code run at install time)"
        }
        "pathlib" | "glob" | "fnmatch" | "tempfile" | "filecmp" | "zipfile" | "tarfile"
        | "gzip" | "bz2" | "lzma" | "sqlite3" => "works with files beyond the inputs",
        "threading" | "concurrent" | "asyncio" | "queue" | "sched" | "_thread" => {
            "runs work concurrently, beyond the code's own flow"
        }
        _ => return None,
    })
}
