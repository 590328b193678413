//! Finding the source files of a tree: `.gitignore` (inside git repositories), `.ignore` and
//! hidden files respected, excludes applied, languages detected by extension; anything odd
//! becomes a skip, never an abort.

use std::path::{Path, PathBuf};

use codetable_report::Skipped;
use codetable_syntax::Language;
use ignore::WalkBuilder;
use ignore::overrides::OverrideBuilder;

use crate::{AnalyzeError, AnalyzeOptions};

/// A file to analyse.
#[derive(Debug)]
pub(crate) struct SourceFile {
    pub path: PathBuf,
    /// Relative to the root, `/`-separated.
    pub relative: String,
    pub language: Language,
}

/// The files to analyse, sorted by relative path, and the entries skipped on the way.
pub(crate) fn walk(
    options: &AnalyzeOptions,
) -> Result<(Vec<SourceFile>, Vec<Skipped>), AnalyzeError> {
    let root = &options.root;
    let mut overrides = OverrideBuilder::new(root);
    for glob in &options.excludes {
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
        .git_global(false)
        // As git (and ripgrep) do: .gitignore applies inside a repository only. A source
        // tarball's leftover .gitignore (the Debian kernel's holds `/*`) must not hide it.
        .require_git(true)
        .follow_links(options.follow_links)
        .overrides(overrides)
        .build();

    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                skipped.push(Skipped {
                    path: error_path(&err)
                        .map(|p| relative(root, p))
                        .unwrap_or_default(),
                    reason: "walk-error".into(),
                    detail: err.to_string(),
                });
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
        let Some(language) = detect(path) else {
            continue;
        };
        if !options.languages.is_empty() && !options.languages.contains(&language) {
            continue;
        }
        let relative = relative(root, path);
        if file_type.is_symlink() {
            let detail = match std::fs::metadata(path) {
                Ok(_) => "symbolic link not followed (--follow-links follows them)".into(),
                Err(e) => format!("dangling symbolic link: {e}"),
            };
            skipped.push(Skipped {
                path: relative,
                reason: "symlink".into(),
                detail,
            });
            continue;
        }
        if !file_type.is_file() {
            skipped.push(Skipped {
                path: relative,
                reason: "not-regular".into(),
                detail: "not a regular file (FIFO, socket or device)".into(),
            });
            continue;
        }
        files.push(SourceFile {
            path: path.to_path_buf(),
            relative,
            language,
        });
    }
    files.sort_by(|a, b| a.relative.cmp(&b.relative));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, skipped))
}

fn detect(path: &Path) -> Option<Language> {
    Language::from_extension(path.extension()?.to_str()?)
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut out = String::new();
    for (i, part) in rel.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&part.as_os_str().to_string_lossy());
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
        _ => None,
    }
}
