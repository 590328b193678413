//! The real code the recall tests read: a corpus a script gathers once into `target/`.

use std::path::{Path, PathBuf};

/// The corpus `scripts/<name>.sh` gathers into `target/<name>` (run when missing), or the
/// directory named by the environment variable `env`.
pub fn prepared(env: &str, name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var(env) {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = workspace.join("target").join(name);
    if !dir.is_dir() {
        let script = workspace.join(format!("scripts/{name}.sh"));
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .status()
            .unwrap_or_else(|e| panic!("bash runs {}: {e}", script.display()));
        assert!(status.success(), "{} failed", script.display());
    }
    dir
}

/// Every file under `dir` with this extension, sorted.
pub fn source_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
