//! One request to a registry, as the endpoint sends it: method, target, headers, a body
//! that can be sent again on retry; and helpers to read answers (headers, error bodies).

use std::io::Read;
use std::path::Path;

use ureq::http::Response;

use super::auth::Scope;

/// A request body.
pub(crate) enum Payload<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (manifests).
    Bytes(&'a [u8]),
    /// A byte range of a file (blobs), re-read from the file on each attempt.
    File {
        /// The file.
        path: &'a Path,
        /// First byte.
        offset: u64,
        /// Number of bytes.
        len: u64,
        /// Told the number of bytes sent so far.
        progress: &'a (dyn Fn(u64) + Sync),
    },
}

/// One request to the registry API.
pub(crate) struct Call<'a> {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH`.
    pub method: &'static str,
    /// A path (`/v2/…`) or an absolute URL (a `Location` header).
    pub target: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Payload<'a>,
    /// The access the request needs.
    pub scope: &'a Scope,
}

impl<'a> Call<'a> {
    /// A bodiless request.
    pub fn new(method: &'static str, target: String, scope: &'a Scope) -> Call<'a> {
        Call {
            method,
            target,
            headers: Vec::new(),
            body: Payload::Empty,
            scope,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Call<'a> {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Payload<'a>) -> Call<'a> {
        self.body = body;
        self
    }
}

/// Reads through, telling how many bytes went by.
pub(crate) struct Counting<'a, R> {
    pub inner: R,
    pub sent: u64,
    pub progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent += n as u64;
        (self.progress)(self.sent);
        Ok(n)
    }
}

/// A response header as text.
pub(crate) fn header(resp: &Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The registry's error explanation (`{"errors":[{"code","message","detail"}]}`), as
/// `: CODE: message`, or empty.
pub(crate) fn error_detail(resp: &mut Response<ureq::Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        #[serde(default)]
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(bytes) = resp.body_mut().with_config().limit(64 << 10).read_to_vec() else {
        return String::new();
    };
    match serde_json::from_slice::<Errors>(&bytes) {
        Ok(e) if !e.errors.is_empty() => {
            let parts: Vec<String> = e
                .errors
                .iter()
                .map(|x| match (x.code.is_empty(), x.message.is_empty()) {
                    (false, false) => format!("{}: {}", x.code, x.message),
                    (false, true) => x.code.clone(),
                    _ => x.message.clone(),
                })
                .collect();
            format!(": {}", parts.join("; "))
        }
        _ => {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if text.is_empty() || text.len() > 300 {
                String::new()
            } else {
                format!(": {text}")
            }
        }
    }
}

/// A URL without its query (upload URLs carry state tokens; presigned URLs carry secrets).
pub(crate) fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
