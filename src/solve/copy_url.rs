//! ADD's remote sources: an `http(s)://` URL is downloaded (streamed to a temp file in the
//! store and hashed on the way), named after the last element of its path, given mode
//! 0600 and the `Last-Modified` time, as Docker does; `--checksum` is verified. The
//! content digest enters the step's key, so a changed remote file misses the cache.

use std::io::{Read, Write};

use super::Solver;
use super::error::SolveError;
use crate::digest::{Digest, Hasher};

/// A downloaded file.
pub(crate) struct Download {
    /// The file name it takes in the image.
    pub name: String,
    /// Its content.
    pub file: tempfile::NamedTempFile,
    /// sha256 of the content.
    pub digest: Digest,
    /// Size.
    pub size: u64,
    /// `Last-Modified`, seconds since the epoch.
    pub mtime: Option<i64>,
}

/// Downloads `url` into the store's temp dir.
pub(crate) fn download(
    s: &Solver<'_>,
    url: &str,
    checksum: Option<&str>,
) -> Result<Download, SolveError> {
    let fail = |why: String| SolveError::copy(format!("ADD {url}: {why}"));
    let name = url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.split("://").nth(1))
        .and_then(|rest| rest.split_once('/').map(|(_, path)| path))
        .and_then(|path| path.rsplit('/').next())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("__unnamed__")
        .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .timeout_recv_body(Some(std::time::Duration::from_secs(300)))
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| jiff::fmt::rfc2822::parse(v).ok())
        .map(|z| z.timestamp().as_second());
    let mut file =
        tempfile::NamedTempFile::new_in(s.store.tmp_dir()).map_err(|e| fail(e.to_string()))?;
    let mut hasher = Hasher::new();
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| fail(e.to_string()))?;
    }
    let size = hasher.len();
    let digest = hasher.finish();
    if let Some(want) = checksum {
        let want: Digest = want
            .parse()
            .map_err(|e| fail(format!("invalid --checksum: {e}")))?;
        if want != digest {
            return Err(fail(format!(
                "checksum mismatch: expected {want}, got {digest}"
            )));
        }
    }
    Ok(Download {
        name,
        file,
        digest,
        size,
        mtime,
    })
}
