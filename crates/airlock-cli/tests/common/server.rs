//! A real `airlock serve` on a loopback port, for the service's tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

/// A running server with its own data dir (database) and configuration.
pub struct Server {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    pub client: Client,
}

impl Server {
    /// Start a server whose configuration is `config` (TOML) in a new data dir.
    pub fn start(config: &str) -> Server {
        let data = super::temp_dir("serve");
        std::fs::write(data.join("airlock.toml"), config).unwrap();
        Server::start_in(&data)
    }

    /// Start (or restart) a server on the data dir and configuration of `data`.
    pub fn start_in(data: &Path) -> Server {
        Server::launch(data, &[])
    }

    /// Start a server with these environment variables set (an `AIRLOCK_HOME` of its own
    /// for its environments, a package index …).
    pub fn start_with_env(config: &str, vars: &[(&str, &str)]) -> Server {
        let data = super::temp_dir("serve");
        std::fs::write(data.join("airlock.toml"), config).unwrap();
        Server::launch(&data, vars)
    }

    fn launch(data: &Path, vars: &[(&str, &str)]) -> Server {
        let mut command = super::airlock();
        command.envs(vars.iter().copied());
        let mut child = command
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--config")
            .arg(data.join("airlock.toml"))
            .env("AIRLOCK_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(180);
        let base = loop {
            let line = lines
                .next()
                .expect("the server ended before listening")
                .unwrap();
            eprintln!("server: {line}");
            if let Some(rest) = line.strip_prefix("airlock: listening on ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "the server did not start");
        };
        // Keep draining its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || {
            lines.for_each(|l| eprintln!("server: {}", l.unwrap_or_default()))
        });
        Server {
            child,
            base,
            data: data.to_path_buf(),
            client: Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(format!("{}{path}", self.base))
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.base)).json(body)
    }

    /// Send and return (status, JSON body).
    pub fn call(&self, request: RequestBuilder) -> (u16, Value) {
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    /// Poll an execution until it is final (not pending or running).
    pub fn wait_final(&self, id: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.call(self.get(&format!("/api/code/execution/{id}")));
            assert_eq!(status, 200, "{body}");
            if !matches!(body["status"].as_str(), Some("pending" | "running")) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{id} is still {}",
                body["status"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send `signal` and wait for the process to end; its exit status. The data dir stays
    /// (for a restart or a look at it; the caller removes it).
    pub fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
