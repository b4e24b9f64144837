//! Masking of secret-looking values in what a run hands back (stdout, stderr, the
//! exception, string return values), before anything leaves airlock.
//!
//! Code that was given a key (through `--allow-env`, a file, a variable) and prints it,
//! or a library that echoes a connection string in an error, should not put that secret
//! in a log, a UI or an LLM transcript. Patterns are deliberately specific — a recognisable
//! token shape, or a value introduced by a name such as `password=` — so ordinary output
//! is left alone. The label that says what was masked stays visible.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

struct Rule {
    pattern: Regex,
    /// How the match is rewritten (`$name` refers to a capture group).
    replacement: &'static str,
}

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        [
            // PEM private keys, whole block.
            (
                r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
                "-----BEGIN ${1}PRIVATE KEY----- [REDACTED]",
            ),
            // URLs with credentials: keep scheme, user and host, mask the password.
            (
                r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s@/]+(?P<post>@)",
                "${pre}[REDACTED]${post}",
            ),
            // JSON Web Tokens.
            (r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", MASK),
            // Provider keys with recognisable prefixes.
            (r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,}", "sk-[REDACTED]"),
            (r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}", MASK),
            (r"\bgithub_pat_[A-Za-z0-9_]{30,}", MASK),
            (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", MASK),
            (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", MASK),
            (r"\bAIza[0-9A-Za-z_-]{35}\b", MASK),
            (r"\b(?:rk|pk|sk)_(?:live|test)_[A-Za-z0-9]{16,}", MASK),
            // Authorization headers.
            (r"(?i)\b(?P<pre>bearer\s+)[A-Za-z0-9._~+/=-]{12,}", "${pre}[REDACTED]"),
            // name=value / name: value for secret-sounding names.
            (
                r#"(?i)(?P<pre>\b(?:password|passwd|pwd|secret|secret_key|token|access_token|refresh_token|api_key|apikey|auth_token|private_key|client_secret)\b["']?\s*[:=]\s*["']?)[^\s"',;&]{3,}"#,
                "${pre}[REDACTED]",
            ),
        ]
        .into_iter()
        .map(|(p, replacement)| Rule {
            pattern: Regex::new(p).expect("redaction pattern compiles"),
            replacement,
        })
        .collect()
    })
}

/// `text` with every secret-looking value masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for rule in rules() {
        if rule.pattern.is_match(&out) {
            out = Cow::Owned(
                rule.pattern
                    .replace_all(&out, rule.replacement)
                    .into_owned(),
            );
        }
    }
    out
}

/// Mask every string inside a JSON value (a return value's strings, keys included).
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(masked) = redact(s) {
                *s = masked;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            let entries: Vec<(String, serde_json::Value)> =
                std::mem::take(map).into_iter().collect();
            for (k, mut v) in entries {
                redact_json(&mut v);
                map.insert(redact(&k).into_owned(), v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_every_documented_shape_are_masked() {
        let cases = [
            ("key sk-abcdefghijklmnopqrstuvwxyz123456", "sk-abcdefghijklmnop"),
            ("OPENAI=sk-proj-AbCdEfGhIjKlMnOpQrStUv", "AbCdEfGhIjKl"),
            ("token ghp_0123456789abcdefghijklmnopqrstuvwxyz", "ghp_0123456789"),
            ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
            ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012"),
            ("Authorization: Bearer abc.def.ghijklmnopqrst", "abc.def.ghijklmnopqrst"),
            ("password=hunter2!", "hunter2"),
            ("{\"api_key\": \"0123456789abcdef\"}", "0123456789abcdef"),
            ("SECRET: s3cr3tvalue", "s3cr3tvalue"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "dozjgNryP4J3",
            ),
            ("postgres://admin:Sup3rS3cret@db.internal:5432/prod", "Sup3rS3cret"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc\n-----END RSA PRIVATE KEY-----",
                "MIIEowIBAAKCAQEAx",
            ),
        ];
        for (text, secret) in cases {
            let masked = redact(text);
            assert!(!masked.contains(secret), "{text:?} -> {masked:?}");
            assert!(masked.contains("REDACTED"), "{text:?} -> {masked:?}");
        }
    }

    #[test]
    fn ordinary_output_is_left_alone() {
        for text in [
            "factor mean 0.0215, std 1.3",
            "https://example.com/path?x=1",
            "the password field is required",
            "sk-short",
            "DataFrame shape (10000, 5)",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn credentials_in_urls_keep_user_and_host() {
        assert_eq!(
            redact("mysql://reader:pw123@10.0.0.5/db"),
            "mysql://reader:[REDACTED]@10.0.0.5/db"
        );
    }

    #[test]
    fn json_strings_and_keys_are_masked() {
        let mut v = serde_json::json!({"k": ["password=abc123"], "sk-abcdefghijklmnopqrstu": 1});
        redact_json(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("abc123") && !text.contains("abcdefghijklmnopqrstu"),
            "{text}"
        );
    }
}
