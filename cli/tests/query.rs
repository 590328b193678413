//! `codetable index` and `codetable query`: trees indexed under names in one database, and
//! code looked up in all of them, from a file, a directory or standard input.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{FUNCTION, codetable};
use serde_json::Value;

fn index(db: &Path, dir: &Path, name: &str) {
    let out = codetable(&[
        "index".as_ref(),
        dir.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("as {name:?}")), "{said}");
}

/// Runs `codetable query` with `stdin` on standard input; (exit code, stdout, stderr).
fn query(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codetable"))
        .arg("query")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Two trees: `alpha` holds the Python fixture function, `beta` an edited copy of it (one
/// statement changed, names changed) and unrelated code.
fn two_trees(scratch: &Path) -> std::path::PathBuf {
    let alpha = scratch.join("alpha");
    let beta = scratch.join("beta");
    std::fs::create_dir_all(alpha.join("src")).unwrap();
    std::fs::create_dir_all(&beta).unwrap();
    std::fs::write(alpha.join("src/stats.py"), FUNCTION).unwrap();
    let edited = FUNCTION
        .replace("summarize", "digest")
        .replace("largest", "biggest")
        .replace("count += 1", "count = count + 1");
    std::fs::write(beta.join("digest.py"), edited).unwrap();
    std::fs::write(
        beta.join("other.py"),
        include_str!("../../fixtures/python/unrelated.py"),
    )
    .unwrap();
    let db = scratch.join("db");
    index(&db, &alpha, "alpha");
    index(&db, &beta, "beta");
    db
}

#[test]
fn a_snippet_is_found_in_every_tree_that_holds_it() {
    let scratch = tempfile::tempdir().unwrap();
    let db = two_trees(scratch.path());
    let renamed = FUNCTION
        .replace("summarize", "tally")
        .replace("values", "items");
    let args = [
        "-",
        "--db",
        db.to_str().unwrap(),
        "--lang",
        "python",
        "--format",
        "json",
    ];
    let (code, stdout, stderr) = query(&args, &renamed);
    assert_eq!(code, Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let function = &report["fragments"][0];
    assert_eq!(function["path"], "<stdin>");
    assert_eq!(function["start_line"], 1);
    let places: Vec<(String, String, String)> = function["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["tree"].as_str().unwrap().to_string(),
                m["path"].as_str().unwrap().to_string(),
                m["clone_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The renamed copy is a Type-2 match in alpha; the edited copy a near miss in beta.
    assert_eq!(
        places,
        [
            ("alpha".into(), "src/stats.py".into(), "T2".into()),
            ("beta".into(), "digest.py".into(), "T3".into()),
        ]
    );
    let similarity = function["matches"][1]["similarity"].as_f64().unwrap();
    assert!((0.7..1.0).contains(&similarity), "{similarity}");
    // Nothing of the unrelated file is listed.
    assert!(!stdout.contains("other.py"), "{stdout}");
}

#[test]
fn files_directories_and_limits() {
    let scratch = tempfile::tempdir().unwrap();
    let db = two_trees(scratch.path());
    let probe = scratch.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    std::fs::write(probe.join("mine.py"), FUNCTION).unwrap();
    let db = db.to_str().unwrap();
    // A file: text output names the tree, the path and the lines.
    let file = probe.join("mine.py");
    let (code, stdout, _) = query(&[file.to_str().unwrap(), "--db", db], "");
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("T1 1.00  alpha  src/stats.py:1-13"),
        "{stdout}"
    );
    // A directory, with --top 1: only the best place.
    let (code, stdout, _) = query(&[probe.to_str().unwrap(), "--db", db, "--top", "1"], "");
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("alpha  src/stats.py") && !stdout.contains("beta"),
        "{stdout}"
    );
    // A similarity bar above the near miss leaves only the exact copy.
    let (_, stdout, _) = query(
        &[
            file.to_str().unwrap(),
            "--db",
            db,
            "--min-similarity",
            "0.99",
        ],
        "",
    );
    assert!(!stdout.contains("digest.py"), "{stdout}");
    // Code found nowhere says so.
    let (code, stdout, _) = query(&["-", "--db", db, "--lang", "rust"], "fn main() {}\n");
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("no match"), "{stdout}");
}

#[test]
fn mistakes_are_explained() {
    let scratch = tempfile::tempdir().unwrap();
    let db = two_trees(scratch.path());
    // A snippet needs its language.
    let (code, _, stderr) = query(&["-", "--db", db.to_str().unwrap()], FUNCTION);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--lang"), "{stderr}");
    // A database that does not exist.
    let missing = scratch.path().join("nowhere");
    let (code, _, stderr) = query(
        &["-", "--db", missing.to_str().unwrap(), "--lang", "python"],
        FUNCTION,
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("nowhere") && stderr.contains("index.sqlite"),
        "{stderr}"
    );
    // db stats lists both trees and a measured false-positive rate.
    let out = codetable(&[
        "db".as_ref(),
        "stats".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    let stats = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stats}");
    assert!(
        stats.contains("tree alpha") && stats.contains("tree beta"),
        "{stats}"
    );
    assert!(stats.contains("false-positive rate"), "{stats}");
}
