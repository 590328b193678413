//! Finding the source files of a tree: `.gitignore` (inside git repositories, with git's
//! global excludes file), `.ignore` and hidden files respected, excludes applied, languages
//! detected by name (`.h` headers later, by content); anything odd becomes a skip, never an
//! abort. Paths are kept exact, as bytes.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use codetable_report::{SkipReason, Skipped, report_path};
use codetable_syntax::Detection;
use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use crate::{AnalyzeError, AnalyzeOptions};

/// A file to analyse.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    /// Relative to the root, `/`-separated, exact bytes.
    pub relative: Vec<u8>,
    pub detection: Detection,
}

impl SourceFile {
    /// A skip entry for this file.
    pub fn skip(&self, reason: SkipReason, detail: String) -> Skipped {
        skipped(&self.relative, reason, detail)
    }
}

pub(crate) fn skipped(relative: &[u8], reason: SkipReason, detail: String) -> Skipped {
    let (path, path_bytes) = report_path(relative);
    Skipped {
        path,
        path_bytes,
        reason,
        detail,
    }
}

/// The files to analyse, sorted by relative path, and the entries skipped on the way.
pub(crate) fn walk(
    options: &AnalyzeOptions,
) -> Result<(Vec<SourceFile>, Vec<Skipped>), AnalyzeError> {
    let root = &options.root;
    // The walker reports an unreadable root as one more entry error: check it first.
    std::fs::read_dir(root).map_err(|e| AnalyzeError::Root(root.clone(), e.to_string()))?;
    let mut overrides = OverrideBuilder::new(root);
    for glob in &options.excludes {
        check_glob(glob)?;
        overrides
            .add(&format!("!{glob}"))
            .map_err(|e| AnalyzeError::BadGlob(glob.clone(), e.to_string()))?;
    }
    let overrides = overrides
        .build()
        .map_err(|e| AnalyzeError::BadGlob(options.excludes.join(" "), e.to_string()))?;
    let walker = WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        // As git (and ripgrep) do: .gitignore applies inside a repository only. A source
        // tarball's leftover .gitignore (the Debian kernel's holds `/*`) must not hide it.
        .require_git(true)
        .follow_links(options.follow_links)
        .overrides(overrides)
        .build();

    let mut files = Vec::new();
    let mut skipped = Vec::new();
    // Each file with its identity: hard links and, with --follow-links, symbolic links
    // share one.
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let path = error_path(&err).map(|p| relative(root, p));
                skipped.push(self::skipped(
                    &path.unwrap_or_else(|| b".".to_vec()),
                    SkipReason::WalkError,
                    err.to_string(),
                ));
                continue;
            }
        };
        let path = entry.path();
        let Some(file_type) = entry.file_type() else {
            continue; // stdin
        };
        if file_type.is_dir() {
            continue;
        }
        let Some(detection) = path.file_name().and_then(Detection::from_file_name) else {
            continue;
        };
        if !options.languages.is_empty() && !options.languages.iter().any(|&l| detection.may_be(l))
        {
            continue;
        }
        let relative = relative(root, path);
        if file_type.is_symlink() {
            let detail = match std::fs::metadata(path) {
                Ok(_) => "symbolic link not followed (--follow-links follows them)".into(),
                Err(e) => format!("dangling symbolic link: {e}"),
            };
            skipped.push(self::skipped(&relative, SkipReason::Symlink, detail));
            continue;
        }
        if !file_type.is_file() {
            skipped.push(self::skipped(
                &relative,
                SkipReason::NotRegular,
                "not a regular file (FIFO, socket or device)".into(),
            ));
            continue;
        }
        let identity = match entry.metadata() {
            Ok(m) => Identity {
                inode: (m.dev(), m.ino()),
                linked: entry.path_is_symlink(),
            },
            Err(e) => {
                skipped.push(self::skipped(
                    &relative,
                    SkipReason::Unreadable,
                    e.to_string(),
                ));
                continue;
            }
        };
        let file = SourceFile {
            path: path.to_path_buf(),
            relative,
            detection,
        };
        files.push((file, identity));
    }
    let mut files = once_per_identity(files, &mut skipped);
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, skipped))
}

/// Keeps one path per file identity (a hard link, or a symbolic link followed to a file
/// inside the tree, would make it a clone of itself): the path that is not a symbolic
/// link, else the first in path order.
fn once_per_identity(
    mut files: Vec<(SourceFile, Identity)>,
    skipped: &mut Vec<Skipped>,
) -> Vec<SourceFile> {
    files.sort_by(|(a, ia), (b, ib)| (ia, &a.relative).cmp(&(ib, &b.relative)));
    let mut kept: Vec<SourceFile> = Vec::with_capacity(files.len());
    let mut last = None;
    for (file, identity) in files {
        match kept.last() {
            Some(keeper) if last == Some(identity.inode) => {
                let detail = format!(
                    "the same file as {} (analysed once)",
                    report_path(&keeper.relative).0
                );
                skipped.push(file.skip(SkipReason::SameFile, detail));
            }
            _ => {
                last = Some(identity.inode);
                kept.push(file);
            }
        }
    }
    kept
}

/// What makes two paths one file, and how to choose between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Identity {
    /// Device and inode.
    inode: (u64, u64),
    /// Reached through a symbolic link (sorts after a direct path).
    linked: bool,
}

/// Rejects globs that would silently exclude everything or that do not parse, with the
/// glob as the user wrote it.
pub fn check_glob(glob: &str) -> Result<(), AnalyzeError> {
    if glob.trim().is_empty() {
        return Err(AnalyzeError::BadGlob(
            glob.to_string(),
            "an empty glob would exclude every file".into(),
        ));
    }
    globset::Glob::new(glob)
        .map(|_| ())
        .map_err(|e| AnalyzeError::BadGlob(glob.to_string(), e.kind().to_string()))
}

/// `path` relative to `root`, `/`-separated, as exact bytes.
fn relative(root: &Path, path: &Path) -> Vec<u8> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = Vec::new();
    for (i, part) in rel.components().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(part.as_os_str().as_bytes());
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}
