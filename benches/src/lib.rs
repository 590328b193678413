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

/// The recall corpus (`scripts/recall-corpus.sh`: Rust, C, Python, JavaScript and Java from
/// the registries): `CODETABLE_RECALL_CORPUS`, else `target/recall-corpus`, made if missing.
pub fn recall_corpus() -> PathBuf {
    if let Some(dir) = std::env::var_os("CODETABLE_RECALL_CORPUS") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = workspace.join("target/recall-corpus");
    if !dir.is_dir() {
        let status = std::process::Command::new("bash")
            .arg(workspace.join("scripts/recall-corpus.sh"))
            .arg(&dir)
            .status()
            .expect("bash runs scripts/recall-corpus.sh");
        assert!(status.success());
    }
    dir
}
