//! What the benches that drive the real binary share: a server on a data folder, and the command line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// A running `cartable serve`; killed on drop.
pub struct Server(Child);

/// A `cartable serve` on the data folder (and database); its address. Its log level is `CARTABLE_BENCH_LOG` (`warn`).
pub fn start_server(data: &std::path::Path, database: Option<&str>) -> (Server, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cartable"));
    command.arg("--data").arg(data);
    if let Some(url) = database {
        command.arg("--database-url").arg(url);
    }
    let mut child_process = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CARTABLE_LOG", std::env::var("CARTABLE_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server");
    let stdout = child_process.stdout.take().unwrap();
    let server = Server(child_process);
    let mut base = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(url) = line.strip_prefix("listening on ") {
            base = url.trim().to_owned();
            break;
        }
    }
    assert!(!base.is_empty(), "the server did not start");
    (server, base)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn cartable(data: &std::path::Path, database: Option<&str>, args: &[&str], stdin: Option<&str>) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cartable"));
    command.arg("--data").arg(data).arg("--json");
    if let Some(url) = database {
        command.arg("--database-url").arg(url);
    }
    let mut child = command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("run cartable");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "cartable {args:?} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

