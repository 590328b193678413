//! What the benchmark tools share.

use std::path::{Path, PathBuf};

use codetable_syntax::Detection;

/// The source files under `root` that codetable would read (gitignore rules honoured),
/// with how their language is detected.
pub fn source_files(root: &Path) -> Vec<(PathBuf, Detection)> {
    ignore::WalkBuilder::new(root)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter_map(|e| {
            let detection = Detection::from_file_name(e.path().file_name()?)?;
            Some((e.path().to_path_buf(), detection))
        })
        .collect()
}
