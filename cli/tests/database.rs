//! The pattern database through the real binary: a re-run after any change reports what a
//! cold in-memory run reports (and re-parses only what changed), a writer killed at any
//! moment leaves a database the next run can use, damaged databases are refused with the
//! damaged file's name (never a panic) and `--rebuild` recovers them, and a second writer
//! waits for the first or fails clearly.
//!
//! The trees are copies of this repository's own `crates/` and `fixtures/` (real Rust and
//! fixture files in every language), so the tests need nothing outside it.

mod common;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{codetable, copy_dir, repository};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// Running the binary.

fn ct(args: &[OsString]) -> Output {
    let refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    codetable(&refs)
}

/// `analyze ROOT --format json -o OUT`, with `--db DB` or, without one, `--no-db`.
fn analyze_args(root: &Path, db: Option<&Path>, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "analyze".into(),
        root.into(),
        "--format".into(),
        "json".into(),
        "-o".into(),
        out.into(),
    ];
    match db {
        Some(db) => {
            args.push("--db".into());
            args.push(db.into());
        }
        None => args.push("--no-db".into()),
    }
    args.extend(extra.iter().map(OsString::from));
    args
}

fn analyze(root: &Path, db: Option<&Path>, out: &Path, extra: &[&str]) -> Output {
    ct(&analyze_args(root, db, out, extra))
}

/// Like [`analyze`], and the run must succeed.
fn analyze_ok(root: &Path, db: Option<&Path>, out: &Path, extra: &[&str]) {
    let output = analyze(root, db, out, extra);
    assert!(
        output.status.success(),
        "{} exited with {:?}: {}",
        show(&analyze_args(root, db, out, extra)),
        output.status,
        stderr(&output)
    );
}

fn spawn(args: &[OsString]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_codetable"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("codetable starts")
}

fn show(args: &[OsString]) -> String {
    let words: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    format!("codetable {}", words.join(" "))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether this build has the `db` subcommand (`codetable db check`).
fn has_db_command() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let help = ct(&["--help".into()]);
        String::from_utf8_lossy(&help.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some("db"))
    })
}

fn db_check(db: &Path) -> Output {
    ct(&["db".into(), "check".into(), "--db".into(), db.into()])
}

/// `codetable db check` says a database is sound (when this build has the subcommand).
fn assert_db_sound(db: &Path, context: &str) {
    if !has_db_command() {
        eprintln!("note: this codetable has no `db` subcommand; `db check` not run");
        return;
    }
    let out = db_check(db);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        out.status.code() == Some(0) && text.contains("ok"),
        "{context}: `codetable db check --db {}` exited with {:?}, said: {text}",
        db.display(),
        out.status
    );
}

// ---------------------------------------------------------------------------------------
// Comparing reports.

/// The report's text with the contents of `stats.timings_ms`, `stats.backend` and
/// `stats.work` blanked.
fn blank_work(text: &str) -> String {
    let Some(stats) = text.rfind("\"stats\":") else {
        return text.to_string();
    };
    let mut out = text[..stats].to_string();
    let mut rest = &text[stats..];
    for key in ["\"timings_ms\":", "\"backend\":", "\"work\":"] {
        let Some(at) = rest.find(key) else { continue };
        let Some(open) = rest[at..].find('{').map(|o| at + o) else {
            continue;
        };
        let mut depth = 0;
        let mut close = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push_str(&rest[..=open]);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}

#[test]
fn blank_work_blanks_only_timings_backend_and_work() {
    let report = r#"{
  "root": "x",
  "families": [{"path": "stats\\\"work\\\": {1}"}],
  "stats": {
    "files": 3,
    "timings_ms": {
      "walk": 1.5,
      "total": 2.0
    },
    "backend": {
      "name": "cpu"
    },
    "work": {
      "files_parsed": 3
    }
  }
}"#;
    let blanked = blank_work(report);
    assert!(blanked.contains(r#""backend": {}"#), "{blanked}");
    assert!(blanked.contains(r#""timings_ms": {}"#), "{blanked}");
    assert!(blanked.contains(r#""work": {}"#), "{blanked}");
    assert!(blanked.contains(r#""files": 3,"#), "{blanked}");
    assert!(blanked.contains(r#"{1}"#), "{blanked}");
    assert_ne!(
        blank_work(report),
        blank_work(&report.replace("\"files\": 3", "\"files\": 4"))
    );
    assert_eq!(
        blank_work(report),
        blank_work(&report.replace("1.5", "9.25"))
    );
}

fn read_report(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stripped(mut report: Value) -> Value {
    if let Some(stats) = report["stats"].as_object_mut() {
        stats.remove("timings_ms");
        stats.remove("backend");
        stats.remove("work");
    }
    report
}

/// Where two JSON values first differ, as a path and the two values.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let here = format!("{at}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &here) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{here}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            for (k, (p, q)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(p, q, &format!("{at}[{k}]")) {
                    return Some(d);
                }
            }
            (x.len() != y.len()).then(|| format!("{at}: {} items vs {}", x.len(), y.len()))
        }
        _ => (a != b).then(|| {
            let short = |v: &Value| {
                let s = v.to_string();
                if s.chars().count() > 300 {
                    format!("{}…", s.chars().take(300).collect::<String>())
                } else {
                    s
                }
            };
            format!("{at}: {} vs {}", short(a), short(b))
        }),
    }
}

/// The database run's JSON (`with_db`) is byte for byte the `--no-db` run's (`cold`), but
/// for `stats.timings_ms` and `stats.work`.
fn same_report(with_db: &Path, cold: &Path) -> Result<(), String> {
    let a = std::fs::read_to_string(with_db).map_err(|e| format!("{}: {e}", with_db.display()))?;
    let b = std::fs::read_to_string(cold).map_err(|e| format!("{}: {e}", cold.display()))?;
    if blank_work(&a) == blank_work(&b) {
        return Ok(());
    }
    let (va, vb) = (stripped(read_report(with_db)), stripped(read_report(cold)));
    Err(match first_difference(&va, &vb, "$") {
        Some(d) => format!("the database run's report differs from the --no-db run's at {d}"),
        None => "the reports hold the same values but differ in bytes".into(),
    })
}

fn assert_same_report(with_db: &Path, cold: &Path, context: &str) {
    if let Err(e) = same_report(with_db, cold) {
        panic!("{context}: {e}");
    }
}

fn work(report: &Value, key: &str) -> u64 {
    report["stats"]["work"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.work.{key} missing: {}", report["stats"]["work"]))
}

// ---------------------------------------------------------------------------------------
// Trees.

/// A real tree: this repository's `crates/` and `fixtures/`.
fn real_tree(to: &Path) {
    for part in ["crates", "fixtures"] {
        copy_dir(&repository().join(part), &to.join(part));
    }
}

/// `copies` copies of the real tree side by side (a few hundred files).
fn big_tree(to: &Path, copies: usize) {
    for k in 0..copies {
        real_tree(&to.join(format!("copy{k}")));
    }
}

/// The regular files under `root`, relative, sorted.
fn files(root: &Path) -> Vec<PathBuf> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                visit(root, &entry.path(), out);
            } else if kind.is_file() {
                out.push(entry.path().strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    visit(root, root, &mut out);
    out.sort();
    out
}

const SOURCE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "ts", "tsx", "java", "go", "c", "h", "cpp", "cs", "rb", "php", "kt", "swift",
    "scala",
];

fn is_source(path: &Path) -> bool {
    path.extension()
        .and_then(OsStr::to_str)
        .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

/// The identifiers of at least three characters in `text`, as byte ranges.
fn identifiers(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if word(text[i]) {
            let start = i;
            while i < text.len() && word(text[i]) {
                i += 1;
            }
            if !text[start].is_ascii_digit() && i - start >= 3 {
                out.push(start..i);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Renames the identifier at `which` to `new`: that occurrence only, or, with `all`, every
/// occurrence of the same name (a consistent rename).
fn rename_identifier(text: &[u8], which: Pick, all: bool, new: &str) -> Vec<u8> {
    let ids = identifiers(text);
    if ids.is_empty() {
        return text.to_vec();
    }
    let chosen = ids[which.index(ids.len())].clone();
    let name = &text[chosen.clone()];
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut last = 0;
    for r in ids {
        if r == chosen || (all && &text[r.clone()] == name) {
            out.extend_from_slice(&text[last..r.start]);
            out.extend_from_slice(new.as_bytes());
            last = r.end;
        }
    }
    out.extend_from_slice(&text[last..]);
    out
}

/// A choice among however many items there are when it is applied.
#[derive(Clone, Copy, Debug)]
struct Pick(u64);

impl Pick {
    fn index(self, len: usize) -> usize {
        assert!(len > 0);
        (self.0 % len as u64) as usize
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    any::<u64>().prop_map(Pick)
}

/// A small deterministic generator for the tests that are not property-based; the seed is
/// printed (and `CODETABLE_TEST_SEED` repeats it).
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("CODETABLE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("{test}: CODETABLE_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick(&mut self) -> Pick {
        Pick(self.next())
    }
}

// ---------------------------------------------------------------------------------------
// 1. A re-run after any change reports what a cold run reports.

#[derive(Clone, Debug)]
enum Step {
    /// Insert lines copied from another file into a source file.
    InsertLines {
        target: Pick,
        source: Pick,
        from: Pick,
        len: usize,
        at: Pick,
    },
    /// Delete a range of lines of a source file.
    DeleteLines {
        target: Pick,
        from: Pick,
        len: usize,
    },
    /// Rename one identifier of a source file (one occurrence, or all of that name).
    RenameIdentifier {
        target: Pick,
        which: Pick,
        all: bool,
    },
    /// Add a copy of a source file under a new name, maybe with an identifier renamed.
    AddFile {
        source: Pick,
        dir: Pick,
        edit: Option<(Pick, bool)>,
    },
    DeleteFile {
        target: Pick,
    },
    /// Rename a source file: to a new name in some directory, keeping its extension or not
    /// (`.txt` leaves the analysis).
    RenameFile {
        target: Pick,
        dir: Pick,
        keep_extension: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (pick(), pick(), pick(), 1usize..40, pick())
            .prop_map(|(target, source, from, len, at)| Step::InsertLines { target, source, from, len, at }),
        2 => (pick(), pick(), 1usize..30)
            .prop_map(|(target, from, len)| Step::DeleteLines { target, from, len }),
        2 => (pick(), pick(), any::<bool>())
            .prop_map(|(target, which, all)| Step::RenameIdentifier { target, which, all }),
        2 => (pick(), pick(), proptest::option::of((pick(), any::<bool>())))
            .prop_map(|(source, dir, edit)| Step::AddFile { source, dir, edit }),
        1 => pick().prop_map(|target| Step::DeleteFile { target }),
        1 => (pick(), pick(), proptest::bool::weighted(0.75))
            .prop_map(|(target, dir, keep_extension)| Step::RenameFile { target, dir, keep_extension }),
    ]
}

/// Applies `step` (number `n` of its sequence) to the tree at `root`; returns what it did
/// and how many files it wrote (those a re-run may re-parse).
fn apply(root: &Path, step: &Step, n: usize) -> (String, u64) {
    let all = files(root);
    let sources: Vec<&PathBuf> = all.iter().filter(|p| is_source(p)).collect();
    let dirs: Vec<PathBuf> = {
        let mut d: Vec<PathBuf> = all
            .iter()
            .map(|p| p.parent().unwrap().to_path_buf())
            .collect();
        d.dedup();
        d.sort();
        d.dedup();
        d
    };
    if sources.is_empty() {
        return ("nothing (no source file left)".into(), 0);
    }
    let read = |p: &Path| std::fs::read(root.join(p)).unwrap();
    let write = |p: &Path, bytes: &[u8]| std::fs::write(root.join(p), bytes).unwrap();
    let new_name = |source: &Path, dir: &Path, extension: Option<&str>| {
        let stem = source.file_stem().unwrap().to_string_lossy();
        let ext = extension
            .map(str::to_string)
            .or_else(|| source.extension().map(|e| e.to_string_lossy().into_owned()));
        let name = match ext {
            Some(e) => format!("step{n}_{stem}.{e}"),
            None => format!("step{n}_{stem}"),
        };
        dir.join(name)
    };
    match step {
        Step::InsertLines {
            target,
            source,
            from,
            len,
            at,
        } => {
            let target = sources[target.index(sources.len())];
            let source = &all[source.index(all.len())];
            let (text, copied) = (read(target), read(source));
            let copied = lines(&copied);
            let mut text = lines(&text);
            if copied.is_empty() {
                return (format!("nothing ({} is empty)", source.display()), 0);
            }
            let start = from.index(copied.len());
            let block = &copied[start..(start + len).min(copied.len())];
            let at = at.index(text.len() + 1);
            let mut block: Vec<u8> = block.concat();
            if at > 0 && !text[at - 1].ends_with(b"\n") {
                block.insert(0, b'\n');
            }
            text.insert(at, &block);
            write(target, &text.concat());
            (
                format!(
                    "insert {} lines of {} (from line {}) at line {} of {}",
                    block.len().min(*len),
                    source.display(),
                    start + 1,
                    at + 1,
                    target.display()
                ),
                1,
            )
        }
        Step::DeleteLines { target, from, len } => {
            let target = sources[target.index(sources.len())];
            let text = read(target);
            let mut text = lines(&text);
            if text.is_empty() {
                return (format!("nothing ({} is empty)", target.display()), 0);
            }
            let start = from.index(text.len());
            let end = (start + len).min(text.len());
            text.drain(start..end);
            write(target, &text.concat());
            (
                format!("delete lines {}-{} of {}", start + 1, end, target.display()),
                1,
            )
        }
        Step::RenameIdentifier { target, which, all } => {
            let target = sources[target.index(sources.len())];
            let new = format!("renamedAt{n}");
            write(
                target,
                &rename_identifier(&read(target), *which, *all, &new),
            );
            (
                format!(
                    "rename {} identifier(s) of {} to {new}",
                    if *all { "every same" } else { "one" },
                    target.display()
                ),
                1,
            )
        }
        Step::AddFile { source, dir, edit } => {
            let source = sources[source.index(sources.len())];
            let dir = &dirs[dir.index(dirs.len())];
            let path = new_name(source, dir, None);
            let mut text = read(source);
            if let Some((which, all)) = edit {
                text = rename_identifier(&text, *which, *all, &format!("addedAt{n}"));
            }
            write(&path, &text);
            (
                format!(
                    "add {} as a copy of {}{}",
                    path.display(),
                    source.display(),
                    if edit.is_some() { ", renamed" } else { "" }
                ),
                1,
            )
        }
        Step::DeleteFile { target } => {
            let target = sources[target.index(sources.len())];
            std::fs::remove_file(root.join(target)).unwrap();
            (format!("delete {}", target.display()), 0)
        }
        Step::RenameFile {
            target,
            dir,
            keep_extension,
        } => {
            let target = sources[target.index(sources.len())];
            let dir = &dirs[dir.index(dirs.len())];
            let path = new_name(target, dir, (!keep_extension).then_some("txt"));
            std::fs::rename(root.join(target), root.join(&path)).unwrap();
            (
                format!("rename {} to {}", target.display(), path.display()),
                1,
            )
        }
    }
}

/// Runs `analyze` with the database and without on `root`, and compares.
fn compare_runs(root: &Path, db: &Path, scratch: &Path, context: &str) -> Result<Value, String> {
    let (a, b) = (scratch.join("a.json"), scratch.join("b.json"));
    for (db, out) in [(Some(db), &a), (None, &b)] {
        let output = analyze(root, db, out, &[]);
        if !output.status.success() {
            return Err(format!(
                "{context}: {} exited with {:?}: {}",
                show(&analyze_args(root, db, out, &[])),
                output.status,
                stderr(&output)
            ));
        }
    }
    same_report(&a, &b).map_err(|e| format!("{context}: {e}"))?;
    Ok(read_report(&a))
}

fn incremental_case(steps: &[Step]) -> Result<(), TestCaseError> {
    let scratch = tempfile::tempdir().unwrap();
    let (root, db) = (scratch.path().join("tree"), scratch.path().join("db"));
    real_tree(&root);
    let cold = compare_runs(&root, &db, scratch.path(), "the first run").map_err(fail)?;
    prop_assert_eq!(work(&cold, "files_reused"), 0);
    let mut done = Vec::new();
    for (n, step) in steps.iter().enumerate() {
        let (what, touched) = apply(&root, step, n);
        done.push(what);
        let context = format!("after {}", done.join("; then "));
        let report = compare_runs(&root, &db, scratch.path(), &context).map_err(fail)?;
        let parsed = work(&report, "files_parsed");
        prop_assert!(
            parsed <= touched,
            "{}: the re-run parsed {} files, but the step wrote only {}",
            context,
            parsed,
            touched
        );
        let files = report["stats"]["files"].as_u64().unwrap();
        let reused = work(&report, "files_reused");
        prop_assert!(
            reused + touched >= files,
            "{}: the re-run reused only {} of {} files, but the step wrote only {}",
            context,
            reused,
            files,
            touched
        );
    }
    assert_db_sound(&db, &format!("after {}", done.join("; then ")));
    Ok(())
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

proptest! {
    #![proptest_config(Config {
        cases: 12,
        max_shrink_iters: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })]

    #[test]
    fn incremental_equals_cold(steps in proptest::collection::vec(step(), 3..=6)) {
        incremental_case(&steps)?;
    }
}

// ---------------------------------------------------------------------------------------
// 2. A writer killed at any moment leaves a database the next run can use.

/// A few random edits of the tree's source files; returns what they did.
fn edit_some(root: &Path, rng: &mut Rng, trial: usize) -> Vec<String> {
    let count = 1 + rng.below(5);
    (0..count)
        .map(|k| {
            let step = match rng.below(3) {
                0 => Step::InsertLines {
                    target: rng.pick(),
                    source: rng.pick(),
                    from: rng.pick(),
                    len: 1 + rng.below(40),
                    at: rng.pick(),
                },
                1 => Step::DeleteLines {
                    target: rng.pick(),
                    from: rng.pick(),
                    len: 1 + rng.below(30),
                },
                _ => Step::RenameIdentifier {
                    target: rng.pick(),
                    which: rng.pick(),
                    all: rng.below(2) == 0,
                },
            };
            apply(root, &step, trial * 10 + k).0
        })
        .collect()
}

#[test]
fn killed_writers_leave_a_usable_database() {
    let mut rng = Rng::new("killed_writers_leave_a_usable_database");
    let scratch = tempfile::tempdir().unwrap();
    let (root, db) = (scratch.path().join("tree"), scratch.path().join("db"));
    big_tree(&root, 4);
    let (a, b, killed) = (
        scratch.path().join("a.json"),
        scratch.path().join("b.json"),
        scratch.path().join("killed.json"),
    );

    // How long a cold run takes: the kills land anywhere in it.
    let started = Instant::now();
    analyze_ok(&root, Some(&db), &a, &[]);
    let cold = started.elapsed();
    let files = read_report(&a)["stats"]["files"].as_u64().unwrap();
    assert!(files >= 200, "the tree has only {files} files");
    std::fs::remove_dir_all(&db).unwrap();

    let mut finished_before_kill = 0;
    let mut most_segments = 0;
    for trial in 0..20 {
        // What the killed run has to do: build a new database, rebuild one, or bring one up
        // to date after edits. Runs of edits in a row add segments, so that merging them
        // (past `MAX_SEGMENTS`, 8) happens too, in a killed run or after one.
        let (what, extra, limit): (String, &[&str], Duration) = match trial {
            0 => ("a cold run on no database".into(), &[], cold),
            1 | 15 => ("a --rebuild run".into(), &["--rebuild"], cold),
            _ => {
                let edits = edit_some(&root, &mut rng, trial);
                (format!("a run after: {}", edits.join("; ")), &[], cold / 4)
            }
        };
        let delay = limit.mul_f64(rng.below(1001) as f64 / 1000.0);
        let mut args = analyze_args(&root, Some(&db), &killed, extra);
        // Every third edit run is an `index` run (stores the files, drops the matching).
        let what = if trial >= 2 && trial % 3 == 2 {
            args[0] = "index".into();
            format!("{what} (index)")
        } else {
            what
        };
        let mut child = spawn(&args);
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            finished_before_kill += 1;
        }
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let context =
            format!("trial {trial}: {what}, killed after {delay:?} ({status:?}), then a full run");

        let output = analyze(&root, Some(&db), &a, &[]);
        assert!(
            output.status.success(),
            "{context}: the run after the kill exited with {:?}: {}",
            output.status,
            stderr(&output)
        );
        analyze_ok(&root, None, &b, &[]);
        assert_same_report(&a, &b, &context);
        assert_db_sound(&db, &context);
        most_segments = most_segments.max(segment_files(&db).len());
    }
    eprintln!(
        "killed_writers_leave_a_usable_database: cold run {cold:?}; {finished_before_kill} of 20 runs finished before their kill; at most {most_segments} segments"
    );
    assert!(
        finished_before_kill < 20,
        "every run finished before its kill: the kills tested nothing"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Damaged databases are refused, naming the damaged file, and --rebuild recovers.

fn segment_files(db: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(db.join("segments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ctseg"))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    out
}

/// Writes `value` big-endian at `offset` of the SQLite header of `path` (`user_version` is
/// at 60, `application_id` at 68). The database is closed and checkpointed (no `-wal`).
fn patch_sqlite_header(path: &Path, offset: usize, value: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with(b"SQLite format 3\0"),
        "{}",
        path.display()
    );
    bytes[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}

fn have_sqlite3() -> bool {
    Command::new("sqlite3")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn damaged_databases_give_clear_errors() {
    let mut rng = Rng::new("damaged_databases_give_clear_errors");
    let scratch = tempfile::tempdir().unwrap();
    let (root, db) = (scratch.path().join("tree"), scratch.path().join("db"));
    real_tree(&root);
    let (a, b) = (scratch.path().join("a.json"), scratch.path().join("b.json"));
    analyze_ok(&root, None, &b, &[]);
    analyze_ok(&root, Some(&db), &a, &[]);
    assert_same_report(&a, &b, "the first run");
    let index = db.join("index.sqlite");
    assert!(
        !db.join("index.sqlite-wal").exists(),
        "a finished run leaves its WAL checkpointed and removed"
    );

    type Damage = Box<dyn Fn(&Path, &mut Rng) -> PathBuf>;
    let mut damages: Vec<(&str, Damage)> = vec![
        (
            "a segment truncated to half",
            Box::new(|db, _| {
                let segment = segment_files(db).remove(0);
                let len = std::fs::metadata(&segment).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&segment)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
                segment
            }),
        ),
        (
            "a segment with one byte flipped in its middle",
            Box::new(|db, _| {
                let segment = segment_files(db).remove(0);
                let mut bytes = std::fs::read(&segment).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x5a;
                std::fs::write(&segment, bytes).unwrap();
                segment
            }),
        ),
        (
            "a segment deleted",
            Box::new(|db, _| {
                let segment = segment_files(db).remove(0);
                std::fs::remove_file(&segment).unwrap();
                segment
            }),
        ),
        (
            "index.sqlite overwritten with random bytes",
            Box::new(|db, rng| {
                let index = db.join("index.sqlite");
                let len = std::fs::metadata(&index).unwrap().len() as usize;
                let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                std::fs::write(&index, bytes).unwrap();
                index
            }),
        ),
        (
            "index.sqlite with another application's id",
            Box::new(|db, _| {
                let index = db.join("index.sqlite");
                patch_sqlite_header(&index, 68, 0x1234_5678);
                index
            }),
        ),
        (
            "index.sqlite with a newer schema version (user_version)",
            Box::new(|db, _| {
                let index = db.join("index.sqlite");
                patch_sqlite_header(&index, 60, 99);
                index
            }),
        ),
    ];
    if have_sqlite3() {
        damages.push((
            "index.sqlite replaced by another application's SQLite database",
            Box::new(|db, _| {
                let index = db.join("index.sqlite");
                std::fs::remove_file(&index).unwrap();
                let status = Command::new("sqlite3")
                    .arg(&index)
                    .arg(
                        "PRAGMA application_id = 1234; \
                         CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); \
                         INSERT INTO notes(text) VALUES ('someone else''s data');",
                    )
                    .status()
                    .unwrap();
                assert!(status.success());
                index
            }),
        ));
        damages.push((
            "index.sqlite with a newer user_version, set by sqlite3",
            Box::new(|db, _| {
                let index = db.join("index.sqlite");
                let status = Command::new("sqlite3")
                    .arg(&index)
                    .arg("PRAGMA user_version = 7;")
                    .status()
                    .unwrap();
                assert!(status.success());
                index
            }),
        ));
    } else {
        eprintln!("note: no sqlite3 command; another application's database is not tried");
    }

    for (what, damage) in &damages {
        let damaged = damage(&db, &mut rng);
        let name = damaged.file_name().unwrap().to_string_lossy().into_owned();
        let output = analyze(&root, Some(&db), &a, &[]);
        let message = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{what}: analyze --db exited with {:?} (1 expected): {message}",
            output.status
        );
        assert!(
            message.contains(&name),
            "{what}: the error does not name {name}: {message}"
        );
        assert!(!message.contains("panicked"), "{what}: a panic: {message}");
        if has_db_command() {
            let check = db_check(&db);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&check.stdout),
                stderr(&check)
            );
            assert_eq!(
                check.status.code(),
                Some(1),
                "{what}: db check exited with {:?} (1 expected): {text}",
                check.status
            );
            assert!(
                text.contains(&name),
                "{what}: db check does not name {name}: {text}"
            );
        }
        let output = analyze(&root, Some(&db), &a, &["--rebuild"]);
        assert!(
            output.status.success(),
            "{what}: analyze --db --rebuild exited with {:?}: {}",
            output.status,
            stderr(&output)
        );
        assert_same_report(&a, &b, &format!("{what}, then --rebuild"));
        assert_db_sound(&db, &format!("{what}, then --rebuild"));
        // And the rebuilt database serves a re-run.
        analyze_ok(&root, Some(&db), &a, &[]);
        assert_same_report(&a, &b, &format!("{what}, then --rebuild, then a re-run"));
        assert_eq!(work(&read_report(&a), "files_parsed"), 0, "{what}");
    }
    assert!(index.exists());

    // A database path that is a regular file.
    let file = scratch.path().join("not-a-directory");
    std::fs::write(&file, b"hello\n").unwrap();
    let output = analyze(&root, Some(&file), &a, &[]);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "--db naming a file: exit {:?}: {message}",
        output.status
    );
    assert!(
        message.contains("not-a-directory"),
        "--db naming a file: the error does not name it: {message}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"hello\n",
        "the file was changed"
    );
}

// ---------------------------------------------------------------------------------------
// 4. A second writer waits for the first, or fails clearly.

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {}", child.id());
}

/// A child that is resumed and killed if the test fails while it is stopped.
struct Running(Option<Child>);

impl Running {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }

    fn finish(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(child.id().to_string())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_second_writer_waits_or_fails_clearly() {
    let scratch = tempfile::tempdir().unwrap();
    let (root, db) = (scratch.path().join("tree"), scratch.path().join("db"));
    big_tree(&root, 6);
    let (first_out, second_out, third_out, cold_out) = (
        scratch.path().join("first.json"),
        scratch.path().join("second.json"),
        scratch.path().join("third.json"),
        scratch.path().join("cold.json"),
    );

    let mut first = Running(Some(spawn(&analyze_args(
        &root,
        Some(&db),
        &first_out,
        &[],
    ))));
    // The first run writes its pid into the lock file once it holds the lock; it is then
    // paused, so the second run surely meets the lock held.
    let held = format!("pid {}", first.child().id());
    let started = Instant::now();
    while std::fs::read_to_string(db.join("lock")).ok().as_deref() != Some(held.as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the first run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    signal(first.child(), "STOP");
    assert!(
        first.child().try_wait().unwrap().is_none(),
        "the first run finished before it could be paused; use a bigger tree"
    );

    let output = analyze(&root, Some(&db), &second_out, &["--lock-wait", "0"]);
    let message = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a second writer with --lock-wait 0: exit {:?}: {message}",
        output.status
    );
    assert!(
        message.contains("in use"),
        "a second writer with --lock-wait 0 does not say the database is in use: {message}"
    );
    assert!(!second_out.exists(), "the refused run wrote a report");

    // A third with the default wait waits for the first, then reuses all it stored.
    let mut third = Running(Some(spawn(&analyze_args(
        &root,
        Some(&db),
        &third_out,
        &[],
    ))));
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        third.child().try_wait().unwrap().is_none(),
        "a writer with the default --lock-wait did not wait for the first"
    );
    signal(first.child(), "CONT");
    let first = first.finish();
    assert!(first.status.success(), "the first run: {}", stderr(&first));
    let third = third.finish();
    assert!(
        third.status.success(),
        "the waiting run: exit {:?}: {}",
        third.status,
        stderr(&third)
    );

    analyze_ok(&root, None, &cold_out, &[]);
    assert_same_report(&first_out, &cold_out, "the first run");
    assert_same_report(&third_out, &cold_out, "the waiting run");
    assert_eq!(
        work(&read_report(&third_out), "files_parsed"),
        0,
        "the waiting run re-parsed files the first had just stored"
    );
    assert_db_sound(&db, "after two writers");
}

// ---------------------------------------------------------------------------------------
// 5. Settings that change between runs: what was stored under others is not reused, and
//    what the database held under them does not come back later.

#[test]
fn settings_changes_keep_database_runs_equal_to_cold_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let (root, db) = (scratch.path().join("tree"), scratch.path().join("db"));
    real_tree(&root);
    let (a, b) = (scratch.path().join("a.json"), scratch.path().join("b.json"));
    let same = |extra: &[&str], context: &str| {
        analyze_ok(&root, Some(&db), &a, extra);
        analyze_ok(&root, None, &b, extra);
        assert_same_report(&a, &b, context);
    };
    same(&[], "a cold run");
    // Files over a smaller size cap must not come back from the database on the next run.
    same(&["--max-file-size", "20000"], "a smaller --max-file-size");
    same(&["--max-file-size", "20000"], "the same again");
    same(&[], "back to the defaults");
    same(&["--lang", "c"], "--lang c");
    same(&["--lang", "c"], "--lang c again");
    // Edges stored under another similarity must not come back after an edit.
    same(&["--min-similarity", "0.9"], "--min-similarity 0.9");
    let edited = root.join(
        files(&root)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "rs"))
            .unwrap(),
    );
    let mut text = std::fs::read(&edited).unwrap();
    text.extend_from_slice(b"\nfn added_by_the_test(a: u32, b: u32) -> u32 {\n    let c = a * b;\n    if c > 10 {\n        return c - a;\n    }\n    c + b\n}\n");
    std::fs::write(&edited, text).unwrap();
    same(
        &["--min-similarity", "0.9"],
        "--min-similarity 0.9 after an edit",
    );
    same(&[], "the defaults after the edit");
    // `index` drops the stored matching; the next analyze matches afresh.
    let out = ct(&[
        "index".into(),
        root.clone().into(),
        "--db".into(),
        db.clone().into(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    same(&[], "after an index run");
    assert_db_sound(&db, "after the settings changes");
}
