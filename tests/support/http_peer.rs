//! A small HTTP/1.1 peer on 127.0.0.1 for wire-protocol and fault-injection tests: it answers
//! each request as the test's handler says, either itself (a scripted AWS answer or fault) or by
//! forwarding it to an upstream peer (DynamoDB Local, moto) and relaying the answer. Every
//! request is recorded. It stops when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A request or response as read off the wire, its body de-chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMessage {
    /// `POST / HTTP/1.1`, or `HTTP/1.1 200 OK`.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpMessage {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn path(&self) -> &str {
        self.start_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
    }

    /// The operation of an AWS JSON request (`x-amz-target: DynamoDB_20120810.PutItem` →
    /// `PutItem`), or the last path segment of an RPC v2 request.
    pub fn operation(&self) -> String {
        match self.header("x-amz-target") {
            Some(target) => target.rsplit('.').next().unwrap_or_default().to_string(),
            None => self
                .path()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A response with a body and its content type.
    pub fn response(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            start_line: format!(
                "HTTP/1.1 {status} {}",
                if status < 400 { "OK" } else { "Error" }
            ),
            headers: vec![
                ("content-type".to_string(), content_type.to_string()),
                (
                    "x-amzn-requestid".to_string(),
                    "3b8c7a52-8f0e-4d2b-9a51-6f0d1c2e4b7a".to_string(),
                ),
            ],
            body,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn write_to(&self, stream: &mut impl Write) -> std::io::Result<()> {
        let mut head = format!("{}\r\n", self.start_line);
        for (name, value) in &self.headers {
            // The body is always re-sent whole, with its length.
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                continue;
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        stream.write_all(head.as_bytes())?;
        stream.write_all(&self.body)?;
        stream.flush()
    }
}

/// Reads one message; `None` when the connection closed first.
fn read_message(reader: &mut impl BufRead) -> Option<HttpMessage> {
    let mut start_line = String::new();
    if reader.read_line(&mut start_line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let mut message = HttpMessage {
        start_line: start_line.trim_end().to_string(),
        headers,
        body: Vec::new(),
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            message.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = message.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        message.body = body;
    }
    Some(message)
}

/// What the peer does with one request.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer with this response; nothing reaches the upstream.
    Respond(HttpMessage),
    /// Relay it to the upstream and its answer back.
    Forward,
    /// Relay it to the upstream (so its effect happens) but answer with this instead: a
    /// response lost on the way back.
    ForwardThenRespond(HttpMessage),
}

type Handler = dyn Fn(usize, &HttpMessage) -> Action + Send + Sync;

#[derive(Debug)]
pub struct HttpPeer {
    pub endpoint: String,
    received: Arc<Mutex<Vec<HttpMessage>>>,
    stopped: Arc<AtomicBool>,
}

impl HttpPeer {
    /// Starts the peer. `handler` gets each request with its 0-based number across all
    /// connections; `upstream` (`http://127.0.0.1:PORT`) is where `Forward` sends it.
    pub fn start(
        upstream: Option<&str>,
        handler: impl Fn(usize, &HttpMessage) -> Action + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.map(|url| {
            let address = url.trim_start_matches("http://").trim_end_matches('/');
            assert!(
                address.starts_with("127.0.0.1:") || address.starts_with("localhost:"),
                "the upstream must be on loopback, got {url}"
            );
            address.to_string()
        });
        let received = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&received);
        let stop = Arc::clone(&stopped);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { return };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                let upstream = upstream.clone();
                std::thread::spawn(move || serve(stream, upstream, &*handler, &recorded));
            }
        });
        Self {
            endpoint,
            received,
            stopped,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<HttpMessage> {
        self.received.lock().unwrap().clone()
    }

    /// The operations of every request received so far.
    pub fn operations(&self) -> Vec<String> {
        self.requests().iter().map(HttpMessage::operation).collect()
    }
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag and ends.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

fn serve(
    stream: TcpStream,
    upstream: Option<String>,
    handler: &Handler,
    received: &Mutex<Vec<HttpMessage>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut upstream_connection: Option<(TcpStream, BufReader<TcpStream>)> = None;
    while let Some(request) = read_message(&mut reader) {
        let number = {
            let mut received = received.lock().unwrap();
            received.push(request.clone());
            received.len() - 1
        };
        let action = handler(number, &request);
        let forwarded = match &action {
            Action::Respond(_) => None,
            Action::Forward | Action::ForwardThenRespond(_) => {
                let address = upstream
                    .as_deref()
                    .expect("the handler forwarded, but the peer has no upstream");
                let (to, from) = upstream_connection.get_or_insert_with(|| {
                    let connection = TcpStream::connect(address).unwrap();
                    let reader = BufReader::new(connection.try_clone().unwrap());
                    (connection, reader)
                });
                request.write_to(to).unwrap();
                Some(read_message(from).expect("the upstream closed without answering"))
            }
        };
        let response = match action {
            Action::Respond(response) | Action::ForwardThenRespond(response) => response,
            Action::Forward => forwarded.unwrap(),
        };
        if response.write_to(&mut writer).is_err() {
            return;
        }
    }
}

/// AWS JSON error answers, as DynamoDB (awsJson1_0) and EventBridge (awsJson1_1) send them.
pub fn aws_json_error(status: u16, content_type: &str, error_type: &str, message: &str) -> Action {
    Action::Respond(
        HttpMessage::response(
            status,
            content_type,
            serde_json::json!({"__type": error_type, "message": message})
                .to_string()
                .into_bytes(),
        )
        .with_header(
            "x-amzn-errortype",
            error_type.rsplit('#').next().unwrap_or(error_type),
        ),
    )
}
