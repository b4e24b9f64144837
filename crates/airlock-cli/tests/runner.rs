//! The Python runner, field by field, through `airlock run --json` in the default
//! environment: the last expression's value, exceptions with the user's line, charts,
//! variables, input and output files, secret masking, the pre-bound names, the exec and
//! FFI switches, the --check gate, and a runner channel that the user's code floods with
//! forged and malformed frames.
//!
//! Every check that could pass vacuously has a twin run that shows its oracle can fire.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{run_json, Run};
use serde_json::{json, Value};

/// Standard base64 (with padding) to bytes; panics on anything else.
fn b64decode(text: &str) -> Vec<u8> {
    fn sextet(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: byte {other:#x}"),
        }
    }
    let bytes = text.as_bytes();
    assert_eq!(bytes.len() % 4, 0, "base64 length {}", bytes.len());
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        assert!(pad <= 2, "bad base64 padding");
        let n = chunk[..4 - pad]
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (sextet(c) << (18 - 6 * i)));
        let all = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&all[..3 - pad]);
    }
    out
}

/// The sha256 of `bytes` as `sha256sum` computes it (the tests have no hash crate).
fn sha256sum(dir: &Path, bytes: &[u8]) -> String {
    let path = dir.join("sha256sum-input");
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("sha256sum").arg(&path).output().unwrap();
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// `airlock run --json ARGS`, expected to be refused as a usage error (exit status 2,
/// nothing on stdout); returns the message on stderr.
fn usage_error(args: &[&str]) -> String {
    let out = common::airlock()
        .arg("run")
        .arg("--json")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("start airlock");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} is not a usage error: stdout={} stderr={stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed a result: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// A run that completed; returns its return_value.
fn completed_value(run: &Run) -> &Value {
    assert_eq!(run.status(), "completed", "{}", run.result);
    &run.result["return_value"]
}

fn file_names(run: &Run) -> Vec<&str> {
    run.result["files"]
        .as_array()
        .expect("files is a list")
        .iter()
        .map(|f| f["name"].as_str().expect("file name"))
        .collect()
}

fn warnings(run: &Run) -> Vec<&str> {
    run.result["warnings"]
        .as_array()
        .expect("warnings is a list")
        .iter()
        .map(|w| w.as_str().unwrap_or_default())
        .collect()
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

// ---------------------------------------------------------------- return_value

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_a_dataframe_has_columns_index_data_and_shape() {
    require_root!();
    let run = run_json(
        "df = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']}, index=[10, 20])\ndf",
        &[],
    );
    let v = completed_value(&run);
    assert_eq!(v["type"], "dataframe", "{v}");
    assert_eq!(v["columns"], json!(["a", "b"]));
    assert_eq!(v["index"], json!([10, 20]));
    assert_eq!(v["data"], json!([[1, "x"], [2, "y"]]));
    assert_eq!(v["shape"], json!([2, 2]));
    assert_eq!(v["truncated"], false);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_a_large_dataframe_is_capped_at_1000_rows() {
    require_root!();
    let run = run_json(
        "pd.DataFrame({'a': range(5000), 'b': range(0, 10000, 2), 'c': 'z'})",
        &[],
    );
    let v = completed_value(&run);
    assert_eq!(v["shape"], json!([5000, 3]), "the full shape is reported");
    assert_eq!(v["truncated"], true);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1000);
    assert_eq!(v["index"].as_array().unwrap().len(), 1000);
    assert_eq!(data[0], json!([0, 0, "z"]));
    assert_eq!(data[999], json!([999, 1998, "z"]), "the first 1000 rows");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_numpy_scalars_is_a_plain_number() {
    require_root!();
    let run = run_json("np.int64(6) * 7", &[]);
    let v = completed_value(&run);
    assert_eq!(v.as_i64(), Some(42), "not a plain number: {v}");
    let run = run_json(
        "[np.float64(2.5), np.int32(-3), np.bool_(True), np.float32(0.5)]",
        &[],
    );
    assert_eq!(completed_value(&run), &json!([2.5, -3, true, 0.5]));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_a_numpy_array() {
    require_root!();
    let run = run_json("np.arange(6, dtype=np.int64).reshape(2, 3)", &[]);
    let v = completed_value(&run);
    assert_eq!(
        v,
        &json!({"type": "ndarray", "dtype": "int64", "shape": [2, 3],
                "data": [[0, 1, 2], [3, 4, 5]], "truncated": false})
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_a_series() {
    require_root!();
    let run = run_json("pd.Series([1.5, 2.5], index=['x', 'y'], name='s')", &[]);
    let v = completed_value(&run);
    assert_eq!(
        v,
        &json!({"type": "series", "name": "s", "index": ["x", "y"],
                "data": [1.5, 2.5], "shape": [2], "truncated": false})
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_of_another_object_is_its_repr() {
    require_root!();
    let run = run_json(
        "class Point:\n    def __repr__(self):\n        return 'Point(1, 2)'\n\nPoint()",
        &[],
    );
    assert_eq!(completed_value(&run), "Point(1, 2)");
    let run = run_json("object()", &[]);
    let v = completed_value(&run).as_str().expect("a string");
    assert!(v.starts_with("<object object at 0x"), "{v}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn return_value_is_null_when_a_statement_comes_last() {
    require_root!();
    let run = run_json("x = 5", &[]);
    assert_eq!(completed_value(&run), &Value::Null);
    // The twin: the same value as an expression comes back.
    let run = run_json("x = 5\nx", &[]);
    assert_eq!(completed_value(&run), 5);
}

// ---------------------------------------------------------------- exception

fn assert_user_traceback(run: &Run) {
    let tb = run.result["exception"]["traceback"].as_str().unwrap();
    assert!(tb.contains("main.py"), "traceback lacks main.py: {tb}");
    assert!(
        !tb.contains("runner.py"),
        "traceback shows the runner: {tb}"
    );
    assert!(
        !tb.contains("/airlock/"),
        "traceback shows the runner: {tb}"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn exception_reports_type_message_and_the_users_line() {
    require_root!();
    let run = run_json("a = 1\nb = 0\nc = a / b\nprint('not reached')\n", &[]);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.reason(), Some("exception"));
    assert_eq!(run.result["error"], "ZeroDivisionError: division by zero");
    let e = &run.result["exception"];
    assert_eq!(e["type"], "ZeroDivisionError");
    assert_eq!(e["message"], "division by zero");
    assert_eq!(e["line"], 3, "{e}");
    assert_user_traceback(&run);
    let tb = e["traceback"].as_str().unwrap();
    assert!(tb.contains("line 3"), "{tb}");
    assert!(!run.stdout().contains("not reached"));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn exception_in_a_function_reports_the_innermost_user_line() {
    require_root!();
    let code = "x = 1\ndef f(d):\n    return x / d\n\nf(0)\n";
    let run = run_json(code, &[]);
    assert_eq!(run.reason(), Some("exception"));
    let e = &run.result["exception"];
    assert_eq!(e["line"], 3, "the raising line inside f: {e}");
    assert_user_traceback(&run);
    let tb = e["traceback"].as_str().unwrap();
    assert!(
        tb.contains("line 5"),
        "the call site is in the traceback: {tb}"
    );
    assert!(tb.contains("line 3"), "{tb}");

    // Raised inside a library: the line is the user's call, the library's frames are not shown.
    let run = run_json("import json\n\njson.loads('{')\n", &[]);
    let e = &run.result["exception"];
    assert_eq!(e["type"], "JSONDecodeError", "{e}");
    assert_eq!(e["line"], 3, "{e}");
    assert_user_traceback(&run);
    let tb = e["traceback"].as_str().unwrap();
    assert!(!tb.contains("decoder.py"), "library frames shown: {tb}");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn syntax_error_reports_its_line() {
    require_root!();
    let run = run_json("a = 1\nb = 2\nc = = 3\nd = 4\n", &[]);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.reason(), Some("exception"));
    let e = &run.result["exception"];
    assert_eq!(e["type"], "SyntaxError", "{e}");
    assert_eq!(e["line"], 3, "{e}");
    assert!(run.result["error"]
        .as_str()
        .unwrap()
        .starts_with("SyntaxError"));
    assert!(!e["traceback"].as_str().unwrap().contains("runner.py"));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn system_exit_gives_its_exit_code() {
    require_root!();
    let run = run_json("import sys\nprint('before')\nsys.exit(3)\n", &[]);
    assert_eq!(run.status(), "failed");
    assert_eq!(run.reason(), Some("exit_code"));
    assert_eq!(run.result["exit_code"], 3);
    assert_eq!(run.result["exception"], Value::Null);
    assert_eq!(run.stdout(), "before\n");
    // SystemExit(0) is a normal end.
    let run = run_json("raise SystemExit(0)", &[]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    assert_eq!(run.result["exit_code"], 0);
}

// ---------------------------------------------------------------- charts

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn every_open_figure_comes_back_as_a_png_that_decodes() {
    require_root!();
    let run = run_json(
        "plt.figure()\nplt.plot([1, 2, 3])\nplt.figure(figsize=(3, 2))\nplt.bar(['a', 'b'], [1, 2])\n",
        &[],
    );
    assert_eq!(run.status(), "completed", "{}", run.result);
    let charts = run.result["charts"].as_array().unwrap();
    assert_eq!(charts.len(), 2, "{}", run.result["charts"]);
    let sizes: Vec<(u64, u64)> = charts
        .iter()
        .map(|c| {
            assert_eq!(c["format"], "png");
            (c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap())
        })
        .collect();
    // Default figsize 6.4x4.8 and figsize=(3, 2), at the default 100 dpi.
    assert_eq!(sizes, [(640, 480), (300, 200)]);

    // Decode them for real: PIL, in a second sandbox, loads every pixel.
    let dir = common::temp_dir("charts");
    let mut flags = Vec::new();
    for (i, chart) in charts.iter().enumerate() {
        let png = b64decode(chart["data"].as_str().unwrap());
        assert!(png.starts_with(PNG_SIGNATURE));
        let path = dir.join(format!("c{i}.png"));
        std::fs::write(&path, &png).unwrap();
        flags.push(format!("{}:c{i}.png", path.display()));
        if i == 0 {
            // The twin: a truncated PNG must fail to load, so the oracle can fire.
            let cut = dir.join("cut.png");
            std::fs::write(&cut, &png[..png.len() / 2]).unwrap();
            flags.push(format!("{}:cut.png", cut.display()));
        }
    }
    let mut args = Vec::new();
    for f in &flags {
        args.extend(["--file", f.as_str()]);
    }
    let check = r#"
from PIL import Image
out = []
for name in ["c0.png", "c1.png", "cut.png"]:
    try:
        with Image.open(name) as im:
            im.load()
            out.append([im.format, im.size[0], im.size[1]])
    except Exception as e:
        out.append("error " + type(e).__name__)
out
"#;
    let decoded = run_json(check, &args);
    std::fs::remove_dir_all(&dir).unwrap();
    let v = completed_value(&decoded);
    assert_eq!(v[0], json!(["PNG", sizes[0].0, sizes[0].1]), "{v}");
    assert_eq!(v[1], json!(["PNG", sizes[1].0, sizes[1].1]), "{v}");
    assert!(
        v[2].as_str().is_some_and(|s| s.starts_with("error")),
        "a truncated PNG loaded: {v}"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn closed_figures_and_no_matplotlib_give_no_charts() {
    require_root!();
    let run = run_json(
        "plt.plot([1, 2])\nplt.figure()\nplt.plot([3])\nplt.close('all')\n",
        &[],
    );
    assert_eq!(run.status(), "completed", "{}", run.result);
    assert_eq!(run.result["charts"], json!([]));
    let run = run_json("import sys\nprint(1)\n'matplotlib' in sys.modules", &[]);
    assert_eq!(completed_value(&run), false);
    assert_eq!(run.result["charts"], json!([]));
    // The twin: one figure left open is one chart.
    let run = run_json("plt.plot([1, 2])\nplt.figure()\nplt.close(1)\n", &[]);
    assert_eq!(run.result["charts"].as_array().unwrap().len(), 1);
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
#[cfg_attr(
    no_cjk_font,
    ignore = "needs a CJK font (apt-get install fonts-wqy-microhei)"
)]
fn chinese_labels_render_with_the_hosts_cjk_font() {
    require_root!();
    let draw = "plt.figure()\nplt.title('收益率')\nplt.plot([1, 2, 3])\n";
    let run = run_json(draw, &[]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    assert_eq!(run.result["charts"].as_array().unwrap().len(), 1);
    // Drawing warnings come back in `warnings` (and never in the user's stderr).
    let said = |run: &common::Run| format!("{} {}", run.stderr(), run.result["warnings"]);
    assert!(
        !said(&run).contains("missing from"),
        "glyphs missing with the CJK font: {}",
        said(&run)
    );
    // The twin: with the font list reset to one without CJK glyphs, the warning shows.
    let reset = format!(
        "import matplotlib\nmatplotlib.rcParams['font.sans-serif'] = ['DejaVu Sans']\n{draw}"
    );
    let run = run_json(&reset, &["--env", "default"]);
    assert!(
        said(&run).contains("Glyph") && said(&run).contains("missing from"),
        "no missing-glyph warning without the CJK font, so the oracle cannot fire: {}",
        said(&run)
    );
    assert!(
        !run.stderr().contains("runner.py"),
        "the runner's path leaked: {}",
        run.stderr()
    );
}

// ---------------------------------------------------------------- variables

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn variables_round_trip_through_the_globals() {
    require_root!();
    let vars = [
        ("d", json!({"a": [1, 2], "b": null, "c": {"x": "y"}})),
        ("l", json!([1, "x", true, 2.5])),
        ("s", json!("héllo wörld")),
        ("n", json!(3.25)),
        ("i", json!(-7)),
    ];
    let flags: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = Vec::new();
    for f in &flags {
        args.extend(["--var", f.as_str()]);
    }
    for (name, value) in &vars {
        let run = run_json(name, &args);
        assert_eq!(completed_value(&run), value, "--var {name}");
    }
    let run = run_json("[type(v).__name__ for v in (d, l, s, n, i)]", &args);
    assert_eq!(
        completed_value(&run),
        &json!(["dict", "list", "str", "float", "int"])
    );
}

#[test]
fn bad_variables_are_usage_errors_naming_var() {
    for bad in ["1x=2", "x=notjson", "x-y=1", "noequals"] {
        let stderr = usage_error(&["--var", bad, "-c", "pass"]);
        assert!(stderr.contains("--var"), "--var {bad}: {stderr}");
    }
}

// ---------------------------------------------------------------- files

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn an_input_csv_round_trips_to_an_output_file() {
    require_root!();
    let dir = common::temp_dir("csv");
    let input = dir.join("raw.csv");
    std::fs::write(&input, "date,price\n2024-01-01,10\n2024-01-02,12\n").unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "plain name").unwrap();
    let renamed = format!("{}:prices.csv", input.display());
    let plain = notes.display().to_string();
    let code = r#"
df = pd.read_csv("prices.csv")
df["double"] = df.price * 2
df.to_csv("outputs/result.csv", index=False)
open("notes.txt").read()
"#;
    let run = run_json(code, &["--file", &renamed, "--file", &plain]);
    assert_eq!(
        completed_value(&run),
        "plain name",
        "--file PATH keeps its name"
    );
    let expected = b"date,price,double\n2024-01-01,10,20\n2024-01-02,12,24\n";
    let files = run.result["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{}", run.result["files"]);
    let f = &files[0];
    assert_eq!(f["name"], "result.csv");
    let data = b64decode(f["data"].as_str().unwrap());
    assert_eq!(
        String::from_utf8_lossy(&data),
        String::from_utf8_lossy(expected)
    );
    assert_eq!(f["size"], expected.len());
    assert_eq!(f["sha256"], sha256sum(&dir, expected));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn nested_output_files_keep_their_relative_path() {
    require_root!();
    let code = "import os\nos.makedirs('outputs/sub/deeper')\n\
                open('outputs/sub/x.txt', 'w').write('nested')\n\
                open('outputs/sub/deeper/y.txt', 'w').write('deeper')\n";
    let run = run_json(code, &[]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    let mut names = file_names(&run);
    names.sort_unstable();
    assert_eq!(names, ["sub/deeper/y.txt", "sub/x.txt"]);
    for f in run.result["files"].as_array().unwrap() {
        let data = b64decode(f["data"].as_str().unwrap());
        let want: &[u8] = if f["name"] == "sub/x.txt" {
            b"nested"
        } else {
            b"deeper"
        };
        assert_eq!(data, want);
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn links_and_fifos_in_outputs_are_not_returned_and_do_not_hang() {
    require_root!();
    let code = r#"
import os
os.symlink("/etc/passwd", "outputs/passwd-link")
os.symlink("/etc", "outputs/etc-link")
os.mkfifo("outputs/fifo")
open("outputs/ok.txt", "w").write("ok")
# The twin: the link does lead to readable content, so a runner following it would send it.
print("link-reads", ":x:" in open("outputs/passwd-link").read())
"#;
    let run = run_json(code, &["--timeout", "20"]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    assert_eq!(run.stdout(), "link-reads True\n");
    assert_eq!(file_names(&run), ["ok.txt"]);
    assert!(
        run.elapsed.as_secs() < 15,
        "took {:?}: blocked on the FIFO?",
        run.elapsed
    );
    assert_eq!(
        b64decode(run.result["files"][0]["data"].as_str().unwrap()),
        b"ok"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn more_than_50_output_files_are_capped_with_warnings() {
    require_root!();
    let code = "for i in range(60):\n    open(f'outputs/f{i:02}.txt', 'w').write(str(i))\n";
    let run = run_json(code, &[]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    let names = file_names(&run);
    assert_eq!(names.len(), 50);
    let want: Vec<String> = (0..50).map(|i| format!("f{i:02}.txt")).collect();
    assert_eq!(names, want);
    let left_out: Vec<&str> = warnings(&run)
        .into_iter()
        .filter(|w| w.contains("left out"))
        .collect();
    assert_eq!(left_out.len(), 10, "{left_out:?}");
    assert!(
        left_out.iter().any(|w| w.contains("f59.txt")),
        "{left_out:?}"
    );
}

#[test]
fn bad_input_file_names_are_usage_errors_naming_file() {
    let dir = common::temp_dir("badfile");
    let input = dir.join("in.txt");
    std::fs::write(&input, "x").unwrap();
    for name in ["a/b", "..", "outputs", "."] {
        let spec = format!("{}:{name}", input.display());
        let stderr = usage_error(&["--file", &spec, "-c", "pass"]);
        assert!(stderr.contains("--file"), "--file {spec}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------- redaction

/// Code whose secrets are assembled at run time, so that the code itself (echoed in the
/// result's `code` field) does not hold them whole.
const SECRETS_CODE: &str = r#"
import sys
key = "sk-" + "proj-" + "Ab12Cd34Ef56" + "Gh78Ij90Kl"
url = "postgres://" + "admin:" + "Sup3r" + "S3cret" + "@db.internal:5432/prod"
pw = "password=" + "hunter" + "2xyz"
print("key", key, "url", url, pw)
print("key", key, "url", url, pw, file=sys.stderr)
raise RuntimeError(f"cannot connect to {url} with {pw} and {key}")
"#;
const SECRETS: [&str; 3] = ["Ab12Cd34Ef56Gh78Ij90Kl", "Sup3rS3cret", "hunter2xyz"];

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn secrets_are_masked_in_stdout_stderr_and_exceptions() {
    require_root!();
    assert!(SECRETS.iter().all(|s| !SECRETS_CODE.contains(s)));
    let run = run_json(SECRETS_CODE, &[]);
    assert_eq!(run.reason(), Some("exception"));
    let raw = String::from_utf8_lossy(&run.raw.stdout);
    for secret in SECRETS {
        assert!(!raw.contains(secret), "{secret} came back: {raw}");
    }
    let message = run.result["exception"]["message"].as_str().unwrap();
    for (what, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("exception message", message),
        ("error", run.result["error"].as_str().unwrap()),
    ] {
        assert!(text.contains("[REDACTED]"), "{what} not masked: {text}");
        // What was masked stays recognisable.
        assert!(text.contains("postgres://admin:"), "{what}: {text}");
    }

    // The twin: --no-redact gives them back, so the oracle can fire.
    let run = run_json(SECRETS_CODE, &["--no-redact"]);
    let message = run.result["exception"]["message"].as_str().unwrap();
    for (what, text) in [
        ("stdout", run.stdout()),
        ("stderr", run.stderr()),
        ("exception message", message),
    ] {
        for secret in SECRETS {
            assert!(text.contains(secret), "{what} lacks {secret}: {text}");
        }
        assert!(!text.contains("[REDACTED]"), "{what}: {text}");
    }
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn secrets_are_masked_in_the_return_value() {
    require_root!();
    let code = "url = 'postgres://' + 'admin:' + 'Sup3r' + 'S3cret' + '@db/prod'\n{'dsn': url}";
    let run = run_json(code, &[]);
    assert_eq!(
        completed_value(&run),
        &json!({"dsn": "postgres://admin:[REDACTED]@db/prod"})
    );
    let run = run_json(code, &["--no-redact"]);
    assert_eq!(
        completed_value(&run),
        &json!({"dsn": "postgres://admin:Sup3rS3cret@db/prod"})
    );
}

// ---------------------------------------------------------------- pre-bound names

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn np_pd_plt_sns_are_pre_bound() {
    require_root!();
    let run = run_json("np.arange(4).sum()", &[]);
    assert_eq!(completed_value(&run), 6);
    let run = run_json(
        "import sys\n[type(pd.DataFrame()).__name__, plt.get_backend().lower(), \
         callable(sns.barplot), 'seaborn' in sys.modules]",
        &[],
    );
    assert_eq!(
        completed_value(&run),
        &json!(["DataFrame", "agg", true, true])
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn pre_bound_modules_are_imported_only_when_used() {
    require_root!();
    let probe = "[m in sys.modules for m in ('numpy', 'pandas', 'matplotlib', 'seaborn')]";
    let run = run_json(&format!("import sys\nx = 1\n{probe}"), &[]);
    assert_eq!(completed_value(&run), &json!([false, false, false, false]));
    // The twin: touching pd imports pandas (and numpy with it), so the probe can tell.
    let run = run_json(&format!("import sys\npd.DataFrame\n{probe}"), &[]);
    assert_eq!(completed_value(&run), &json!([true, true, false, false]));
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn without_an_environment_np_is_not_defined() {
    require_root!();
    let run = run_json("import json\nnp.arange(3)", &["--env", "none"]);
    assert_eq!(run.reason(), Some("exception"), "{}", run.result);
    assert_eq!(run.result["env"], Value::Null);
    assert_eq!(run.result["exception"]["type"], "NameError");
    assert_eq!(run.result["error"], "NameError: name 'np' is not defined");
    assert_eq!(run.result["exception"]["line"], 2);
}

// ---------------------------------------------------------------- --allow-run

const EXEC_PROBE: &str = r#"
import multiprocessing, os, subprocess, sys
try:
    print("subprocess", subprocess.run([sys.executable, "-c", "pass"]).returncode)
except PermissionError as e:
    print("subprocess denied", e.errno)
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.executable, [sys.executable, "-c", "pass"])
    except PermissionError as e:
        os._exit(100 + e.errno)
    os._exit(99)
print("execv", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
with multiprocessing.get_context("fork").Pool(2) as pool:
    print("pool", pool.map(abs, [-1, -2]))
for line in open("/proc/self/status"):
    if line.startswith("Seccomp_filters:"):
        print("filters", line.split()[1])
"#;

/// Runs EXEC_PROBE: its output without the seccomp line, and the process's filter count.
fn exec_probe(flags: &[&str]) -> (String, u32) {
    let run = run_json(EXEC_PROBE, flags);
    assert_eq!(run.status(), "completed", "{flags:?}: {}", run.result);
    let (lines, filters): (Vec<&str>, Vec<&str>) = run
        .stdout()
        .lines()
        .partition(|l| !l.starts_with("filters "));
    let filters = filters
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no filter count: {}", run.everything()));
    (lines.join("\n"), filters)
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn starting_programs_is_denied_unless_allow_run() {
    require_root!();
    const EPERM: i32 = 1;
    let (denied, filters_denied) = exec_probe(&[]);
    assert_eq!(
        denied,
        format!(
            "subprocess denied {EPERM}\nexecv {}\npool [1, 2]",
            100 + EPERM
        ),
        "fork-only multiprocessing works, starting a program does not"
    );
    // The twin: with --allow-run the same programs start.
    let (allowed, filters_allowed) = exec_probe(&["--allow-run"]);
    assert_eq!(allowed, "subprocess 0\nexecv 0\npool [1, 2]");
    // Kernel-enforced: the denial is one more seccomp filter on the process, on top of
    // the jail's (its allow-list, and a no-native-code filter unless --allow-ffi).
    assert!(filters_allowed >= 1, "no jail filter at all");
    assert_eq!(
        filters_denied,
        filters_allowed + 1,
        "Seccomp_filters without --allow-run {filters_denied}, with {filters_allowed}"
    );
    let (_, ffi_denied) = exec_probe(&["--allow-ffi"]);
    let (_, ffi_allowed) = exec_probe(&["--allow-ffi", "--allow-run"]);
    assert_eq!(
        (ffi_denied, ffi_allowed),
        (2, 1),
        "Seccomp_filters with --allow-ffi"
    );
}

// ---------------------------------------------------------------- --allow-ffi

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn loading_native_code_the_code_wrote_needs_allow_ffi() {
    require_root!();
    let code = r#"
import ctypes, shutil, _json
shutil.copy(_json.__file__, "/tmp/copy.so")
try:
    ctypes.CDLL("/tmp/copy.so")
    print("loaded")
except OSError as e:
    print("refused", e)
"#;
    let run = run_json(code, &[]);
    assert_eq!(run.status(), "completed", "{}", run.result);
    let out = run.stdout();
    assert!(
        out.starts_with("refused")
            && (out.contains("failed to map segment") || out.contains("Operation not permitted")),
        "{}",
        run.everything()
    );
    let run = run_json(code, &["--allow-ffi"]);
    assert_eq!(run.stdout(), "loaded\n", "{}", run.everything());
}

// ---------------------------------------------------------------- --check

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn check_enforce_refuses_dangerous_code_and_runs_safe_code() {
    require_root!();
    let run = run_json(
        "import os\nos.system('echo hi')\nprint('RAN')",
        &["--check", "enforce"],
    );
    assert_eq!(run.status(), "rejected", "{}", run.result);
    assert_eq!(run.reason(), Some("policy"));
    assert_eq!(run.result["validation"]["status"], "dangerous");
    assert!(run.result["error"]
        .as_str()
        .unwrap()
        .starts_with("Code safety validation failed"));
    assert!(!run.stdout().contains("RAN"), "rejected code must not run");
    // The same code under warn runs, with the validation attached.
    let warned = run_json(
        "import os\nos.system('echo hi')\nprint('RAN')",
        &["--check", "warn"],
    );
    assert_eq!(warned.result["validation"]["status"], "dangerous");
    assert!(warned.stdout().contains("RAN"));
    let safe = run_json("1 + 1", &["--check", "enforce"]);
    assert_eq!(completed_value(&safe), 2);
    assert_eq!(safe.result["validation"]["status"], "safe");
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn check_warn_attaches_validation_and_off_does_not() {
    require_root!();
    let run = run_json("1 + 1", &["--check", "warn"]);
    assert_eq!(completed_value(&run), 2);
    assert_eq!(run.result["validation"]["status"], "safe");
    let run = run_json("1 + 1", &["--check", "off"]);
    assert_eq!(completed_value(&run), 2);
    assert_eq!(run.result["validation"], Value::Null);
    let stderr = usage_error(&["--check", "strict", "-c", "pass"]);
    assert!(stderr.contains("--check"), "{stderr}");
}

// ---------------------------------------------------------------- a hostile channel

/// Python that writes to the runner's protocol descriptors (1000, and 3 and 4 where it
/// used to be), in `mode`: `forged` well-framed lies, `garbage` random bytes, `huge` a
/// frame header announcing 0xFFFFFFF0 bytes.
fn hostile_code(mode: &str, host_secret: &Path, planted: &Path) -> String {
    format!(
        r#"
import base64, json, os, random, struct
MODE = {mode:?}
HOST_SECRET = {secret:?}
PLANTED = {planted:?}

def frame(obj):
    body = json.dumps(obj).encode()
    return struct.pack(">I", len(body)) + body

def file(name, data):
    return frame({{"type": "file", "name": name, "data": base64.b64encode(data).decode()}})

def chart(data):
    return frame({{"type": "chart", "data": base64.b64encode(data).decode(), "width": 640, "height": 480}})

try:
    open(HOST_SECRET).read()
    print("host secret readable")
except OSError as e:
    print("host secret", type(e).__name__)

if MODE == "forged":
    payload = b"".join([
        file("../../etc/passwd", b"FORGED-PASSWD"),
        file("/etc/shadow", b"FORGED-SHADOW"),
        file("sub/../../escape", b"FORGED-ESCAPE"),
        file(HOST_SECRET, b"FORGED-ABSOLUTE"),
        file(PLANTED, b"FORGED-PLANTED"),
        file(HOST_SECRET.lstrip("/"), b"FORGED-RELATIVE"),
        chart(b"GIF89a this is not a png"),
        chart(b"\x89PNG\r\n\x1a\n" + b"\0" * 32),
        frame({{"type": "done", "outcome": "ok", "exit_code": 0}}),
        frame({{"type": "done", "outcome": "exception", "exit_code": 0}}),
    ])
elif MODE == "garbage":
    payload = random.Random(7).randbytes(4096)
else:
    payload = struct.pack(">I", 0xFFFFFFF0) + b"x" * 64
for fd in (1000, 3, 4):
    try:
        os.write(fd, payload)
        print("wrote", fd)
    except OSError as e:
        print("fd", fd, e.errno)
"#,
        secret = host_secret.display().to_string(),
        planted = planted.display().to_string(),
    )
}

/// What must hold whatever the code wrote on the channel.
fn assert_channel_held(run: &Run, secret: &str, planted: &Path) {
    let raw = format!(
        "{}{}",
        String::from_utf8_lossy(&run.raw.stdout),
        String::from_utf8_lossy(&run.raw.stderr)
    );
    assert!(!raw.contains(secret), "the host file's contents came back");
    assert!(
        run.stdout().contains("host secret FileNotFoundError"),
        "{}",
        run.everything()
    );
    assert!(run.stdout().contains("wrote 1000"), "{}", run.everything());
    // The request and old channel descriptors were closed when the channel moved to 1000.
    const EBADF: i32 = 9;
    for fd in [3, 4] {
        assert!(
            run.stdout().contains(&format!("fd {fd} {EBADF}\n")),
            "{}",
            run.everything()
        );
    }
    for name in file_names(run) {
        assert!(
            !name.contains("..") && !name.starts_with('/'),
            "unsafe file name {name:?}"
        );
    }
    for chart in run.result["charts"].as_array().unwrap() {
        let png = b64decode(chart["data"].as_str().unwrap());
        assert!(png.starts_with(PNG_SIGNATURE), "a chart that is not a PNG");
    }
    assert!(
        !planted.exists(),
        "the host wrote to a path the sandbox named"
    );
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn forged_frames_cannot_name_host_paths_or_fake_charts() {
    require_root!();
    let dir = common::temp_dir("channel");
    let secret = common::canary("host-secret");
    let secret_path = dir.join("secret.txt");
    std::fs::write(&secret_path, &secret).unwrap();
    let planted = dir.join("planted.txt");
    let run = run_json(&hostile_code("forged", &secret_path, &planted), &[]);
    assert_channel_held(&run, &secret, &planted);
    assert_eq!(run.status(), "completed", "{}", run.result);
    assert_eq!(run.result["charts"], json!([]), "forged charts accepted");
    // Only the forged relative name is a file, and it holds only the forged data.
    let files = run.result["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{}", run.result["files"]);
    let relative = secret_path.display().to_string();
    assert_eq!(files[0]["name"], relative.trim_start_matches('/'));
    assert_eq!(
        b64decode(files[0]["data"].as_str().unwrap()),
        b"FORGED-RELATIVE"
    );
    assert_eq!(files[0]["size"], 15);
    let w = warnings(&run);
    assert_eq!(
        w.iter().filter(|w| w.contains("unsafe name")).count(),
        5,
        "{w:?}"
    );
    assert_eq!(
        w.iter().filter(|w| w.contains("not a PNG")).count(),
        2,
        "{w:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not_root,
    ignore = "needs root (per-box host uids, cgroup creation); CI runs as root"
)]
fn garbage_and_huge_frames_on_the_channel_do_not_break_the_host() {
    require_root!();
    let dir = common::temp_dir("garbage");
    let secret = common::canary("host-secret");
    let secret_path = dir.join("secret.txt");
    std::fs::write(&secret_path, &secret).unwrap();
    let planted = dir.join("planted.txt");
    for mode in ["garbage", "huge"] {
        let run = run_json(&hostile_code(mode, &secret_path, &planted), &[]);
        assert_channel_held(&run, &secret, &planted);
        assert_eq!(run.result["exit_code"], 0, "{mode}: {}", run.result);
        let w = warnings(&run);
        assert!(
            w.iter().any(|w| w.contains("refused a frame")),
            "{mode}: {w:?}"
        );
        if mode == "huge" {
            assert!(w.iter().any(|w| w.contains("4294967280")), "{mode}: {w:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
