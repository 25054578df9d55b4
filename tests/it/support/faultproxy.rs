//! A fault-injecting HTTP proxy for the emulator smoke tests: it sits on 127.0.0.1 between the
//! binary and the emulators (each service to its own, from `AWS_ENDPOINT_URL_<SERVICE>` or else
//! `AWS_ENDPOINT_URL`, as the SDK chooses) and, per AWS operation, answers 500/503/throttling, cuts an answer
//! mid-body, adds latency, or executes a request upstream and loses the answer, as real AWS
//! and real networks do. Test support only: it listens on loopback, forwards only to the
//! emulator's loopback endpoint, handles one request per connection (answers say
//! `Connection: close`) and stops when dropped or after ten minutes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to do to a request of the faulted operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 500 InternalError (S3) / InternalFailure (JSON services); not executed upstream.
    ServerError,
    /// 503 SlowDown (S3) / 400 ThrottlingException (JSON services); not executed upstream.
    Throttle,
    /// Executed upstream; the answer's head and half its body are sent, then the connection
    /// is closed.
    CutBody,
    /// Executed upstream; the answer is dropped and the connection closed.
    LoseAnswer,
    /// Executed upstream after this long.
    Delay(Duration),
    /// The emulator never ends a deployment (every one stays `Created`): on ListDeployments,
    /// BatchGetDeployments and GetDeployment, every deployment reads as `Succeeded`, as AWS
    /// would report it once the instances are done. A ListDeployments filtered on Succeeded
    /// lists them all; one filtered on other statuses lists none.
    ReadAsSucceeded,
}

/// A fault for the first `times` requests of one operation (`usize::MAX`: every one).
#[derive(Debug)]
pub struct Rule {
    pub operation: &'static str,
    pub fault: Fault,
    pub times: usize,
    hits: AtomicUsize,
}

impl Rule {
    pub fn new(operation: &'static str, fault: Fault, times: usize) -> Self {
        Rule {
            operation,
            fault,
            times,
            hits: AtomicUsize::new(0),
        }
    }
}

pub struct FaultProxy {
    pub url: String,
    port: u16,
    stop: Arc<AtomicBool>,
    rules: Arc<Vec<Rule>>,
    seen: Arc<Mutex<Vec<String>>>,
}

/// The services the binary and the tests call, as their endpoint variables name them.
const SERVICES: [&str; 4] = ["S3", "SSM", "KMS", "CODEDEPLOY"];

/// Where each service's requests go: `host:port` on loopback.
#[derive(Debug, Clone)]
struct Upstreams {
    default: String,
    by_service: Vec<(&'static str, String)>,
}

impl Upstreams {
    /// As the SDK reads them: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`.
    fn from_env() -> Self {
        let loopback = |url: String| {
            let host = url
                .strip_prefix("http://")
                .expect("an http:// emulator endpoint")
                .trim_end_matches('/')
                .to_string();
            assert!(
                host.starts_with("127.") || host.starts_with("localhost"),
                "the fault proxy only forwards to loopback, not {host}"
            );
            host
        };
        let default = loopback(std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL"));
        let by_service = SERVICES
            .iter()
            .filter_map(|s| {
                let url = std::env::var(format!("AWS_ENDPOINT_URL_{s}")).ok()?;
                Some((*s, loopback(url)))
            })
            .collect();
        Upstreams {
            default,
            by_service,
        }
    }

    /// The service of a request: JSON services say it in `X-Amz-Target`; the Query
    /// protocol's (EC2, IAM, Auto Scaling, CloudWatch, SNS: a form) go to the default
    /// endpoint; S3 is the rest.
    fn of(&self, req: &Message) -> &str {
        let service = match req.header("x-amz-target") {
            Some(t) if t.starts_with("CodeDeploy_") => "CODEDEPLOY",
            Some(t) if t.starts_with("AmazonSSM.") => "SSM",
            Some(t) if t.starts_with("TrentService.") => "KMS",
            Some(_) => "",
            None if query_action(req).is_some() => "",
            None => "S3",
        };
        self.by_service
            .iter()
            .find(|(s, _)| *s == service)
            .map_or(&self.default, |(_, host)| host)
    }
}

impl FaultProxy {
    /// Starts a proxy to the emulators of the environment's endpoint variables.
    pub fn start(rules: Vec<Rule>) -> Self {
        let upstream = Upstreams::from_env();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let rules = Arc::new(rules);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, rules2, seen2) = (stop.clone(), rules.clone(), seen.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (upstream, rules, seen) = (upstream.clone(), rules2.clone(), seen2.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &rules, &seen);
                });
            }
        });
        FaultProxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            stop,
            rules,
            seen,
        }
    }

    /// Points `cmd` (the binary) at the proxy for every service.
    pub fn point(&self, cmd: &mut std::process::Command) {
        cmd.env("AWS_ENDPOINT_URL", &self.url);
        for s in SERVICES {
            cmd.env_remove(format!("AWS_ENDPOINT_URL_{s}"));
        }
    }

    /// The operations that reached the proxy, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests each rule faulted.
    pub fn hits(&self) -> Vec<(&'static str, usize)> {
        self.rules
            .iter()
            .map(|r| (r.operation, r.hits.load(Ordering::SeqCst).min(r.times)))
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One HTTP/1.1 message, raw: its head (without the blank line) and its body bytes as sent.
struct Message {
    head: String,
    body: Vec<u8>,
}

impl Message {
    /// The same message with another body (and its length).
    fn with_body(&self, body: Vec<u8>) -> Message {
        let mut lines: Vec<String> = self
            .head
            .lines()
            .filter(|l| {
                !l.split_once(':').is_some_and(|(k, _)| {
                    let k = k.trim();
                    k.eq_ignore_ascii_case("content-length")
                        || k.eq_ignore_ascii_case("transfer-encoding")
                })
            })
            .map(str::to_string)
            .collect();
        lines.push(format!("Content-Length: {}", body.len()));
        Message {
            head: lines.join("\r\n"),
            body,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The head with `Connection: close` in place of any connection header.
    fn closing_head(&self) -> String {
        let mut lines: Vec<&str> = self
            .head
            .lines()
            .filter(|l| {
                !l.split_once(':')
                    .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"))
            })
            .collect();
        lines.push("Connection: close");
        format!("{}\r\n\r\n", lines.join("\r\n"))
    }
}

fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(if head.is_empty() { None } else { Some(head) });
        }
        if line == "\r\n" || line == "\n" {
            return Ok(Some(head.trim_end().to_string()));
        }
        head.push_str(&line);
    }
}

/// Reads one message; `bodyless` for answers to HEAD (and 204/304).
fn read_message(r: &mut impl BufRead, response_to_head: bool) -> std::io::Result<Option<Message>> {
    let Some(head) = read_head(r)? else {
        return Ok(None);
    };
    let mut msg = Message {
        head,
        body: Vec::new(),
    };
    let status = msg
        .head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    let is_response = msg.head.starts_with("HTTP/");
    if response_to_head || (is_response && matches!(status, Some(204 | 304))) {
        return Ok(Some(msg));
    }
    if msg
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let mut size_line = String::new();
            r.read_line(&mut size_line)?;
            msg.body.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line)?;
                    msg.body.extend_from_slice(line.as_bytes());
                    if line == "\r\n" || line.is_empty() {
                        return Ok(Some(msg));
                    }
                }
            }
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk)?;
            msg.body.extend_from_slice(&chunk);
        }
    }
    match msg
        .header("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => {
            msg.body.resize(n, 0);
            r.read_exact(&mut msg.body)?;
        }
        None if is_response => {
            r.read_to_end(&mut msg.body)?;
        }
        None => {}
    }
    Ok(Some(msg))
}

/// The `Action` of a Query-protocol request (a form body).
fn query_action(req: &Message) -> Option<String> {
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return None;
    }
    String::from_utf8_lossy(&req.body)
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .map(str::to_string)
}

/// The AWS operation of a request: from `X-Amz-Target` (JSON services), the SDK's `x-id`
/// query parameter, or S3's REST shape (path-style addressing).
fn operation(req: &Message) -> String {
    if let Some(target) = req.header("x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    if let Some(action) = query_action(req) {
        return action;
    }
    let mut words = req.head.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: Vec<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect();
    if let Some(id) = query.split('&').find_map(|p| p.strip_prefix("x-id=")) {
        return id.to_string();
    }
    let has_key = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let has = |name: &str| params.contains(&name);
    match (method, has_key) {
        ("HEAD", false) => "HeadBucket",
        ("HEAD", true) => "HeadObject",
        ("GET", true) => "GetObject",
        ("PUT", true) if has("partNumber") => "UploadPart",
        ("PUT", true) if has("tagging") => "PutObjectTagging",
        ("PUT", true) => "PutObject",
        ("POST", true) if has("uploads") => "CreateMultipartUpload",
        ("POST", true) if has("uploadId") => "CompleteMultipartUpload",
        ("DELETE", true) if has("uploadId") => "AbortMultipartUpload",
        ("DELETE", true) => "DeleteObject",
        _ => "Other",
    }
    .to_string()
}

fn error_answer(op: &str, json: bool, fault: Fault) -> Vec<u8> {
    let (status, reason, body, kind) = match (fault, json) {
        (Fault::Throttle, true) => (
            400,
            "Bad Request",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
            "application/x-amz-json-1.1",
        ),
        (Fault::Throttle, false) => (
            503,
            "Slow Down",
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_string(),
            "application/xml",
        ),
        (_, true) => (
            500,
            "Internal Server Error",
            format!(r#"{{"__type":"InternalFailure","message":"{op}: internal failure"}}"#),
            "application/x-amz-json-1.1",
        ),
        (_, false) => (
            500,
            "Internal Server Error",
            "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>".to_string(),
            "application/xml",
        ),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nx-amz-request-id: FAULTPROXY\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve(
    client: TcpStream,
    upstream: &Upstreams,
    rules: &[Rule],
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some(req) = read_message(&mut reader, false)? else {
        return Ok(());
    };
    let op = operation(&req);
    seen.lock().unwrap().push(op.clone());
    let fault = rules
        .iter()
        .find(|r| r.operation == op && r.hits.fetch_add(1, Ordering::SeqCst) < r.times)
        .map(|r| r.fault);
    let json = req.header("x-amz-target").is_some();
    match fault {
        Some(f @ (Fault::ServerError | Fault::Throttle)) => {
            client.write_all(&error_answer(&op, json, f))?;
            return Ok(());
        }
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        _ => {}
    }
    let mut req = req;
    if fault == Some(Fault::ReadAsSucceeded) && op == "ListDeployments" {
        let mut body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if let Some(statuses) = body
            .as_object_mut()
            .and_then(|b| b.remove("includeOnlyStatuses"))
        {
            if !statuses
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s == "Succeeded"))
            {
                let none = br#"{"deployments":[]}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    none.len()
                );
                client.write_all(head.as_bytes())?;
                client.write_all(none)?;
                return Ok(());
            }
            req = req.with_body(serde_json::to_vec(&body).unwrap());
        }
    }
    let is_head = req.head.starts_with("HEAD ");
    let mut up = TcpStream::connect(upstream.of(&req))?;
    up.set_read_timeout(Some(Duration::from_secs(120)))?;
    up.write_all(req.closing_head().as_bytes())?;
    up.write_all(&req.body)?;
    let mut up_reader = BufReader::new(up);
    let Some(answer) = read_message(&mut up_reader, is_head)? else {
        return Ok(());
    };
    let answer = match fault {
        Some(Fault::ReadAsSucceeded) => {
            let text = String::from_utf8_lossy(&answer.body)
                .replace(r#""status": "Created""#, r#""status": "Succeeded""#)
                .replace(r#""status":"Created""#, r#""status":"Succeeded""#);
            answer.with_body(text.into_bytes())
        }
        _ => answer,
    };
    match fault {
        Some(Fault::LoseAnswer) => Ok(()),
        Some(Fault::CutBody) => {
            client.write_all(answer.closing_head().as_bytes())?;
            client.write_all(&answer.body[..answer.body.len() / 2])?;
            client.flush()
        }
        _ => {
            client.write_all(answer.closing_head().as_bytes())?;
            client.write_all(&answer.body)?;
            client.flush()
        }
    }
}
