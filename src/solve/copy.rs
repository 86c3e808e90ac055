//! COPY and ADD: select the sources (context, stage or image), key the step on what
//! was selected, and on a miss map the selection onto the destination with Docker's
//! rules and write the entries as a layer — straight from the source files, without
//! copying them anywhere first.
//!
//! Destination rules (checked against BuildKit): a relative destination is under
//! WORKDIR; a directory source puts its contents under the destination; a file source
//! lands at the destination, or inside it when the destination ends with `/` or is a
//! directory in the image; several sources need a directory destination. Directories
//! that have to be created are `0755`, owned by the `--chown` user (root otherwise).
//! Files keep their mode (or `--chmod`) and mtime; context files belong to root (or
//! `--chown`), files from another stage keep their owners unless `--chown` is given.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::SolveError;
use super::key::KeyInputs;
use super::stage::{Produced, StageState, StepCtx, layer_step};
use super::tree::ViewTree;
use super::usermap::chown_ids;
use super::{Solver, delta, explain, history};
use crate::context::{Kind, Meta, SelectOptions, Selection, Tree, has_wildcards};
use crate::digest::Digest;
use crate::layer::view::{LayerView, ViewError};
use crate::layer::{Entry, EntryKind, UnpackMode, decompress, sort_entries, unpack, write_layer};
use crate::plan::{CopyFrom, CopySource, CopyStep, Heredoc};
use crate::progress::Phase;

/// Runs a COPY/ADD step; true when the cache answered.
pub(crate) fn copy_step(
    ctx: &StepCtx<'_, '_>,
    state: &mut StageState,
    c: &CopyStep,
) -> Result<bool, SolveError> {
    let s = ctx.s;
    let verb = if c.is_add { "ADD" } else { "COPY" };
    let mut paths = Vec::new();
    let mut urls = Vec::new();
    let mut heredocs = Vec::new();
    for src in &c.sources {
        match src {
            CopySource::Path(p) => paths.push(p.clone()),
            CopySource::Url(u) => urls.push(u.clone()),
            CopySource::Git(g) => {
                return Err(SolveError::copy(format!(
                    "{verb} from a git repository ({g}) is not supported"
                )));
            }
            CopySource::Heredoc(h) => heredocs.push(h.clone()),
        }
    }
    let opts = SelectOptions {
        excludes: c.excludes.clone(),
        parents: c.parents,
        follow_symlinks: true,
        allow_empty_wildcard: true,
    };
    let mut inputs = KeyInputs::new();
    inputs
        .add("kind", verb)
        .add_json("instruction", &canonical(c, ctx));
    for (k, v) in &ctx.step.args {
        inputs.add(format!("arg:{k}"), v.clone());
    }
    // The sources' identity: the selection's digest for the context (hashing only what
    // it selects), the stage's key or the image's digest for --from.
    let mut context_selection = None;
    match &c.from {
        CopyFrom::Context => {
            if !paths.is_empty() {
                let _p = ctx.phase(Phase::ContextScan);
                let sel = s.context.select(&paths, &opts).map_err(SolveError::copy)?;
                inputs.add("sources", sel.digest().to_string());
                context_selection = Some(sel);
            }
        }
        CopyFrom::Stage(i) => {
            let st = ctx.stage_state(*i)?;
            inputs.add("from", st.key.to_string());
        }
        CopyFrom::Image(r) => {
            let img = s
                .images
                .get(r, &state.platform)
                .map_err(|m| SolveError::copy(format!("{r}: {m}")))?;
            inputs.add("from", img.image.descriptor.digest.to_string());
        }
    }
    let mut downloads = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let d = super::copy_url::download(s, url, c.checksum.as_deref())?;
        inputs.add(format!("url:{i}"), d.digest.to_string());
        downloads.push(d);
    }
    for (i, h) in heredocs.iter().enumerate() {
        inputs.add(format!("heredoc:{i}"), format!("{}\0{}", h.name, h.content));
    }
    let history_text = history::created_by(ctx.step, None)
        .map(|(t, _)| t)
        .unwrap_or_default();
    let record_listing = || {
        if let Some(sel) = &context_selection {
            explain::write_listing(s.store, &sel.digest().to_string(), &listing(sel));
        }
    };
    layer_step(ctx, state, &inputs, history_text, record_listing, |state| {
        // For --from, the source is a stack of snapshots: a directory's files may live
        // in different layers, so each file's host path is looked up in the view.
        let (from_selection, source_view) = match &c.from {
            CopyFrom::Context => (None, None),
            CopyFrom::Stage(i) => {
                let src = ctx.stage_state(*i)?;
                let tree = ViewTree::new(LayerView::new(src.lowers(s)?));
                (Some(select_in(&tree, &paths, &opts)?), Some(tree))
            }
            CopyFrom::Image(r) => {
                let img = s
                    .images
                    .get(r, &state.platform)
                    .map_err(|m| SolveError::copy(format!("{r}: {m}")))?;
                let tree = ViewTree::new(LayerView::new(image_state(&img.image).lowers(s)?));
                (Some(select_in(&tree, &paths, &opts)?), Some(tree))
            }
        };
        let selection: Option<&Selection> = from_selection.as_ref().or(context_selection.as_ref());
        let view = if c.link || state.layers.is_empty() {
            LayerView::default()
        } else {
            LayerView::new(state.lowers(s)?)
        };
        let scratch = tempfile::tempdir_in(s.store.tmp_dir()).map_err(SolveError::copy)?;
        let mut m = Mapper::new(ctx, c, &view, scratch.path(), source_view.as_ref())?;
        let source_count =
            selection.map_or(0, |sel| sel.roots.len()) + downloads.len() + heredocs.len();
        let wildcard = paths.iter().any(|p| has_wildcards(p));
        if (source_count > 1 || (wildcard && source_count > 0)) && !m.dest_is_dir {
            return Err(SolveError::copy(format!(
                "When using {verb} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        if let Some(sel) = selection {
            m.add_selection(sel)?;
        }
        for d in &downloads {
            m.add_download(d)?;
        }
        for h in &heredocs {
            m.add_heredoc(h)?;
        }
        let content = std::mem::take(&mut m.content);
        let content_known = !m.content_unknown;
        let mut entries: Vec<Entry> = m.out.into_values().collect();
        sort_entries(&mut entries);
        let layer = {
            let _p = ctx.phase(Phase::Tar);
            write_layer(s.store, &entries, &s.opts.layer).map_err(SolveError::store)?
        };
        // Leave a manifest, and make the snapshot a delta on the previous build's layer
        // at this step when only a few entries changed (see `delta`).
        if content_known && !c.link {
            let sigs: BTreeMap<String, String> = entries
                .iter()
                .map(|e| (e.path.clone(), delta::signature(e, content.get(&e.path))))
                .collect();
            delta::write_manifest(s, &layer.diff_id, &sigs);
            let position = explain::position(&s.dockerfile_id, ctx.stage, ctx.index);
            if let Some(previous) = explain::previous_layer(s.store, &position) {
                delta::make_delta(s, &layer.diff_id, &previous, &entries, &sigs, &view)?;
            }
        }
        Ok(Produced { layer })
    })
}

/// What of a COPY goes into its key: everything but the source stage's graph index
/// (the stage's own key stands for it).
fn canonical(c: &CopyStep, ctx: &StepCtx<'_, '_>) -> serde_json::Value {
    serde_json::json!({
        "dest": absolute_dest(&c.dest, ctx),
        "dest_raw": c.dest,
        "sources": c.sources.iter().map(|s| match s {
            CopySource::Path(p) | CopySource::Url(p) | CopySource::Git(p) => p.clone(),
            CopySource::Heredoc(h) => format!("<<{}", h.name),
        }).collect::<Vec<_>>(),
        "chown": c.chown, "chmod": c.chmod, "link": c.link, "parents": c.parents,
        "excludes": c.excludes, "checksum": c.checksum, "keep_git_dir": c.keep_git_dir, "unpack": c.unpack,
        "from": match &c.from { CopyFrom::Context => "context".to_string(), CopyFrom::Stage(_) => "stage".to_string(), CopyFrom::Image(r) => r.clone() },
    })
}

fn absolute_dest(dest: &str, ctx: &StepCtx<'_, '_>) -> String {
    if dest.starts_with('/') {
        dest.to_string()
    } else {
        let wd = ctx
            .step
            .config
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty())
            .unwrap_or("/");
        format!("{}/{dest}", wd.trim_end_matches('/'))
    }
}

/// The base state of an image (its layers), for selecting `COPY --from=<image>` sources.
fn image_state(image: &crate::store::Image) -> StageState {
    StageState {
        key: crate::digest::Digest::of(b""),
        layers: image
            .manifest
            .layers
            .iter()
            .zip(&image.config.rootfs.diff_ids)
            .map(|(d, id)| crate::store::LayerRecord {
                descriptor: d.clone(),
                diff_id: *id,
            })
            .collect(),
        history: Vec::new(),
        last_created: None,
        platform: crate::image::Platform::host(),
    }
}

fn select_in(
    tree: &ViewTree,
    paths: &[String],
    opts: &SelectOptions,
) -> Result<Selection, SolveError> {
    crate::context::select(tree, paths, opts).map_err(SolveError::copy)
}

fn listing(sel: &Selection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for root in &sel.roots {
        if let Some(d) = &root.digest {
            out.push((root.path.clone(), d.to_string()));
        }
        for e in &root.entries {
            if let Some(d) = &e.digest {
                out.push((
                    format!("{}/{}", root.path, e.path)
                        .trim_start_matches('/')
                        .to_string(),
                    d.to_string(),
                ));
            }
        }
    }
    out
}

/// Normalizes an absolute image path lexically (`..` stops at the root); no leading `/`.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (_, true) => dir.to_string(),
        _ => format!("{dir}/{name}"),
    }
}

fn view_err(e: ViewError, dest: &str) -> SolveError {
    match e {
        ViewError::Escape { .. } => SolveError::copy(format!(
            "destination {dest} leads outside the image root through a symbolic link"
        )),
        other => SolveError::copy(format!("destination {dest}: {other}")),
    }
}

/// Builds the layer entries of one COPY/ADD.
struct Mapper<'a> {
    s: &'a Solver<'a>,
    c: &'a CopyStep,
    view: &'a LayerView,
    scratch: &'a Path,
    /// The destination, resolved inside the image (no leading `/`).
    dest: String,
    /// Whether the destination is a directory.
    dest_is_dir: bool,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    out: BTreeMap<String, Entry>,
    serial: usize,
    /// The `--from` tree, to find where each selected file's bytes are.
    source: Option<&'a ViewTree>,
    /// Content digests of the regular files, by layer path.
    content: BTreeMap<String, Digest>,
    /// True when some file's digest is not known (an extracted archive).
    content_unknown: bool,
}

impl<'a> Mapper<'a> {
    fn new(
        ctx: &'a StepCtx<'a, 'a>,
        c: &'a CopyStep,
        view: &'a LayerView,
        scratch: &'a Path,
        source: Option<&'a ViewTree>,
    ) -> Result<Mapper<'a>, SolveError> {
        let raw = c.dest.as_str();
        let abs = absolute_dest(raw, ctx);
        let hint_dir = raw.ends_with('/')
            || raw == "."
            || raw.ends_with("/.")
            || raw == ".."
            || raw.ends_with("/..");
        let (dest, found) = view
            .resolve(&clean(&abs), true)
            .map_err(|e| view_err(e, raw))?;
        let dest_is_dir = hint_dir || dest.is_empty() || found.as_ref().is_some_and(|f| f.is_dir());
        let owner = match &c.chown {
            Some(spec) => Some(chown_ids(spec, view)?),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| SolveError::copy(format!("invalid chmod parameter: '{m}'. it should be octal string and between 0 and 07777")))?,
            ),
            None => None,
        };
        Ok(Mapper {
            s: ctx.s,
            c,
            view,
            scratch,
            dest,
            dest_is_dir,
            owner,
            chmod,
            out: BTreeMap::new(),
            serial: 0,
            source,
            content: BTreeMap::new(),
            content_unknown: false,
        })
    }

    fn owner_or(&self, uid: u32, gid: u32) -> (u32, u32) {
        self.owner.unwrap_or((uid, gid))
    }

    /// Makes sure every directory on the way to `path` (inclusive) has an entry: the
    /// image's own when it exists, a new `0755` one otherwise.
    fn ensure_dir(&mut self, path: &str) -> Result<(), SolveError> {
        let mut cur = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur = join(&cur, comp);
            if self.out.contains_key(&cur) {
                continue;
            }
            let entry = match self.view.lookup(&cur) {
                Ok(Some(f)) if f.is_dir() => f.dir_entry(cur.clone()),
                Ok(Some(f)) if f.meta.file_type().is_symlink() => {
                    return Err(SolveError::copy(format!(
                        "cannot copy into /{cur}: it is a symbolic link in the image"
                    )));
                }
                Ok(Some(_)) => {
                    return Err(SolveError::copy(format!(
                        "cannot copy into /{cur}: it is not a directory"
                    )));
                }
                Ok(None) | Err(ViewError::NotDir { .. }) => {
                    let (uid, gid) = self.owner_or(0, 0);
                    Entry::dir(cur.clone(), 0o755, uid, gid, self.s.created_mtime())
                }
                Err(e) => return Err(view_err(e, &self.c.dest)),
            };
            self.out.insert(cur.clone(), entry);
        }
        Ok(())
    }

    fn parent_of(path: &str) -> &str {
        path.rsplit_once('/').map_or("", |(p, _)| p)
    }

    /// Where a single file named `name` lands.
    fn file_target(&self, name: &str) -> String {
        if self.dest_is_dir {
            join(&self.dest, name)
        } else {
            self.dest.clone()
        }
    }

    /// Adds an entry (its parents first); `content` is a regular file's digest, when
    /// known, for the layer's manifest (see `delta`).
    fn put(&mut self, mut entry: Entry, content: Option<Digest>) -> Result<(), SolveError> {
        self.ensure_dir(Self::parent_of(&entry.path).to_string().as_str())?;
        if let Some(m) = self.chmod {
            entry.mode = m;
        }
        if matches!(entry.kind, EntryKind::File { .. }) {
            match content {
                Some(d) => {
                    self.content.insert(entry.path.clone(), d);
                }
                None => self.content_unknown = true,
            }
        }
        self.out.insert(entry.path.clone(), entry);
        Ok(())
    }

    fn entry_from_meta(
        &self,
        path: String,
        meta: &Meta,
        keeps_owner: bool,
        source: Option<PathBuf>,
    ) -> Option<Entry> {
        let kind = match &meta.kind {
            Kind::File => EntryKind::File { size: meta.size },
            Kind::Dir => EntryKind::Dir,
            Kind::Symlink { target } => EntryKind::Symlink {
                target: target.clone(),
            },
            Kind::Other => return None,
        };
        let (uid, gid) = if keeps_owner {
            self.owner_or(meta.uid, meta.gid)
        } else {
            self.owner_or(0, 0)
        };
        Some(Entry {
            path,
            kind,
            mode: meta.permissions(),
            uid,
            gid,
            mtime: meta.mtime_ns.div_euclid(1_000_000_000),
            xattrs: Vec::new(),
            source: if matches!(meta.kind, Kind::File) {
                source
            } else {
                None
            },
        })
    }

    fn add_selection(&mut self, sel: &Selection) -> Result<(), SolveError> {
        let unpack_archives = self.c.is_add && self.c.unpack != Some(false);
        for root in &sel.roots {
            if root.is_dir() {
                let base = self.dest.clone();
                self.ensure_dir(&base)?;
                for e in &root.entries {
                    let target = join(&base, &e.path);
                    let host = match self.source {
                        Some(tree) => tree.host_path(&root.tree_path(e)),
                        None => root.entry_host_path(e),
                    };
                    if let Some(entry) =
                        self.entry_from_meta(target, &e.meta, sel.keeps_ownership, host)
                    {
                        self.put(entry, e.digest)?;
                    }
                }
                continue;
            }
            if unpack_archives && matches!(root.meta.kind, Kind::File) {
                if let Some(host) = &root.host_path {
                    if self.try_unpack(host)? {
                        continue;
                    }
                }
            }
            let target = self.file_target(root.name());
            if let Some(entry) = self.entry_from_meta(
                target,
                &root.meta,
                sel.keeps_ownership,
                root.host_path.clone(),
            ) {
                self.put(entry, root.digest)?;
            }
        }
        Ok(())
    }

    /// ADD's auto-extraction: a local tar archive (plain, gzip, bzip2, xz or zstd) is
    /// unpacked into the destination directory. False when `host` is not an archive.
    fn try_unpack(&mut self, host: &Path) -> Result<bool, SolveError> {
        if !is_tar_archive(host) {
            return Ok(false);
        }
        self.serial += 1;
        let dir = self.scratch.join(format!("unpack-{}", self.serial));
        std::fs::create_dir_all(&dir).map_err(SolveError::copy)?;
        let file = std::fs::File::open(host)
            .map_err(|e| SolveError::copy(format!("{}: {e}", host.display())))?;
        let reader =
            decompress(file).map_err(|e| SolveError::copy(format!("{}: {e}", host.display())))?;
        unpack(reader, &dir, UnpackMode::Merge)
            .map_err(|e| SolveError::copy(format!("extracting {}: {e}", host.display())))?;
        let base = self.dest.clone();
        self.ensure_dir(&base)?;
        for item in walkdir::WalkDir::new(&dir).min_depth(1).sort_by_file_name() {
            let item = item.map_err(SolveError::copy)?;
            let rel = item
                .path()
                .strip_prefix(&dir)
                .unwrap_or(item.path())
                .to_string_lossy()
                .into_owned();
            let md = item.path().symlink_metadata().map_err(SolveError::copy)?;
            let target = std::fs::read_link(item.path())
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            let meta = Meta::from_metadata(&md, target);
            if let Some(entry) = self.entry_from_meta(
                join(&base, &rel),
                &meta,
                true,
                Some(item.path().to_path_buf()),
            ) {
                self.put(entry, None)?;
            }
        }
        Ok(true)
    }

    fn add_download(&mut self, d: &super::copy_url::Download) -> Result<(), SolveError> {
        let target = self.file_target(&d.name);
        let (uid, gid) = self.owner_or(0, 0);
        let entry = Entry {
            path: target,
            kind: EntryKind::File { size: d.size },
            mode: 0o600,
            uid,
            gid,
            mtime: d.mtime.unwrap_or_else(|| self.s.created_mtime()),
            xattrs: Vec::new(),
            source: Some(d.file.path().to_path_buf()),
        };
        self.put(entry, Some(d.digest))
    }

    fn add_heredoc(&mut self, h: &Heredoc) -> Result<(), SolveError> {
        self.serial += 1;
        let file = self.scratch.join(format!("heredoc-{}", self.serial));
        let mut f = std::fs::File::create(&file).map_err(SolveError::copy)?;
        f.write_all(h.content.as_bytes())
            .map_err(SolveError::copy)?;
        let name = h.name.trim_start_matches('/').to_string();
        let target = if name.contains('/') {
            join(&self.dest, &name)
        } else {
            self.file_target(&name)
        };
        let (uid, gid) = self.owner_or(0, 0);
        let entry = Entry {
            path: target,
            kind: EntryKind::File {
                size: h.content.len() as u64,
            },
            mode: 0o644,
            uid,
            gid,
            mtime: self.s.created_mtime(),
            xattrs: Vec::new(),
            source: Some(file),
        };
        self.put(entry, Some(Digest::of(h.content.as_bytes())))
    }
}

/// True when the file is a tar archive, possibly compressed (as Docker decides for ADD).
fn is_tar_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(mut reader) = decompress(file) else {
        return false;
    };
    let mut header = [0u8; 512];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return false,
        }
    }
    filled == 512 && (&header[257..262] == b"ustar" || tar_checksum_ok(&header))
}

/// A pre-POSIX tar header is recognised by its checksum.
fn tar_checksum_ok(h: &[u8; 512]) -> bool {
    let field = &h[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                b' ' as u32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want && h[0] != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_clean() {
        assert_eq!(clean("/app/./x/../y/"), "app/y");
        assert_eq!(clean("/../../etc"), "etc");
        assert_eq!(clean("/"), "");
    }

    #[test]
    fn recognises_tar_archives() {
        let d = tempfile::tempdir().unwrap();
        let tar_path = d.path().join("a.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "x", &b"x"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        assert!(is_tar_archive(&tar_path));
        let gz = d.path().join("a.tar.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(&std::fs::read(&tar_path).unwrap()).unwrap();
        enc.finish().unwrap();
        assert!(is_tar_archive(&gz));
        let txt = d.path().join("a.txt");
        std::fs::write(&txt, "just text").unwrap();
        assert!(!is_tar_archive(&txt));
    }
}
