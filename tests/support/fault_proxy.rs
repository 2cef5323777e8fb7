//! The stressed AWS of `fault_proxy.py` in front of a moto server: throttling, server errors,
//! lost answers, latency, Lambda's settle time, and a SIGKILL of the client after its k-th
//! write. Stopped when dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::moto::{request, MotoServer};

pub struct FaultProxy {
    pub port: u16,
    child: Child,
}

impl FaultProxy {
    /// Starts the proxy in front of `moto` with the given flags (`--throttle 0.3`, ...).
    pub fn start(moto: &MotoServer, flags: &[&str]) -> FaultProxy {
        let mut child = Command::new(super::python())
            .arg(super::repo_root().join("tests/support/fault_proxy.py"))
            .args(["--upstream", &moto.endpoint()])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python runs fault_proxy.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the proxy's stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the proxy prints its port");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("fault_proxy.py printed {line:?}, not its port"));
        FaultProxy { port, child }
    }

    /// The environment that sends a process's AWS calls through the proxy.
    pub fn aws_env(&self, moto: &MotoServer) -> Vec<(String, String)> {
        let mut env = moto.aws_env();
        for (key, value) in &mut env {
            if key == "AWS_ENDPOINT_URL" {
                *value = format!("http://127.0.0.1:{}", self.port);
            }
        }
        env
    }

    /// Changes the faults (`{"throttle": 0, "kill_after_write": 3}`, ...).
    pub fn configure(&self, config: serde_json::Value) {
        self.post("/__proxy/config", &config.to_string());
    }

    /// Runs `command` (a deploy through this proxy) and SIGKILLs it right after moto
    /// answered its `k`-th write; the proxy's stats of that run. Fails unless it was killed.
    pub fn killed_after(&self, k: usize, mut command: std::process::Command) -> serde_json::Value {
        self.post("/__proxy/reset-stats", "{}");
        self.configure(serde_json::json!({"kill_after_write": k}));
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        self.client_pid(child.id());
        let output = child.wait_with_output().expect("waits");
        let stats = self.stats();
        self.configure(serde_json::json!({"kill_after_write": 0}));
        assert_eq!(
            stats["killed"],
            serde_json::json!(true),
            "k={k}: the deploy was not killed: {stats:#}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "k={k}: a killed deploy exited 0");
        stats
    }

    /// The process to SIGKILL after its k-th write.
    pub fn client_pid(&self, pid: u32) {
        self.post(
            "/__proxy/client-pid",
            &serde_json::json!({ "pid": pid }).to_string(),
        );
    }

    /// Calls seen and faults injected since the start (or the last reset).
    pub fn stats(&self) -> serde_json::Value {
        let response = request(self.port, "GET", "/__proxy/stats", "")
            .expect("the proxy answers /__proxy/stats");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("stats {body:?}: {e}"))
    }

    /// Posts to a control endpoint (`/__proxy/reset-stats`, ...); panics unless it answers 200.
    pub fn post(&self, path: &str, body: &str) {
        let response = request(self.port, "POST", path, body)
            .unwrap_or_else(|| panic!("the proxy does not answer {path}"));
        assert!(
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
            "{path}: {response}"
        );
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
