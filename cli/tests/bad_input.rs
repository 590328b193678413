//! The `codetable` binary on hostile trees: every bad file is skipped with its reason, the
//! run finishes, and the clones among the good files are still reported.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// A real function to copy: the Python fixture (`fixtures/python/original.py`).
const FUNCTION: &str = include_str!("../../fixtures/python/original.py");

/// Runs the binary with a time limit: a hang fails the test instead of stalling it.
fn codetable(args: &[&std::ffi::OsStr]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_codetable"));
    command.args(args);
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || send.send(command.output().expect("codetable runs")));
    receive
        .recv_timeout(Duration::from_secs(180))
        .expect("codetable finished within 3 minutes")
}

fn analyze_json(root: &Path, extra: &[&str]) -> Value {
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

fn skip_reason<'a>(report: &'a Value, path: &str) -> Option<&'a str> {
    report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == path)
        .map(|s| s["reason"].as_str().unwrap())
}

fn family_paths(report: &Value) -> Vec<Vec<String>> {
    report["families"]
        .as_array()
        .unwrap()
        .iter()
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

fn hostile_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |name: &str, bytes: &[u8]| std::fs::write(root.join(name), bytes).unwrap();

    // The good files: one function copied three times.
    write("good_a.py", FUNCTION.as_bytes());
    write(
        "good_b.py",
        FUNCTION.replace("summarize", "digest").as_bytes(),
    );
    let mut latin1 = b"# -*- coding: latin-1 -*-\n# caf\xe9\n".to_vec();
    latin1.extend_from_slice(FUNCTION.as_bytes());
    write("latin1.py", &latin1);

    // Binary content and NUL bytes behind source extensions.
    write(
        "image.c",
        &[0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0xff, 0xfe],
    );
    write("nul.js", b"function f() {\n  return 1;\0\0\0\n}\n");
    write("empty.rs", b"");
    // A 20 MB single-line minified file.
    write("huge.min.js", "var a=1;".repeat(2_500_000).as_bytes());
    // 10,000-deep nesting.
    write(
        "deep.py",
        format!("x = {}1{}\n", "(\n".repeat(10_000), ")\n".repeat(10_000)).as_bytes(),
    );
    write(
        "deep.c",
        format!(
            "int f(void) {}{}\n",
            "{\n".repeat(10_000),
            "}\n".repeat(10_001)
        )
        .as_bytes(),
    );
    // Syntax errors.
    write("broken.java", b"class A { void f( { int x = ; } } } {{\n");
    // A symlink loop and a dangling link, with source extensions.
    std::os::unix::fs::symlink("loop.py", root.join("loop.py")).unwrap();
    std::os::unix::fs::symlink("missing.rs", root.join("dangling.rs")).unwrap();
    // A directory loop, seen with --follow-links.
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    // A FIFO with a source extension: opening it would block forever.
    let status = Command::new("mkfifo")
        .arg(root.join("pipe.c"))
        .status()
        .unwrap();
    assert!(status.success());
    // Odd file names: a newline, a space, non-UTF-8 bytes.
    write("odd\nname .go", b"package p\n");
    let raw = std::ffi::OsStr::from_bytes(b"raw\xffname.rb");
    std::fs::write(root.join(raw), b"def f\n  1\nend\n").unwrap();
    dir
}

#[test]
fn hostile_tree_is_analysed_with_every_skip_explained() {
    let dir = hostile_tree();
    let report = analyze_json(dir.path(), &[]);

    assert_eq!(skip_reason(&report, "image.c"), Some("binary"));
    assert_eq!(skip_reason(&report, "nul.js"), Some("binary"));
    assert_eq!(skip_reason(&report, "huge.min.js"), Some("too-large"));
    assert_eq!(skip_reason(&report, "pipe.c"), Some("not-regular"));
    assert_eq!(skip_reason(&report, "loop.py"), Some("symlink"));
    assert_eq!(skip_reason(&report, "dangling.rs"), Some("symlink"));
    for analysed in ["deep.py", "deep.c", "broken.java", "latin1.py", "empty.rs"] {
        assert_eq!(
            skip_reason(&report, analysed),
            None,
            "{analysed} was skipped"
        );
    }
    let stats = &report["stats"];
    assert_eq!(stats["files"], 9, "{stats}");
    assert!(stats["files_with_syntax_errors"].as_u64().unwrap() >= 1);
    assert_eq!(stats["files_not_utf8"], 1);

    let families = family_paths(&report);
    assert_eq!(families, [vec!["good_a.py", "good_b.py", "latin1.py"]]);
}

#[test]
fn oversized_and_minified_files_parse_in_bounded_time_when_asked_for() {
    let dir = hostile_tree();
    let report = analyze_json(
        dir.path(),
        &[
            "--include-generated",
            "--max-file-size",
            "100000000",
            "--parse-timeout",
            "3",
            "--follow-links",
        ],
    );
    // Parsed (or given up on after the parse timeout), never a crash or a hang.
    let huge = skip_reason(&report, "huge.min.js");
    assert!(matches!(huge, None | Some("parse-timeout")), "{huge:?}");
    // Following links, the directory loop is detected and reported.
    let loops = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["reason"] == "walk-error")
        .count();
    assert!(loops >= 1, "{}", report["skipped"]);
    assert_eq!(
        family_paths(&report)[0],
        ["good_a.py", "good_b.py", "latin1.py"]
    );
}

#[test]
fn minified_files_are_skipped_by_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.min.js"), "var a=1;".repeat(2_000)).unwrap();
    std::fs::write(dir.path().join("gen.py"), "# @generated by a tool\nx = 1\n").unwrap();
    let report = analyze_json(dir.path(), &[]);
    assert_eq!(skip_reason(&report, "app.min.js"), Some("minified"));
    assert_eq!(skip_reason(&report, "gen.py"), Some("generated"));
}

#[test]
fn exit_codes_are_documented_ones() {
    let missing = codetable(&["analyze".as_ref(), "/nonexistent/codetable".as_ref()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot analyse"));
    let usage = codetable(&["analyze".as_ref(), "--no-such-flag".as_ref()]);
    assert_eq!(usage.status.code(), Some(2));
    let language = codetable(&[
        "analyze".as_ref(),
        ".".as_ref(),
        "--lang".as_ref(),
        "cobol".as_ref(),
    ]);
    assert_eq!(language.status.code(), Some(2));
}

#[test]
fn gitignore_and_excludes_are_respected() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for name in ["a.py", "b.py", "ignored.py", "vendor/c.py", ".hidden.py"] {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, FUNCTION).unwrap();
    }
    std::fs::write(root.join(".gitignore"), "ignored.py\n").unwrap();
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(root)
        .status();
    assert!(git.unwrap().success());
    let report = analyze_json(root, &["--exclude", "vendor/**"]);
    assert_eq!(family_paths(&report), [vec!["a.py", "b.py"]]);
    let output = root.join("out.json");
    let out = codetable(&[
        "analyze".as_ref(),
        root.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
        "--output".as_ref(),
        output.as_os_str(),
    ]);
    assert!(out.status.success() && out.stdout.is_empty());
    let written: Value = serde_json::from_slice(&std::fs::read(output).unwrap()).unwrap();
    assert_eq!(written["schema_version"], 1);
}
