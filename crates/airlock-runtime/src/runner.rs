//! The host side of the Python runner (`runner/runner.py`, embedded here and placed
//! read-only in every sandbox): the request it is sent and the decoding of what it sends
//! back.
//!
//! Everything that comes back is untrusted — the user's code shares the runner's process
//! and can write to the channel itself. So every frame is size-capped and parsed into
//! fixed shapes; chart sizes are read from the PNG bytes, never from a claim; file names
//! are reduced to safe relative paths and their sizes and hashes computed here; nothing
//! is ever written to a path the sandbox named.

use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The runner's source, a real Python file in the repository.
pub const RUNNER_SOURCE: &str = include_str!("../runner/runner.py");
/// Where the runner sits in the sandbox (read-only, like all airlock puts there).
pub const RUNNER_PATH: &str = "/airlock/runner.py";
/// A warm pool's template (`runner/zygote.py`): imports once, forks a runner per request.
pub const ZYGOTE_SOURCE: &str = include_str!("../runner/zygote.py");
pub const ZYGOTE_PATH: &str = "/airlock/zygote.py";
/// Names bound in the code's globals before it runs (alias, module), each only when the
/// environment has the module; imported on first use. The runner's `PREBOUND` is the
/// same list (a test holds them together).
pub const PREBOUND: &[(&str, &str)] = &[
    ("np", "numpy"),
    ("pd", "pandas"),
    ("plt", "matplotlib.pyplot"),
    ("sns", "seaborn"),
];
/// The directory of the working dir whose files come back in the result.
pub const OUTPUTS_DIR: &str = "outputs";
/// The file name the user's code carries in tracebacks.
pub const CODE_FILENAME: &str = "main.py";
const PROTOCOL_VERSION: u64 = 1;

/// Caps on what the runner sends back.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Caps {
    pub charts: usize,
    pub chart_bytes: usize,
    pub files: usize,
    pub file_bytes: usize,
    /// Rows of a DataFrame/Series (and items of a list) in the return value.
    pub rows: usize,
    /// Characters of a string in the return value.
    pub text: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            charts: 20,
            chart_bytes: 5 << 20,
            files: 50,
            file_bytes: 20 << 20,
            rows: 1000,
            text: 100_000,
        }
    }
}

impl Caps {
    /// Bytes the channel may carry: every chart and file at their caps (base64), the
    /// value, the exception and frame overhead.
    pub fn channel_bytes(&self) -> u64 {
        let payload = self.charts * self.chart_bytes + self.file_bytes;
        (payload as u64 * 4 / 3) + (16 << 20)
    }

    /// Largest single frame accepted.
    pub fn frame_bytes(&self) -> usize {
        self.chart_bytes.max(self.file_bytes) * 4 / 3 + (1 << 20)
    }
}

/// One length-prefixed JSON frame.
pub fn frame(value: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// A chart, with dimensions read from its PNG header.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct Chart {
    pub format: &'static str,
    pub data: String,
    pub width: u32,
    pub height: u32,
}

/// A file the code wrote to ./outputs/.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub data: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerException {
    pub kind: String,
    pub message: String,
    pub traceback: String,
    pub line: Option<u32>,
}

/// How the runner says the code ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Completed,
    Exception,
    /// SystemExit with a non-zero status.
    Exited(i32),
}

/// Everything decoded from the channel.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub value: Option<serde_json::Value>,
    pub exception: Option<RunnerException>,
    pub charts: Vec<Chart>,
    pub files: Vec<OutputFile>,
    pub ending: Option<Ending>,
    /// The runner could not do its job (it says why).
    pub runner_error: Option<String>,
    /// Things left out and frames refused, for the caller to see.
    pub warnings: Vec<String>,
}

const MAX_WARNINGS: usize = 50;

fn text(v: &serde_json::Value, key: &str, cap: usize) -> Option<String> {
    v.get(key)?.as_str().map(|s| s.chars().take(cap).collect())
}

/// The bodies of the length-prefixed frames in `bytes`, each at most `max` bytes, and why
/// the rest could not be split (a frame cut short, or one too large to be trusted).
pub fn split_frames(bytes: &[u8], max: usize) -> (Vec<&[u8]>, Option<String>) {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return (
                frames,
                Some("the runner's channel ended inside a frame".into()),
            );
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > max || len > rest.len() - 4 {
            return (
                frames,
                Some(format!(
                    "refused a frame of {len} bytes (malformed or over the limit)"
                )),
            );
        }
        frames.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    (frames, None)
}

/// The exit code the runner announced in its last frame ("done"), once that frame has
/// arrived whole: a warm run ends there (see `airlock_jail::EndOfRun`). Frames are
/// skipped by their length; only a small last frame is parsed.
pub fn announced_end(channel: &[u8]) -> Option<i32> {
    let mut rest = channel;
    let mut last = None;
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let body = rest.get(4..4 + len)?;
        last = Some(body);
        rest = &rest[4 + len..];
    }
    let body = last.filter(|b| b.len() <= 512)?;
    let frame: serde_json::Value = serde_json::from_slice(body).ok()?;
    if frame.get("type")?.as_str()? != "done" {
        return None;
    }
    let code = frame.get("exit_code")?.as_i64()?;
    i32::try_from(code).ok()
}

/// Width and height of a PNG, or None when the bytes are not one.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    (w > 0 && h > 0 && w <= 100_000 && h <= 100_000).then_some((w, h))
}

/// A name for an output file: a relative path of plain components, printable, bounded.
pub fn safe_relative_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 1024 || name.chars().any(|c| c.is_control()) {
        return None;
    }
    let path = Path::new(name);
    let parts: Vec<&str> = path
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str().filter(|p| p.len() <= 255),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| {
        parts
            .iter()
            .collect::<PathBuf>()
            .to_string_lossy()
            .into_owned()
    })
}

impl Report {
    fn warn(&mut self, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message.chars().take(1000).collect());
        }
    }

    /// Decode the channel's bytes. Never fails: what cannot be decoded is a warning.
    pub fn decode(bytes: &[u8], truncated: bool, caps: &Caps) -> Report {
        let mut report = Report::default();
        let mut file_bytes = 0usize;
        let (frames, broken) = split_frames(bytes, caps.frame_bytes());
        for body in frames {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(frame) => report.take(&frame, caps, &mut file_bytes),
                Err(e) => report.warn(format!("refused a frame that is not JSON: {e}")),
            }
        }
        if let Some(why) = broken {
            report.warn(why);
        }
        if truncated {
            report.warn(
                "the runner's output went over the channel limit; the rest was dropped".into(),
            );
        }
        report
    }

    fn take(&mut self, frame: &serde_json::Value, caps: &Caps, file_bytes: &mut usize) {
        let b64 = base64::engine::general_purpose::STANDARD;
        match frame.get("type").and_then(|t| t.as_str()) {
            Some("hello") => {
                if frame.get("version").and_then(|v| v.as_u64()) != Some(PROTOCOL_VERSION) {
                    self.warn(format!("runner speaks protocol {:?}", frame.get("version")));
                }
            }
            Some("value") => self.value = frame.get("value").cloned(),
            Some("exception") => {
                self.exception = Some(RunnerException {
                    kind: text(frame, "exc_type", 200).unwrap_or_else(|| "Exception".into()),
                    message: text(frame, "message", 64 << 10).unwrap_or_default(),
                    traceback: text(frame, "traceback", 256 << 10).unwrap_or_default(),
                    line: frame
                        .get("line")
                        .and_then(|l| l.as_u64())
                        .and_then(|l| u32::try_from(l).ok()),
                })
            }
            Some("chart") => {
                let decoded = frame
                    .get("data")
                    .and_then(|d| d.as_str())
                    .and_then(|d| b64.decode(d).ok());
                match decoded {
                    Some(bytes)
                        if self.charts.len() >= caps.charts || bytes.len() > caps.chart_bytes =>
                    {
                        self.warn(format!(
                            "a chart was left out (over {} charts or {} bytes)",
                            caps.charts, caps.chart_bytes
                        ))
                    }
                    Some(bytes) => match png_size(&bytes) {
                        Some((width, height)) => self.charts.push(Chart {
                            format: "png",
                            data: b64.encode(&bytes),
                            width,
                            height,
                        }),
                        None => self.warn("refused a chart that is not a PNG".into()),
                    },
                    None => self.warn("refused a chart without base64 data".into()),
                }
            }
            Some("file") => {
                let name = frame
                    .get("name")
                    .and_then(|n| n.as_str())
                    .and_then(safe_relative_name);
                let data = frame
                    .get("data")
                    .and_then(|d| d.as_str())
                    .and_then(|d| b64.decode(d).ok());
                match (name, data) {
                    (Some(name), Some(bytes)) => {
                        if self.files.len() >= caps.files
                            || *file_bytes + bytes.len() > caps.file_bytes
                        {
                            self.warn(format!(
                                "output file {name} left out: over {} files or {} bytes",
                                caps.files, caps.file_bytes
                            ));
                        } else if self.files.iter().any(|f| f.name == name) {
                            self.warn(format!("output file {name} sent twice; the first is kept"));
                        } else {
                            *file_bytes += bytes.len();
                            self.files.push(OutputFile {
                                sha256: format!("{:x}", Sha256::digest(&bytes)),
                                size: bytes.len() as u64,
                                data: b64.encode(&bytes),
                                name,
                            });
                        }
                    }
                    _ => self.warn("refused an output file with an unsafe name or bad data".into()),
                }
            }
            Some("warning") => {
                if let Some(message) = text(frame, "message", 1000) {
                    self.warn(message);
                }
            }
            Some("error") => self.runner_error = text(frame, "message", 4000),
            Some("done") => {
                let exit = frame.get("exit_code").and_then(|c| c.as_i64()).unwrap_or(0) as i32;
                self.ending = match frame.get("outcome").and_then(|o| o.as_str()) {
                    Some("ok") => Some(Ending::Completed),
                    Some("exception") => Some(Ending::Exception),
                    Some("exit") => Some(Ending::Exited(exit)),
                    _ => None,
                };
            }
            other => self.warn(format!("ignored a frame of unknown type {other:?}")),
        }
    }
}

#[cfg(test)]
mod announced_end_tests {
    use super::announced_end;

    fn frame(v: serde_json::Value) -> Vec<u8> {
        let body = v.to_string().into_bytes();
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn only_a_whole_last_done_frame_ends_a_run() {
        let hello = frame(serde_json::json!({"type": "hello", "version": 1}));
        let done = frame(serde_json::json!({"type": "done", "outcome": "exit", "exit_code": 3}));
        let mut all = hello.clone();
        all.extend(&done);
        assert_eq!(announced_end(&all), Some(3));
        assert_eq!(announced_end(&hello), None);
        assert_eq!(
            announced_end(&all[..all.len() - 1]),
            None,
            "a partial frame"
        );
        let mut after = all.clone();
        after.extend(&hello);
        assert_eq!(announced_end(&after), None, "done must be the last frame");
        assert_eq!(announced_end(b"\xff\xff\xff\xffgarbage"), None);
        let odd = frame(serde_json::json!({"type": "done", "exit_code": "nope"}));
        assert_eq!(announced_end(&odd), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_binds_the_names_the_host_announces() {
        let tuples: Vec<String> = PREBOUND
            .iter()
            .map(|(alias, module)| format!("(\"{alias}\", \"{module}\")"))
            .collect();
        let line = format!("PREBOUND = ({})", tuples.join(", "));
        assert!(
            RUNNER_SOURCE.lines().any(|l| l == line),
            "runner.py must say: {line}"
        );
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0]);
        b
    }

    fn frames(values: &[serde_json::Value]) -> Vec<u8> {
        values.iter().flat_map(frame).collect()
    }

    #[test]
    fn charts_take_their_size_from_the_png_not_the_claim() {
        let data = base64::engine::general_purpose::STANDARD.encode(png(640, 480));
        let bytes =
            frames(&[serde_json::json!({"type": "chart", "data": data, "width": 1, "height": 1})]);
        let r = Report::decode(&bytes, false, &Caps::default());
        assert_eq!((r.charts[0].width, r.charts[0].height), (640, 480));
        let fake = base64::engine::general_purpose::STANDARD.encode(b"GIF89a not a png");
        let r = Report::decode(
            &frames(&[serde_json::json!({"type": "chart", "data": fake})]),
            false,
            &Caps::default(),
        );
        assert!(r.charts.is_empty() && !r.warnings.is_empty());
    }

    #[test]
    fn file_names_are_reduced_to_safe_relative_paths() {
        assert_eq!(
            safe_relative_name("report.csv").as_deref(),
            Some("report.csv")
        );
        assert_eq!(
            safe_relative_name("sub/dir/x.png").as_deref(),
            Some("sub/dir/x.png")
        );
        for bad in [
            "../../etc/passwd",
            "/etc/passwd",
            "a/../../b",
            "",
            "x\u{1b}[2J",
            "./",
        ] {
            assert_eq!(safe_relative_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn garbage_on_the_channel_never_panics() {
        let caps = Caps::default();
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff; 3],
            vec![0xff, 0xff, 0xff, 0xff, 1, 2],
            vec![0, 0, 0, 5, b'{', b'"', b'a'],
            frame(&serde_json::json!([1, 2, 3])),
            frame(&serde_json::json!({"type": "file", "name": "../x", "data": "!!"})),
            frame(&serde_json::json!({"type": "exception", "line": -5, "message": 7})),
            frame(&serde_json::json!({"type": "done", "outcome": "ok", "exit_code": "nope"})),
        ];
        // Deterministic pseudo-random bytes.
        let mut x: u32 = 12345;
        inputs.push(
            (0..4096)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect(),
        );
        for bytes in inputs {
            let r = Report::decode(&bytes, false, &caps);
            assert!(r.files.iter().all(|f| !f.name.contains("..")));
        }
    }

    #[test]
    fn output_files_are_capped_and_hashed_here() {
        let caps = Caps {
            files: 2,
            ..Caps::default()
        };
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let bytes = frames(&[
            serde_json::json!({"type": "file", "name": "a.txt", "data": b64(b"abc"), "size": 999}),
            serde_json::json!({"type": "file", "name": "b.txt", "data": b64(b"d")}),
            serde_json::json!({"type": "file", "name": "c.txt", "data": b64(b"e")}),
        ]);
        let r = Report::decode(&bytes, false, &caps);
        assert_eq!(r.files.len(), 2);
        assert_eq!(r.files[0].size, 3, "the size is counted, not claimed");
        assert_eq!(
            r.files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(r.warnings.len(), 1);
    }
}
