//! `orbit lsp` as editors start it: LSP clients add `--stdio` (vscode-languageclient with
//! `TransportKind.stdio`) and may add `--clientProcessId=PID`. The server must accept both and answer
//! `initialize` on stdio, and end when the client closes its input.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn spawn(args: &[&str]) -> Child {
    let dir = std::env::temp_dir();
    Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(args)
        .current_dir(&dir)
        .env("ORBIT_LOG", "error")
        .env_remove("ORBIT_NODE")
        .env_remove("ORBIT_COOKIE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn orbit lsp")
}

fn send(child: &mut Child, msg: Value) {
    let body = msg.to_string();
    let stdin = child.stdin.as_mut().expect("stdin");
    write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
    stdin.flush().expect("flush");
}

/// Reads framed messages on a thread, so a silent server fails the test instead of hanging it.
fn reader(stdout: ChildStdout) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut input = BufReader::new(stdout);
        loop {
            let mut len = None;
            loop {
                let mut line = String::new();
                if input.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(v) = line.strip_prefix("Content-Length:") {
                    len = v.trim().parse::<usize>().ok();
                }
            }
            let Some(len) = len else { return };
            let mut body = vec![0; len];
            if input.read_exact(&mut body).is_err() {
                return;
            }
            let Ok(v) = serde_json::from_slice(&body) else { return };
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    rx
}

/// The response to request `id`, skipping notifications and server requests; on none, fails with
/// what the server wrote on stderr (e.g. clap refusing an argument).
fn response(child: &mut Child, rx: &mpsc::Receiver<Value>, id: i64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if v["id"] == json!(id) && v.get("method").is_none() => return v,
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no response to request {id} within {limit:?} ({e}); stderr: {}", stderr_of(child))
            }
        }
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("orbit lsp still running {limit:?} after its client was done");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

fn initialize(pid: u32) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": pid, "rootUri": null, "capabilities": {}, "initializationOptions": {}
    }})
}

#[test]
fn lsp_accepts_the_arguments_editors_pass_and_answers_initialize() {
    let me = std::process::id();
    let with_pid = format!("--clientProcessId={me}");
    let cases: [&[&str]; 4] = [
        &["lsp", "--stdio"],
        &["lsp", "--stdio", &with_pid],
        &["lsp", "--clientProcessId", "4242", "--stdio"],
        &["lsp"],
    ];
    for args in cases {
        let mut child = spawn(args);
        let rx = reader(child.stdout.take().expect("stdout"));
        send(&mut child, initialize(me));
        let init = response(&mut child, &rx, 1, Duration::from_secs(30));
        assert!(init["result"]["capabilities"].is_object(), "orbit {args:?}: initialize answered {init}");
        send(&mut child, json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
        send(&mut child, json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": null}));
        let down = response(&mut child, &rx, 2, Duration::from_secs(30));
        assert!(down.get("error").is_none(), "orbit {args:?}: shutdown answered {down}");
        send(&mut child, json!({"jsonrpc": "2.0", "method": "exit", "params": null}));
        let status = wait_exit(&mut child, Duration::from_secs(20));
        assert!(status.success(), "orbit {args:?} exited {status}: {}", stderr_of(&mut child));
    }
}

#[test]
fn lsp_ends_when_its_client_closes_the_input() {
    let mut child = spawn(&["lsp", "--stdio"]);
    let rx = reader(child.stdout.take().expect("stdout"));
    send(&mut child, initialize(std::process::id()));
    response(&mut child, &rx, 1, Duration::from_secs(30));
    drop(child.stdin.take());
    wait_exit(&mut child, Duration::from_secs(20));
}

#[test]
fn lsp_help_does_not_list_the_conventional_arguments_but_other_unknown_ones_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_orbit")).args(["lsp", "--help"]).output().expect("orbit lsp --help");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--cookie-file"), "{help}");
    assert!(!help.contains("--stdio") && !help.contains("clientProcessId"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_orbit"))
        .args(["lsp", "--socket=5007"])
        .stdin(Stdio::null())
        .output()
        .expect("orbit lsp --socket");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
