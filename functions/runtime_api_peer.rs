//! A Lambda Runtime API on loopback for the functions' runtime-contract tests (compiled into each
//! function's tests with `#[path]`): it hands out scripted invocations on
//! `GET /runtime/invocation/next`, records every other request (init errors, invocation
//! responses and errors), and runs a function's real binary against itself.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request the function made to the Runtime API.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The peer: its address for `AWS_LAMBDA_RUNTIME_API`, and what the function sent it.
pub struct RuntimeApiPeer {
    pub address: String,
    recorded: Receiver<Recorded>,
}

impl RuntimeApiPeer {
    /// Starts the peer with `invocations` (request id, payload bytes) to hand out in order;
    /// after the last one `next` never answers, as a real Runtime API with no work waits.
    pub fn start(invocations: Vec<(String, Vec<u8>)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("local address").to_string();
        let (sender, recorded) = channel();
        let queue = Arc::new(Mutex::new(VecDeque::from(invocations)));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let sender = sender.clone();
                let queue = queue.clone();
                std::thread::spawn(move || serve(stream, &sender, &queue));
            }
        });
        Self { address, recorded }
    }

    /// The next request other than `next`, waiting at most `timeout`.
    pub fn recorded(&self, timeout: Duration) -> Option<Recorded> {
        self.recorded.recv_timeout(timeout).ok()
    }

    /// Runs `binary` against this peer with the Lambda variables set and `environment` added.
    pub fn run(&self, binary: &str, environment: &[(&str, &str)]) -> Child {
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &self.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "argus-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .envs(environment.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.spawn().expect("start the function")
    }
}

/// Reads what the function wrote to stdout and stderr once it has exited by itself (as a
/// function whose init failed does), waiting at most `timeout` before ending it.
pub fn exited(child: Child, timeout: Duration) -> (String, String) {
    let id = child.id();
    let (sender, receiver) = channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(timeout) {
        Ok(Ok(output)) => (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
        Ok(Err(error)) => panic!("function output: {error}"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("the function did not exit within {timeout:?}")
        }
    }
}

/// Reads what the function wrote to stdout and stderr after ending it.
pub fn stop(mut child: Child) -> (String, String) {
    let _ = child.kill();
    let output = child.wait_with_output().expect("function output");
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Exactly one line names the error, and every line the function wrote is a JSON object.
pub fn assert_logged_once_as_json(stdout: &str, stderr: &str, error_type: &str) {
    for line in stdout.lines().chain(stderr.lines()) {
        let parsed: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| {
            panic!("not a JSON line ({error}): {line}\n{stdout}\n{stderr}")
        });
        assert!(parsed.is_object(), "{line}");
    }
    let mentions = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.contains(error_type))
        .count();
    assert_eq!(
        mentions, 1,
        "{error_type} logged {mentions} times:\n{stdout}\n{stderr}"
    );
}

fn serve(stream: TcpStream, sender: &Sender<Recorded>, queue: &Mutex<VecDeque<(String, Vec<u8>)>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    // Keep-alive: the runtime's client sends several requests over one connection.
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let next = queue
                .lock()
                .map(|mut queue| queue.pop_front())
                .ok()
                .flatten();
            let Some((request_id, payload)) = next else {
                // No more work: hold the connection, as the real API does until an event comes.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: 4102444800000\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:argus-test\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n",
                payload.len()
            );
            if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&payload).is_err() {
                return;
            }
            continue;
        }
        let _ = sender.send(Recorded {
            method,
            path,
            headers,
            body,
        });
        let answer = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
