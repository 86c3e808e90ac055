//! Numeric tar header fields read as Go's `archive/tar` reads them, so every layer Docker
//! accepts unpacks here too: a field holding only NULs and spaces is 0 (some writers leave
//! uid, gid or mtime blank), where the `tar` crate reports an error.

use std::io;

/// Go-lenient accessors for a tar header's numeric fields.
pub trait GoNumbers {
    /// Permission and type bits of the mode field.
    fn go_mode(&self) -> io::Result<u32>;
    /// Owner id.
    fn go_uid(&self) -> io::Result<u64>;
    /// Group id.
    fn go_gid(&self) -> io::Result<u64>;
    /// Modification time in seconds.
    fn go_mtime(&self) -> io::Result<u64>;
}

impl GoNumbers for tar::Header {
    fn go_mode(&self) -> io::Result<u32> {
        lenient(self.mode().map(u64::from), &self.as_old().mode).map(|m| m as u32)
    }
    fn go_uid(&self) -> io::Result<u64> {
        lenient(self.uid(), &self.as_old().uid)
    }
    fn go_gid(&self) -> io::Result<u64> {
        lenient(self.gid(), &self.as_old().gid)
    }
    fn go_mtime(&self) -> io::Result<u64> {
        lenient(self.mtime(), &self.as_old().mtime)
    }
}

fn lenient(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_fields_are_zero_and_garbage_is_an_error() {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o755);
        assert!(h.uid().is_err(), "the tar crate rejects a blank uid");
        assert_eq!(h.go_uid().unwrap(), 0);
        assert_eq!(h.go_gid().unwrap(), 0);
        assert_eq!(h.go_mtime().unwrap(), 0);
        assert_eq!(h.go_mode().unwrap(), 0o755);
        h.as_old_mut().uid = *b"12x4567\0";
        assert!(h.go_uid().is_err());
        h.set_uid(1000);
        assert_eq!(h.go_uid().unwrap(), 1000);
    }
}
