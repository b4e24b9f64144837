//! The execution request as HTTP callers send it (CONTRACT.md), checked against the
//! operator's and the caller's maximums, and turned into the runtime's request.

use std::collections::BTreeMap;
use std::path::PathBuf;

use airlock_runtime::request::{CheckMode, Grants, InputFile};
use airlock_runtime::ExecutionRequest;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::config::{MaxLimits, ServerConfig};

fn python() -> String {
    "python".into()
}

/// `POST /api/code/execute` and `/execute/async`. Unknown fields are refused (a misspelt
/// limit must not be silently ignored).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    pub code: String,
    #[serde(default = "python")]
    pub language: String,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub timeout: Option<f64>,
    #[serde(default)]
    pub max_memory_mb: Option<u64>,
    #[serde(default)]
    pub max_cpu_percent: Option<f64>,
    #[serde(default)]
    pub max_processes: Option<u32>,
    #[serde(default)]
    pub output_limit: Option<u64>,
    #[serde(default)]
    pub variables: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub files: Vec<FileBody>,
    #[serde(default)]
    pub allow_net: Vec<String>,
    #[serde(default)]
    pub allow_env: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub allow_read: Vec<PathBuf>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub allow_write: Vec<PathBuf>,
    #[serde(default)]
    pub allow_run: bool,
    #[serde(default)]
    pub allow_ffi: bool,
    #[serde(default)]
    pub redact: Option<bool>,
    #[serde(default)]
    pub check: Option<CheckMode>,
    /// Async only: notified (POST of the ExecutionResult) once the job is final.
    #[serde(default)]
    pub callback_url: Option<String>,
}

impl Default for ExecuteBody {
    /// A body with no code and every other field as absent from the JSON.
    fn default() -> ExecuteBody {
        ExecuteBody {
            code: String::new(),
            language: python(),
            env: None,
            timeout: None,
            max_memory_mb: None,
            max_cpu_percent: None,
            max_processes: None,
            output_limit: None,
            variables: BTreeMap::new(),
            files: Vec::new(),
            allow_net: Vec::new(),
            allow_env: Vec::new(),
            allow_read: Vec::new(),
            allow_write: Vec::new(),
            allow_run: false,
            allow_ffi: false,
            redact: None,
            check: None,
            callback_url: None,
        }
    }
}

/// A file for the working directory, its bytes in base64.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    pub name: String,
    pub data: String,
}

/// Refuse a value over its maximum, naming the field.
fn at_most<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: Option<T>,
    max: Option<T>,
) -> Result<(), ApiError> {
    match (value, max) {
        (Some(v), Some(m)) if v > m => Err(ApiError::invalid(
            field,
            format!("{v} is more than the {m} allowed"),
        )),
        _ => Ok(()),
    }
}

impl ExecuteBody {
    /// The environment to run in.
    pub fn env(&self) -> &str {
        self.env
            .as_deref()
            .unwrap_or(airlock_runtime::env::DEFAULT_ENV)
    }

    /// The runtime's request, after the checks only the service makes: the code's size,
    /// the maximums of the operator and of the caller's key, host grants.
    pub fn to_request(
        &self,
        max: &MaxLimits,
        server: &ServerConfig,
    ) -> Result<ExecutionRequest, ApiError> {
        if self.code.len() > server.max_code_bytes {
            return Err(ApiError::too_large(format!(
                "code: {} bytes is more than the {} allowed",
                self.code.len(),
                server.max_code_bytes
            )));
        }
        at_most("timeout", self.timeout, max.timeout)?;
        at_most("max_memory_mb", self.max_memory_mb, max.max_memory_mb)?;
        at_most(
            "max_cpu_percent",
            self.max_cpu_percent,
            max.max_cpu_percent.map(f64::from),
        )?;
        at_most("max_processes", self.max_processes, max.max_processes)?;
        at_most("output_limit", self.output_limit, max.output_limit)?;
        if !server.allow_host_grants {
            for (field, asked) in [
                ("allow_read", !self.allow_read.is_empty()),
                ("allow_write", !self.allow_write.is_empty()),
                ("allow_env", !self.allow_env.is_empty()),
            ] {
                if asked {
                    return Err(ApiError::invalid(
                        field,
                        "host grants are off for HTTP callers (the operator's server.allow_host_grants)",
                    ));
                }
            }
        }
        let defaults = max.defaults();
        let cpu = match self.max_cpu_percent {
            None => defaults.max_cpu_percent,
            Some(c) if c.is_finite() && c >= 1.0 && c <= f64::from(u32::MAX) => c.round() as u32,
            Some(c) => {
                return Err(ApiError::invalid(
                    "max_cpu_percent",
                    format!("{c} is not a percentage of a core (1 or more)"),
                ))
            }
        };
        let mut files = Vec::with_capacity(self.files.len());
        for (i, f) in self.files.iter().enumerate() {
            let data = base64::engine::general_purpose::STANDARD
                .decode(&f.data)
                .map_err(|e| {
                    ApiError::invalid(&format!("files[{i}].data"), format!("not base64: {e}"))
                })?;
            files.push(InputFile {
                name: f.name.clone(),
                data,
            });
        }
        Ok(ExecutionRequest {
            code: self.code.clone(),
            language: self.language.clone(),
            timeout: self.timeout.unwrap_or(defaults.timeout),
            max_memory_mb: self.max_memory_mb.unwrap_or(defaults.max_memory_mb),
            max_cpu_percent: cpu,
            max_processes: self.max_processes.unwrap_or(defaults.max_processes),
            output_limit: self.output_limit.unwrap_or(defaults.output_limit),
            stdin: None,
            grants: Grants {
                allow_env: self.allow_env.clone(),
                allow_read: self.allow_read.clone(),
                allow_write: self.allow_write.clone(),
                allow_net: self.allow_net.clone(),
                allow_ffi: self.allow_ffi,
                insecure_disable: Vec::new(),
            },
            variables: self.variables.clone(),
            files,
            allow_run: self.allow_run,
            redact: self.redact.unwrap_or(defaults.redact),
            check: self.check.unwrap_or(defaults.check),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> ExecuteBody {
        ExecuteBody {
            code: code.into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_the_contracts() {
        let req = body("1")
            .to_request(&MaxLimits::default(), &ServerConfig::default())
            .unwrap();
        let d = ExecutionRequest::default();
        assert_eq!(
            (req.timeout, req.max_memory_mb, req.redact),
            (d.timeout, d.max_memory_mb, true)
        );
        assert_eq!(req.check, CheckMode::Warn);
    }

    #[test]
    fn values_over_a_maximum_are_refused_naming_the_field() {
        let max = MaxLimits {
            timeout: Some(10.0),
            max_memory_mb: Some(256),
            ..Default::default()
        };
        let server = ServerConfig::default();
        let mut b = body("1");
        b.timeout = Some(10.0);
        assert!(
            b.to_request(&max, &server).is_ok(),
            "at the maximum is allowed"
        );
        b.timeout = Some(11.0);
        let e = b.to_request(&max, &server).unwrap_err();
        assert_eq!(e.status, 422);
        assert!(e.message.starts_with("timeout:"), "{}", e.message);
        b.timeout = None;
        b.max_memory_mb = Some(257);
        assert!(b
            .to_request(&max, &server)
            .unwrap_err()
            .message
            .starts_with("max_memory_mb:"));
    }

    #[test]
    fn an_absent_limit_gets_the_default_lowered_to_the_maximum() {
        let max = MaxLimits {
            timeout: Some(10.0),
            max_processes: Some(100),
            ..Default::default()
        };
        let req = body("1")
            .to_request(&max, &ServerConfig::default())
            .unwrap();
        let d = ExecutionRequest::default();
        assert_eq!(req.timeout, 10.0, "the default 30 s is over the maximum");
        assert_eq!(
            req.max_processes, d.max_processes,
            "under the maximum stays"
        );
        assert_eq!(req.max_memory_mb, d.max_memory_mb);
    }

    #[test]
    fn large_code_is_413_and_grants_are_off_by_default() {
        let server = ServerConfig {
            max_code_bytes: 4,
            ..Default::default()
        };
        let e = body("12345")
            .to_request(&MaxLimits::default(), &server)
            .unwrap_err();
        assert_eq!(e.status, 413);
        let mut b = body("1");
        b.allow_read = vec!["/etc".into()];
        let e = b
            .to_request(&MaxLimits::default(), &ServerConfig::default())
            .unwrap_err();
        assert!(e.message.starts_with("allow_read:"), "{}", e.message);
    }

    #[test]
    fn files_must_be_base64() {
        let mut b = body("1");
        b.files = vec![FileBody {
            name: "a.csv".into(),
            data: "!!".into(),
        }];
        let e = b
            .to_request(&MaxLimits::default(), &ServerConfig::default())
            .unwrap_err();
        assert!(e.message.starts_with("files[0].data:"), "{}", e.message);
    }
}
