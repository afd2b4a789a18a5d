//! Runs the real `cartable` binary on one vault, the way operators and scripts do.
#![allow(dead_code)] // each test binary uses its own part

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The command line on one data folder (and database, when not the embedded SQLite).
pub struct Cli {
    pub data: PathBuf,
    pub database_url: Option<String>,
}

impl Cli {
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cartable"));
        cmd.arg("--data").arg(&self.data);
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.args(args).env_remove("CARTABLE_DATABASE_URL").env_remove("CARTABLE_DATA");
        cmd
    }

    /// Runs a command, feeding `stdin` when given.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // A command that refuses its arguments exits before reading its input: a broken pipe is its answer.
            if let Err(e) = input.write_all(s.as_bytes()) {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
            }
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json` and returns the one JSON object printed; panics with stderr on failure.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_in(args, None)
    }

    pub fn json_in(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all, stdin);
        assert!(out.status.success(), "cartable {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON object ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs a command that must fail; returns its one-line error.
    pub fn fails(&self, args: &[&str]) -> String {
        failure_line(args, &self.run(args, None))
    }
}

/// The error of a failed run: exactly one line, `error: …`, never a panic or a backtrace.
pub fn failure_line(args: &[&str], out: &Output) -> String {
    assert!(!out.status.success(), "{args:?} should have failed");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: the error must be one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    lines[0].to_owned()
}
