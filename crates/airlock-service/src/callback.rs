//! `callback_url`: once an async job is final, its ExecutionResult is POSTed there,
//! retried with backoff, from a queue in the store that outlives restarts ([`delivery`]).
//! Only to hosts the operator lists (`server.callback_hosts`), so a caller cannot make the
//! service reach into its own network.

pub mod delivery;

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
