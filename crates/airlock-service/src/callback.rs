//! `callback_url`: once an async job is final, its ExecutionResult is POSTed there,
//! retried with backoff. Only to hosts the operator lists (`server.callback_hosts`), so a
//! caller cannot make the service reach into its own network.

use std::time::Duration;

/// Attempts before a callback is given up (waits 1, 2, 4, 8 s between them).
const ATTEMPTS: u32 = 5;

/// Check that `url` is http(s) to an allowed `host` or `host:port`.
pub fn check_url(url: &str, allowed: &[String]) -> Result<(), String> {
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?} is not an http or https URL"));
    }
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let host_port = format!("{host}:{port}");
    if allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(&host_port))
    {
        Ok(())
    } else {
        Err(format!(
            "{host_port} is not a host the operator allows callbacks to (server.callback_hosts)"
        ))
    }
}

/// POST `result` to `url` in the background until it is taken (2xx) or the attempts run
/// out.
pub fn deliver(url: String, result: serde_json::Value) {
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => return tracing::error!("callback {url}: {e}"),
        };
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            match client.post(&url).json(&result).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => tracing::warn!("callback {url}: attempt {attempt}: {}", r.status()),
                Err(e) => tracing::warn!("callback {url}: attempt {attempt}: {e}"),
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        tracing::error!("callback {url}: given up after {ATTEMPTS} attempts");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts() {
        let allowed = ["127.0.0.1:9000".to_string(), "hooks.example".to_string()];
        assert!(check_url("http://127.0.0.1:9000/done", &allowed).is_ok());
        assert!(check_url("https://hooks.example/x", &allowed).is_ok());
        for bad in [
            "http://127.0.0.1:9001/",
            "http://10.0.0.1/",
            "ftp://hooks.example/",
            "not a url",
        ] {
            assert!(check_url(bad, &allowed).is_err(), "{bad}");
        }
    }
}
