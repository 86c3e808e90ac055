//! Store commands: import, images, rmi, tag, save, inspect, prune, du.
//!
//! Data goes to stdout, progress and errors to stderr; sizes and ages are printed as
//! `docker images` prints them (decimal units, three significant digits; "2 hours ago").

use std::io::{IsTerminal, Write};
use std::path::Path;

use super::Report;
use super::args::{
    Compression, ImagesArgs, ImportArgs, InspectArgs, ListFormat, PruneArgs, RmiArgs, SaveArgs,
    SaveFormat, TagArgs,
};
use crate::export::{ExportError, write_docker_archive, write_file, write_oci_archive};
use crate::image::Descriptor;
use crate::store::names::repository_and_tag;
use crate::store::{Store, StoreError};

impl From<Compression> for crate::layer::Compression {
    fn from(c: Compression) -> crate::layer::Compression {
        match c {
            Compression::Gzip => crate::layer::Compression::Gzip,
            Compression::Zstd => crate::layer::Compression::Zstd,
            Compression::Uncompressed => crate::layer::Compression::Uncompressed,
        }
    }
}

const IMAGES_HINT: &str = "`rbuild images` lists the images in the store";

/// Runs `rbuild import`: prints the new image's manifest digest.
pub fn import(root: &Path, a: ImportArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let desc = store.import_rootfs(&a.rootfs, &a.name)?;
    out(format_args!("{}\n", desc.digest));
    Ok(())
}

/// Runs `rbuild images`.
pub fn images(root: &Path, a: ImagesArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let now = jiff::Timestamp::now();
    let mut rows: Vec<Row> = store
        .images()?
        .into_iter()
        .map(|(name, desc)| Row::new(&store, &name, &desc, now))
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
    let mut text = String::new();
    match a.format {
        ListFormat::Json => {
            for r in &rows {
                let created_at = r
                    .created
                    .map(|t| t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
                    .unwrap_or_else(|| "N/A".into());
                let size = human_size(r.size);
                let v = serde_json::json!({
                    "Containers": "N/A",
                    "CreatedAt": created_at,
                    "CreatedSince": r.since,
                    "Digest": r.digest.to_string(),
                    "ID": r.id,
                    "Repository": r.repository,
                    "SharedSize": "N/A",
                    "Size": size,
                    "Tag": r.tag,
                    "UniqueSize": "N/A",
                    "VirtualSize": size,
                });
                text.push_str(&v.to_string());
                text.push('\n');
            }
        }
        ListFormat::Table => {
            let mut table = vec![[
                "REPOSITORY".to_string(),
                "TAG".into(),
                "IMAGE ID".into(),
                "CREATED".into(),
                "SIZE".into(),
            ]];
            for r in &rows {
                table.push([
                    r.repository.clone(),
                    r.tag.clone(),
                    r.id.clone(),
                    r.since.clone(),
                    human_size(r.size),
                ]);
            }
            text = render_table(&table);
        }
    }
    out(format_args!("{text}"));
    Ok(())
}

/// Runs `rbuild rmi`: untags every name; unknown names are reported and make it fail.
pub fn rmi(root: &Path, a: RmiArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let mut failures = Vec::new();
    for name in &a.names {
        match store.untag(name) {
            Ok(_) => out(format_args!("Untagged: {name}\n")),
            Err(StoreError::ImageNotFound(n)) => failures.push(format!("No such image: {n}")),
            Err(e) => failures.push(Report::from_error(&e).message),
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(Report::msg(failures.join("\nerror: ")).with_hint(IMAGES_HINT))
}

/// Runs `rbuild tag`.
pub fn tag(root: &Path, a: TagArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let desc = require(&store, &a.source)?;
    store.tag(&a.target, &desc)?;
    Ok(())
}

/// Runs `rbuild save` (`-o -` writes to standard output).
pub fn save(root: &Path, a: SaveArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let desc = require(&store, &a.name)?;
    let _guard = store.build_guard()?;
    // Layers a build cache import made hits without downloading them are fetched now.
    let client = crate::registry::RegistryClient::new(crate::registry::RegistryOptions::from_env());
    crate::cache::LazyBlobs::new(&store, &client)
        .ensure_tree(&desc, &|_| {})
        .map_err(|e| super::build::cache_report(&e))?;
    let names = [a.name.clone()];
    let write = |w: &mut dyn Write| -> Result<(), ExportError> {
        match a.format {
            SaveFormat::Oci => write_oci_archive(&store, &desc, &names, w).map(drop),
            SaveFormat::Docker => write_docker_archive(&store, &desc, &names, w).map(drop),
        }
    };
    if a.output.as_os_str() != "-" {
        return Ok(write_file(&a.output, write)?);
    }
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        return Err(
            Report::msg("refusing to write an image archive to a terminal")
                .with_hint("redirect standard output or give -o FILE"),
        );
    }
    let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    write(&mut lock)?;
    lock.flush()
        .map_err(|e| Report::msg(format!("writing to standard output: {e}")))
}

/// Runs `rbuild inspect`: the image config JSON, pretty-printed, as stored.
pub fn inspect(root: &Path, a: InspectArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let desc = require(&store, &a.name)?;
    let image = store.load_image(&desc)?;
    let raw = store.read_blob(&image.config_descriptor.digest)?;
    out(format_args!("{}\n", pretty_json(&raw)));
    Ok(())
}

/// Runs `rbuild prune`: prints what it removed.
pub fn prune(root: &Path, a: PruneArgs) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let report = store.prune_with(a.all, || {
        eprintln!("waiting for running builds to finish…");
    })?;
    let mut text = String::new();
    for (what, r) in [
        ("blobs", report.blobs),
        ("snapshots", report.snapshots),
        ("cache records", report.cache_records),
        ("temp files", report.tmp),
    ] {
        if r.count > 0 {
            text.push_str(&format!(
                "Deleted {} {what} ({})\n",
                r.count,
                human_size(r.bytes)
            ));
        }
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(report.total_bytes())
    ));
    out(format_args!("{text}"));
    Ok(())
}

/// Runs `rbuild du`.
pub fn du(root: &Path) -> Result<(), Report> {
    let store = super::open_store(root)?;
    let du = store.du()?;
    let mut table = vec![["TYPE".to_string(), "COUNT".into(), "SIZE".into()]];
    for (what, u) in [
        ("blobs", du.blobs),
        ("snapshots", du.snapshots),
        ("cache", du.cache),
        ("tmp", du.tmp),
        ("contexts", du.contexts),
    ] {
        table.push([what.into(), u.count.to_string(), human_size(u.bytes)]);
    }
    table.push(["total".into(), String::new(), human_size(du.total_bytes())]);
    out(format_args!("{}", render_table(&table)));
    Ok(())
}

/// The descriptor tagged `name`, or an error with a hint.
fn require(store: &Store, name: &str) -> Result<Descriptor, Report> {
    let found = match store.resolve(name) {
        Ok(Some(d)) => Some(d),
        // Not a tag (or not even a valid name): an image ID or digest prefix?
        Ok(None) | Err(StoreError::InvalidName { .. }) => store.resolve_id(name)?,
        Err(e) => return Err(e.into()),
    };
    found.ok_or_else(|| Report::msg(format!("No such image: {name}")).with_hint(IMAGES_HINT))
}

/// Writes to stdout; a closed pipe (`rbuild images | head`) is not an error.
fn out(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// One line of `rbuild images`.
struct Row {
    name: String,
    repository: String,
    tag: String,
    id: String,
    digest: crate::digest::Digest,
    created: Option<jiff::Timestamp>,
    since: String,
    size: u64,
}

impl Row {
    fn new(store: &Store, name: &str, desc: &Descriptor, now: jiff::Timestamp) -> Row {
        let (repository, tag) = repository_and_tag(name);
        let image = store.load_image(desc).ok();
        let created = image
            .as_ref()
            .and_then(|i| i.config.created.as_deref()?.parse::<jiff::Timestamp>().ok());
        let since = match created {
            Some(t) => format!("{} ago", human_duration(now.as_second() - t.as_second())),
            None => "N/A".into(),
        };
        let (id, size) = match &image {
            Some(i) => (
                i.config_descriptor.digest.short(),
                i.descriptor.size
                    + i.config_descriptor.size
                    + i.manifest.layers.iter().map(|l| l.size).sum::<u64>(),
            ),
            None => ("<missing>".into(), desc.size),
        };
        Row {
            name: name.to_string(),
            repository,
            tag,
            id,
            digest: desc.digest,
            created,
            since,
            size,
        }
    }
}

/// Re-indents JSON (4 spaces, as `docker inspect`) keeping the stored field order.
fn pretty_json(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let (mut in_str, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"    ".repeat(depth));
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_str {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                let next = chars[i..].iter().position(|c| !c.is_whitespace());
                if next.is_some_and(|n| chars[i + n] == close) {
                    out.push(c);
                    out.push(close);
                    i += next.unwrap_or(0) + 1;
                } else {
                    depth += 1;
                    out.push(c);
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

/// Left-aligned columns separated by at least three spaces, as Docker's tabwriter.
fn render_table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < N {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// go-units `HumanSizeWithPrecision(size, 3)`: `4.26MB`, `999B`, `1.5kB`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut i = 0;
    while size >= 1000.0 && i < UNITS.len() - 1 {
        size /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g3(size), UNITS[i])
}

/// Go's `%.3g` for 0 ≤ x < 1000.
fn go_g3(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let int_digits = if x >= 1.0 {
        x.log10().floor() as i32 + 1
    } else {
        1
    };
    let decimals = (3 - int_digits).max(0) as usize;
    let mut s = format!("{x:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if s == "1000" { "1e+03".into() } else { s }
}

/// go-units `HumanDuration`.
pub(crate) fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0 + 0.5) as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1500), "1.5kB");
        assert_eq!(human_size(4_263_936), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(123_456_789_000), "123GB");
    }

    #[test]
    fn durations_print_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(2 * 3600), "2 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(55 * 365 * 86400), "55 years");
    }

    #[test]
    fn json_is_indented_in_stored_order() {
        let raw = br#"{"b":1,"a":{"x":[1,"s,{}:\"q"],"e":{},"l":[]}}"#;
        let want = "{\n    \"b\": 1,\n    \"a\": {\n        \"x\": [\n            1,\n            \"s,{}:\\\"q\"\n        ],\n        \"e\": {},\n        \"l\": []\n    }\n}";
        assert_eq!(pretty_json(raw), want);
    }

    #[test]
    fn tables_pad_columns() {
        let t = render_table(&[["A".to_string(), "BB".into()], ["ccc".into(), "d".into()]]);
        assert_eq!(t, "A     BB\nccc   d\n");
    }
}
