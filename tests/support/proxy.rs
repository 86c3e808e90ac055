//! Test support: an HTTP/1.1 proxy in front of a test registry that logs requests and
//! injects faults (error statuses, corrupted or cut bodies, stalls).
//!
//! Include with `#[path = "support/proxy.rs"] mod proxy;`. Each request is forwarded
//! on its own upstream connection with `Connection: close`, and the answer is relayed
//! with `Connection: close`, so framing stays trivial.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and no body, without forwarding.
    Status(u16),
    /// Forward, then flip one byte in the middle of the response body.
    Corrupt,
    /// Forward, then send the headers and only this many body bytes, and close.
    CutAfter(usize),
    /// Read the request and never answer.
    Stall,
}

/// Decides the fault for `(method, path-and-query)`, or none.
pub type Rule = Box<dyn Fn(&str, &str) -> Option<Fault> + Send + Sync>;

/// A running proxy; stops accepting on drop.
pub struct Proxy {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts a proxy to `127.0.0.1:upstream` applying `rule`.
    pub fn start(upstream: u16, rule: Rule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let rule = Arc::new(rule);
        let (l2, s2) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (log, rule) = (l2.clone(), rule.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &rule, &log);
                });
            }
        });
        Proxy { port, log, stop }
    }

    /// A proxy that only logs.
    pub fn logging(upstream: u16) -> Proxy {
        Proxy::start(upstream, Box::new(|_, _| None))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Requests seen so far, as `METHOD path status`.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// Forgets the requests seen so far.
    pub fn clear(&self) {
        self.log.lock().expect("log").clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    upstream: u16,
    rule: &Rule,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if !line.is_ascii() {
            // Not HTTP (a TLS hello): hang up.
            return Ok(());
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let content_length: usize = lines
        .clone()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let fault = rule(&method, &path);
    let record = |status: &str| {
        log.lock()
            .expect("log")
            .push(format!("{method} {path} {status}"));
    };
    match fault {
        Some(Fault::Status(s)) => {
            record(&s.to_string());
            let resp =
                format!("HTTP/1.1 {s} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            writer.write_all(resp.as_bytes())?;
            return writer.shutdown(Shutdown::Both);
        }
        Some(Fault::Stall) => {
            record("stall");
            std::thread::sleep(Duration::from_secs(60));
            return Ok(());
        }
        _ => {}
    }
    // Forward with Connection: close.
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut out = String::new();
    out.push_str(&request_line);
    out.push_str("\r\n");
    for l in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("connection:") || lower.starts_with("host:") {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Host: 127.0.0.1:{upstream}\r\nConnection: close\r\n\r\n"
    ));
    up.write_all(out.as_bytes())?;
    up.write_all(&body)?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(resp.len());
    let (rhead, rbody) = resp.split_at(split);
    let rhead = String::from_utf8_lossy(rhead).into_owned();
    let status = rhead.split(' ').nth(1).unwrap_or("?").to_string();
    // Rewrite upstream Location headers so follow-up requests come back through us.
    let rhead = rhead.replace(
        &format!("127.0.0.1:{upstream}"),
        &format!("127.0.0.1:{}", writer.local_addr()?.port()),
    );
    record(&status);
    let mut rbody = rbody.to_vec();
    match fault {
        Some(Fault::Corrupt) if !rbody.is_empty() => {
            let mid = rbody.len() / 2;
            rbody[mid] ^= 0xff;
        }
        Some(Fault::CutAfter(n)) if rbody.len() > n => {
            writer.write_all(rhead.as_bytes())?;
            writer.write_all(&rbody[..n])?;
            writer.flush()?;
            return writer.shutdown(Shutdown::Both);
        }
        _ => {}
    }
    writer.write_all(rhead.as_bytes())?;
    writer.write_all(&rbody)?;
    writer.flush()?;
    writer.shutdown(Shutdown::Both)
}
