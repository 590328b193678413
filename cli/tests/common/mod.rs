//! Helpers shared by the CLI tests: run the real binary with a time limit, read its JSON.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A real function to copy: the Python fixture (`fixtures/python/original.py`).
pub const FUNCTION: &str = include_str!("../../../fixtures/python/original.py");

/// Runs the binary with a time limit: a hang fails the test instead of stalling it.
pub fn codetable(args: &[&std::ffi::OsStr]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codetable"));
    command.args(args);
    run(command)
}

/// Like [`codetable`], with `configure` setting the child's environment first (variables to
/// set or to remove).
pub fn codetable_with(args: &[&std::ffi::OsStr], configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codetable"));
    command.args(args);
    configure(&mut command);
    run(command)
}

fn run(mut command: Command) -> Output {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(command.output().expect("codetable runs")));
    receive
        .recv_timeout(Duration::from_secs(180))
        .expect("codetable finished within 3 minutes")
}

pub fn analyze_json(root: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&std::ffi::OsStr> = vec!["analyze".as_ref(), root.as_os_str()];
    args.extend(["--format", "json"].iter().map(std::ffi::OsStr::new));
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let out = codetable(&args);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

pub fn skip_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .map(|s| s["reason"].as_str().unwrap())
}

/// The paths of each family's instances, for the families that stand alone (not subsumed
/// by a larger copy).
pub fn family_paths(report: &Value) -> Vec<Vec<String>> {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subsumed"] == false)
        .map(|f| {
            f["instances"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["path"].as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// Runs the binary with extra environment variables, from a working directory.
pub fn codetable_in(dir: &Path, envs: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codetable"));
    command.args(args).current_dir(dir);
    for (k, v) in envs {
        command.env(k, v);
    }
    run(command)
}

/// The repository's root.
pub fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// Copies the regular files and directories under `from` (leaving out hidden ones, such as
/// a pattern database someone made there).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
