//! GPU matching through the real binary: `--backend gpu` reports exactly what `--backend
//! cpu` reports (but for `stats.timings_ms`, `stats.work` and `stats.backend`) with either
//! `--candidates` strategy, on the fixtures, on real Rust code and on a database re-run
//! that re-matches only the edited file; exhaustive candidates hold the LSH ones; and
//! without a usable adapter `--backend gpu` fails clearly while `--backend auto` falls back
//! to the CPU and says why.
//!
//! Where there is no GPU the tests run on Mesa's software Vulkan device (lavapipe), which the
//! binary uses only with `CODETABLE_ALLOW_SOFTWARE_GPU=1`. They never skip: without any
//! adapter the GPU tests fail, naming what to install.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::{codetable_with, copy_dir, repository};
use serde_json::Value;

const STRATEGIES: [&str; 2] = ["lsh", "exhaustive"];

/// The adapters the child process may see.
#[derive(Clone, Copy, Debug)]
enum Adapters {
    /// Whatever the machine has, a software adapter allowed (`CODETABLE_ALLOW_SOFTWARE_GPU=1`).
    AnyAllowed,
    /// Only lavapipe (the Vulkan loader is pointed at its driver alone), not allowed: the
    /// variable is removed.
    SoftwareOnly,
    /// No Vulkan driver at all (the loader is pointed at a file that does not exist), a
    /// software adapter allowed, so that the only thing missing is an adapter.
    None,
}

impl Adapters {
    fn configure(self, command: &mut Command) {
        // Only the Vulkan backend is compiled in; a `WGPU_BACKEND` naming another would
        // hide it.
        command.env_remove("WGPU_BACKEND");
        let drivers = match self {
            Adapters::AnyAllowed => {
                command.env("CODETABLE_ALLOW_SOFTWARE_GPU", "1");
                return;
            }
            Adapters::SoftwareOnly => {
                command.env_remove("CODETABLE_ALLOW_SOFTWARE_GPU");
                lavapipe_driver()
            }
            Adapters::None => {
                command.env("CODETABLE_ALLOW_SOFTWARE_GPU", "1");
                PathBuf::from("/nonexistent.json")
            }
        };
        // The loader reads `VK_DRIVER_FILES` (older ones `VK_ICD_FILENAMES`) instead of
        // its search path; the others would add or filter drivers.
        command
            .env("VK_DRIVER_FILES", &drivers)
            .env("VK_ICD_FILENAMES", &drivers)
            .env_remove("VK_ADD_DRIVER_FILES")
            .env_remove("VK_LOADER_DRIVERS_SELECT")
            .env_remove("VK_LOADER_DRIVERS_DISABLE");
    }
}

/// Lavapipe's Vulkan driver manifest (`lvp_icd.<arch>.json`).
fn lavapipe_driver() -> PathBuf {
    let dirs = [
        "/usr/share/vulkan/icd.d",
        "/usr/local/share/vulkan/icd.d",
        "/etc/vulkan/icd.d",
    ];
    let mut found: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("lvp_icd") && name.ends_with(".json")
        })
        .collect();
    // This machine's architecture first.
    found.sort_by_key(|p| {
        !p.to_string_lossy()
            .contains(&format!(".{}.", std::env::consts::ARCH))
    });
    found.into_iter().next().unwrap_or_else(|| {
        panic!(
            "no lavapipe driver manifest (lvp_icd.*.json) in {dirs:?}: install \
             mesa-vulkan-drivers (scripts/test.sh does)"
        )
    })
}

// ---------------------------------------------------------------------------------------
// Running the binary.

fn run(adapters: Adapters, args: &[&OsStr]) -> Output {
    codetable_with(args, |c| adapters.configure(c))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn show(args: &[&OsStr]) -> String {
    let words: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
    format!("codetable {}", words.join(" "))
}

/// `analyze ROOT --format json EXTRA…`: the run must succeed; its report's text.
fn analyze_text(root: &Path, adapters: Adapters, extra: &[&str]) -> String {
    let mut args: Vec<&OsStr> = vec!["analyze".as_ref(), root.as_os_str()];
    args.extend(["--format", "json"].iter().map(OsStr::new));
    args.extend(extra.iter().map(OsStr::new));
    let out = run(adapters, &args);
    assert!(
        out.status.success(),
        "{} ({adapters:?}) exited with {:?}: {}",
        show(&args),
        out.status,
        stderr(&out)
    );
    String::from_utf8(out.stdout).expect("the report is UTF-8")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("valid JSON on stdout")
}

/// `--backend BACKEND --candidates STRATEGY` (and `extra`), the report's text.
fn analyze_on(root: &Path, backend: &str, strategy: &str, extra: &[&str]) -> String {
    let mut args = vec!["--backend", backend, "--candidates", strategy];
    args.extend(extra);
    analyze_text(root, Adapters::AnyAllowed, &args)
}

fn stat(report: &Value, key: &str) -> u64 {
    report["stats"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.{key} missing: {}", report["stats"]))
}

fn work(report: &Value, key: &str) -> u64 {
    report["stats"]["work"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.work.{key} missing: {}", report["stats"]["work"]))
}

// ---------------------------------------------------------------------------------------
// Comparing reports.

/// The report's text with the objects `stats.timings_ms`, `stats.backend` and `stats.work`
/// emptied (`{}`): what may differ between backends. A key inside a string cannot match
/// (its quotes would be escaped), and braces inside strings are skipped.
fn blanked(text: &str) -> String {
    let Some(stats) = text.rfind("\"stats\":") else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for key in ["\"timings_ms\":", "\"backend\":", "\"work\":"] {
        let Some(at) = out[stats..].find(key).map(|a| stats + a + key.len()) else {
            continue;
        };
        let value = &out[at..];
        let open = at + value.len() - value.trim_start().len();
        if !out[open..].starts_with('{') {
            continue;
        }
        let close = object_end(&out, open);
        out.replace_range(open..=close, "{}");
    }
    out
}

/// The position of the `}` that closes the object opening at `open`.
fn object_end(text: &str, open: usize) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, c) in text[open..].char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced object at byte {open}")
}

#[test]
fn blanked_empties_only_timings_backend_and_work() {
    let report = r#"{
  "families": [{"path": "stats\"work\": {1}"}],
  "stats": {
    "files": 3,
    "timings_ms": {
      "walk": 1.5
    },
    "backend": {
      "name": "gpu",
      "adapter": "odd } name { \" }"
    },
    "work": {
      "files_parsed": 3
    }
  }
}"#;
    let b = blanked(report);
    assert!(b.contains(r#""timings_ms": {},"#), "{b}");
    assert!(b.contains(r#""backend": {},"#), "{b}");
    assert!(b.contains(r#""work": {}"#), "{b}");
    assert!(b.contains(r#""files": 3,"#), "{b}");
    assert!(b.contains(r#"{"path": "stats\"work\": {1}"}"#), "{b}");
    assert!(!b.contains("odd"), "{b}");
    let backend = r#""name": "cpu",
      "fallback": "{ why""#;
    assert_eq!(
        blanked(report),
        blanked(
            &report
                .replace("1.5", "9.25")
                .replace(r#""name": "gpu""#, backend)
        )
    );
    assert_ne!(
        blanked(report),
        blanked(&report.replace("\"files\": 3", "\"files\": 4"))
    );
    assert_ne!(blanked(report), blanked(&report.replace("{1}", "{2}")));
}

/// Where two JSON values first differ, as a path and the two values.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x.keys().chain(y.keys()).find_map(|key| {
            let here = format!("{at}.{key}");
            match (x.get(key), y.get(key)) {
                (Some(p), Some(q)) => first_difference(p, q, &here),
                (p, q) => Some(format!("{here}: {p:?} vs {q:?}")),
            }
        }),
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(k, (p, q))| first_difference(p, q, &format!("{at}[{k}]")))
            .or_else(|| {
                (x.len() != y.len()).then(|| format!("{at}: {} items vs {}", x.len(), y.len()))
            }),
        _ => (a != b).then(|| {
            let short = |v: &Value| v.to_string().chars().take(300).collect::<String>();
            format!("{at}: {} vs {}", short(a), short(b))
        }),
    }
}

/// The two reports are byte for byte the same but for what [`blanked`] empties.
fn assert_same_report(a: &str, b: &str, context: &str) {
    let (a, b) = (blanked(a), blanked(b));
    if a == b {
        return;
    }
    match first_difference(&parse(&a), &parse(&b), "$") {
        Some(d) => panic!("{context}: the reports differ at {d}"),
        None => panic!("{context}: the reports hold the same values but differ in bytes"),
    }
}

/// The report ran where it was asked to: on a GPU adapter for `gpu`, on the CPU for `cpu`.
fn assert_backend(report: &Value, backend: &str, context: &str) {
    let b = &report["stats"]["backend"];
    assert_eq!(b["name"], backend, "{context}: stats.backend = {b}");
    assert_eq!(b["requested"], backend, "{context}: stats.backend = {b}");
    if backend == "gpu" {
        let adapter = b["adapter"].as_str().unwrap_or_default();
        assert!(!adapter.is_empty(), "{context}: no adapter in {b}");
    } else {
        assert!(b.get("adapter").is_none(), "{context}: stats.backend = {b}");
    }
    assert!(
        b.get("fallback").is_none(),
        "{context}: stats.backend = {b}"
    );
}

// ---------------------------------------------------------------------------------------
// Trees.

/// A copy of this repository's `crates/` (real Rust code, some 14k lines) in `to`.
fn crates_copy(to: &Path) -> PathBuf {
    let root = to.join("crates");
    copy_dir(&repository().join("crates"), &root);
    root
}

// ---------------------------------------------------------------------------------------
// Parity.

/// Both strategies on `root` (with `extra` settings): the GPU's report is the CPU's, and
/// finds families.
fn assert_backends_agree(root: &Path, extra: &[&str]) {
    let mut args = vec!["--no-db"];
    args.extend(extra);
    for strategy in STRATEGIES {
        let context = format!("{} --candidates {strategy} {extra:?}", root.display());
        let started = Instant::now();
        let gpu_text = analyze_on(root, "gpu", strategy, &args);
        let gpu_time = started.elapsed();
        let cpu_text = analyze_on(root, "cpu", strategy, &args);
        let (gpu, cpu) = (parse(&gpu_text), parse(&cpu_text));
        assert_backend(&gpu, "gpu", &context);
        assert_backend(&cpu, "cpu", &context);
        assert_eq!(gpu["settings"]["candidates"], strategy, "{context}");
        let families = gpu["families"].as_array().unwrap();
        assert!(!families.is_empty(), "{context}: no family found");
        assert!(
            stat(&gpu, "verified_pairs") > 0,
            "{context}: no near-miss pair"
        );
        assert_same_report(&gpu_text, &cpu_text, &format!("{context}: gpu vs cpu"));
        eprintln!(
            "{context}: {} families, {} candidate pairs, gpu run {gpu_time:.2?}",
            families.len(),
            work(&gpu, "candidate_pairs")
        );
    }
}

#[test]
fn gpu_and_cpu_agree_on_the_fixtures() {
    assert_backends_agree(&repository().join("fixtures"), &[]);
}

#[test]
fn gpu_and_cpu_agree_on_real_code() {
    let scratch = tempfile::tempdir().unwrap();
    let root = crates_copy(scratch.path());
    assert_backends_agree(&root, &[]);
    // Looser settings: more and smaller fragments, several times the candidate pairs.
    let loose = [
        "--min-tokens",
        "20",
        "--min-lines",
        "3",
        "--min-similarity",
        "0.5",
    ];
    assert_backends_agree(&root, &loose);
}

#[test]
fn exhaustive_candidates_hold_the_lsh_ones() {
    let scratch = tempfile::tempdir().unwrap();
    let root = crates_copy(scratch.path());
    let lsh = parse(&analyze_on(&root, "gpu", "lsh", &["--no-db"]));
    let exhaustive = parse(&analyze_on(&root, "gpu", "exhaustive", &["--no-db"]));
    assert_backend(&lsh, "gpu", "lsh");
    assert_backend(&exhaustive, "gpu", "exhaustive");
    assert_eq!(stat(&lsh, "fragments"), stat(&exhaustive, "fragments"));
    assert_eq!(
        work(&lsh, "fragments_matched"),
        work(&exhaustive, "fragments_matched")
    );
    let (l, e) = (
        work(&lsh, "candidate_pairs"),
        work(&exhaustive, "candidate_pairs"),
    );
    assert!(l > 0, "LSH found no candidate pair");
    assert!(e >= l, "exhaustive: {e} candidate pairs, LSH: {l}");
    let (l, e) = (
        stat(&lsh, "verified_pairs"),
        stat(&exhaustive, "verified_pairs"),
    );
    assert!(l > 0, "LSH verified no pair");
    assert!(e >= l, "exhaustive: {e} verified pairs, LSH: {l}");
}

// ---------------------------------------------------------------------------------------
// No usable adapter.

/// `analyze FIXTURES --no-db EXTRA…` with `adapters`, expected to fail with exit status 1.
fn analyze_fails(adapters: Adapters, extra: &[&str]) -> String {
    let fixtures = repository().join("fixtures");
    let mut args: Vec<&OsStr> = vec!["analyze".as_ref(), fixtures.as_os_str(), "--no-db".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    let out = run(adapters, &args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{} ({adapters:?}) should exit 1: {err}",
        show(&args)
    );
    assert!(
        out.stdout.is_empty(),
        "{} ({adapters:?}) failed but printed a report",
        show(&args)
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn gpu_without_any_adapter_fails_clearly() {
    for format in ["text", "json"] {
        let err = analyze_fails(Adapters::None, &["--backend", "gpu", "--format", format]);
        assert!(err.contains("GPU adapter"), "{err}");
        assert!(err.contains("--backend cpu"), "{err}");
        assert!(!err.contains("software"), "{err}");
    }
}

#[test]
fn auto_without_any_adapter_matches_on_the_cpu() {
    let fixtures = repository().join("fixtures");
    let text = analyze_text(&fixtures, Adapters::None, &["--no-db", "--backend", "auto"]);
    let b = &parse(&text)["stats"]["backend"];
    assert_eq!(b["name"], "cpu", "{b}");
    assert_eq!(b["requested"], "auto", "{b}");
    let fallback = b["fallback"].as_str().unwrap_or_default();
    assert!(fallback.contains("GPU adapter"), "{b}");
    let cpu = analyze_on(&fixtures, "cpu", "lsh", &["--no-db"]);
    assert_same_report(&text, &cpu, "auto without an adapter vs cpu");
}

#[test]
fn gpu_refuses_a_software_adapter_without_the_opt_in() {
    let err = analyze_fails(Adapters::SoftwareOnly, &["--backend", "gpu"]);
    assert!(err.contains("software"), "{err}");
    assert!(err.contains("CODETABLE_ALLOW_SOFTWARE_GPU=1"), "{err}");
    for candidates in STRATEGIES {
        let err = analyze_fails(
            Adapters::SoftwareOnly,
            &["--backend", "gpu", "--candidates", candidates],
        );
        assert!(err.contains("CODETABLE_ALLOW_SOFTWARE_GPU"), "{err}");
    }
}

#[test]
fn auto_beside_a_software_adapter_matches_on_the_cpu_and_says_why() {
    let fixtures = repository().join("fixtures");
    let text = analyze_text(
        &fixtures,
        Adapters::SoftwareOnly,
        &["--no-db", "--backend", "auto"],
    );
    let report = parse(&text);
    let b = &report["stats"]["backend"];
    assert_eq!(b["name"], "cpu", "{b}");
    assert_eq!(b["requested"], "auto", "{b}");
    assert!(b.get("adapter").is_none(), "{b}");
    let fallback = b["fallback"].as_str().unwrap_or_default();
    assert!(fallback.contains("software"), "{b}");
    assert!(fallback.contains("CODETABLE_ALLOW_SOFTWARE_GPU"), "{b}");
    assert!(!report["families"].as_array().unwrap().is_empty());
    let cpu = analyze_on(&fixtures, "cpu", "lsh", &["--no-db"]);
    assert_same_report(&text, &cpu, "auto beside a software adapter vs cpu");

    // The text summary's last line says where matching ran, and why not on the GPU.
    let args: Vec<&OsStr> = vec!["analyze".as_ref(), fixtures.as_os_str(), "--no-db".as_ref()];
    let out = run(Adapters::SoftwareOnly, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = String::from_utf8(out.stdout).unwrap();
    let last = summary.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    assert!(last.contains("matched on cpu"), "{last}");
    assert!(last.contains("software"), "{last}");
}

#[test]
fn auto_uses_an_allowed_adapter() {
    let fixtures = repository().join("fixtures");
    let text = analyze_on(&fixtures, "auto", "lsh", &["--no-db"]);
    let b = &parse(&text)["stats"]["backend"];
    assert_eq!(b["name"], "gpu", "{b}");
    assert_eq!(b["requested"], "auto", "{b}");
    assert!(b["adapter"].as_str().is_some_and(|a| !a.is_empty()), "{b}");
    let cpu = analyze_on(&fixtures, "cpu", "lsh", &["--no-db"]);
    assert_same_report(&text, &cpu, "auto on an allowed adapter vs cpu");
}

// ---------------------------------------------------------------------------------------
// The database: a re-run on the GPU re-matches only the edited file's fragments.

#[test]
fn a_database_re_run_on_the_gpu_reports_what_a_cold_cpu_run_does() {
    for strategy in STRATEGIES {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("tree");
        copy_dir(&repository().join("crates"), &root.join("crates"));
        copy_dir(&repository().join("fixtures"), &root.join("fixtures"));
        let db = scratch.path().join("db");
        let db_args = ["--db", db.to_str().unwrap()];
        let context = format!("--candidates {strategy}");

        let cold = analyze_on(&root, "gpu", strategy, &db_args);
        let cold_cpu = analyze_on(&root, "cpu", strategy, &["--no-db"]);
        assert_backend(&parse(&cold), "gpu", &context);
        assert_same_report(
            &cold,
            &cold_cpu,
            &format!("{context}: cold gpu --db vs cpu"),
        );

        // A near-miss copy of `summarize` (renamed, one statement added) at the end of
        // another file: it joins original.rs's and copy.rs's families.
        let original = std::fs::read_to_string(root.join("fixtures/rust/original.rs")).unwrap();
        let function = &original[original.find("pub fn summarize").unwrap()..];
        let copied = function
            .replace("pub fn summarize(", "pub fn summarize_again(")
            .replace(
                "        count += 1;\n",
                "        count += 1;\n        total -= 0;\n",
            );
        assert_ne!(copied, function);
        let edited = root.join("fixtures/rust/unrelated.rs");
        let mut text = std::fs::read_to_string(&edited).unwrap();
        let old_lines = text.lines().count();
        text.push('\n');
        text.push_str(&copied);
        std::fs::write(&edited, text).unwrap();

        let warm_text = analyze_on(&root, "gpu", strategy, &db_args);
        let cpu_text = analyze_on(&root, "cpu", strategy, &["--no-db"]);
        let warm = parse(&warm_text);
        assert_backend(&warm, "gpu", &context);
        assert_eq!(
            work(&warm, "files_parsed"),
            1,
            "{context}: {}",
            warm["stats"]
        );
        assert!(work(&warm, "files_reused") > 0, "{context}");
        assert!(
            work(&warm, "fragments_matched") < stat(&warm, "fragments"),
            "{context}: the re-run matched everything again: {}",
            warm["stats"]
        );
        assert!(
            stat(&warm, "verified_pairs") > stat(&parse(&cold), "verified_pairs"),
            "{context}: the copy added no near-miss pair"
        );
        let joined = warm["families"].as_array().unwrap().iter().any(|f| {
            let instances = f["instances"].as_array().unwrap();
            let at = |path: &str| instances.iter().find(|i| i["path"] == path);
            at("fixtures/rust/original.rs").is_some()
                && at("fixtures/rust/unrelated.rs")
                    .is_some_and(|i| i["start_line"].as_u64().unwrap() > old_lines as u64)
        });
        assert!(
            joined,
            "{context}: the appended copy joined no family of original.rs"
        );
        assert_same_report(
            &warm_text,
            &cpu_text,
            &format!("{context}: gpu --db re-run after an edit vs cold cpu --no-db"),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Queries: the exhaustive scan of every stored sketch, on each backend.

/// `query INPUT --db DB --format json EXTRA…` under `adapters`: the parsed report.
fn query_json(db: &Path, input: &Path, adapters: Adapters, extra: &[&str]) -> Value {
    let mut args: Vec<&OsStr> = vec!["query".as_ref(), input.as_os_str(), "--db".as_ref()];
    args.push(db.as_os_str());
    args.extend(
        ["--format", "json", "--min-similarity", "0.5"]
            .iter()
            .map(OsStr::new),
    );
    args.extend(extra.iter().map(OsStr::new));
    let out = run(adapters, &args);
    assert!(out.status.success(), "{}: {}", show(&args), stderr(&out));
    let mut report = parse(&String::from_utf8(out.stdout).unwrap());
    report.as_object_mut().unwrap().remove("milliseconds");
    report
}

/// Every (fragment lines, match place) a query report lists.
fn places(report: &Value) -> Vec<String> {
    let mut all = Vec::new();
    for f in report["fragments"].as_array().unwrap() {
        for m in f["matches"].as_array().unwrap() {
            all.push(format!(
                "{}:{}-{} -> {} {}:{}-{}",
                f["path"],
                f["start_line"],
                f["end_line"],
                m["tree"],
                m["path"],
                m["start_line"],
                m["end_line"]
            ));
        }
    }
    all.sort();
    all
}

#[test]
fn exhaustive_queries_agree_on_both_backends_and_hold_the_lsh_matches() {
    let work = tempfile::tempdir().unwrap();
    let tree = crates_copy(&work.path().join("tree"));
    let db = work.path().join("db");
    let args: Vec<&OsStr> = vec![
        "index".as_ref(),
        tree.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
        "--name".as_ref(),
        "crates".as_ref(),
    ];
    let out = run(Adapters::AnyAllowed, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = tree.join("codetable-match/src");
    let query = |extra: &[&str]| query_json(&db, &input, Adapters::AnyAllowed, extra);
    let lsh = query(&["--candidates", "lsh"]);
    let exhaustive = ["--candidates", "exhaustive", "--top", "1000", "--backend"];
    let cpu = query(&[&exhaustive[..], &["cpu"]].concat());
    let mut gpu = query(&[&exhaustive[..], &["gpu"]].concat());
    assert_eq!(cpu["backend"], "cpu");
    assert_eq!(gpu["backend"], "gpu");
    gpu["backend"] = cpu["backend"].clone();
    assert_same_report(&cpu.to_string(), &gpu.to_string(), "exhaustive query");
    let (lsh_places, all) = (places(&lsh), places(&cpu));
    assert!(
        all.len() > lsh_places.len() / 2 && !all.is_empty(),
        "{all:?}"
    );
    // With `--top` high enough to list everything, the scan finds every LSH match.
    let lsh_all = places(&query(&["--candidates", "lsh", "--top", "1000"]));
    let missing: Vec<&String> = lsh_all.iter().filter(|p| !all.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "the scan misses LSH matches: {missing:?}"
    );
}
