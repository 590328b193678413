//! Regression tests named after what a new user hit on real trees: silent losses, crashes
//! and hangs, false alarms, and output a person could not use. Each runs the real binary.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{FUNCTION, analyze_json, codetable, codetable_in, family_paths, skip_reason};
use serde_json::Value;

fn tree(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

fn run(args: &[&str]) -> std::process::Output {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    codetable(&args)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn families(report: &Value) -> &Vec<Value> {
    report["families"].as_array().unwrap()
}

const CPP_CLASS: &str = "#pragma once\n#include <string>\n\nclass Account {\npublic:\n    explicit Account(std::string owner) : owner_(owner), balance_(0) {}\n    void deposit(long amount) {\n        if (amount <= 0) { throw invalid(amount); }\n        balance_ += amount;\n        history_.push_back(amount);\n        notify(owner_, balance_);\n    }\n    long withdraw(long amount) {\n        if (amount > balance_) { return refuse(owner_, amount); }\n        balance_ -= amount;\n        history_.push_back(-amount);\n        return balance_;\n    }\nprivate:\n    std::string owner_;\n    long balance_;\n};\n";

#[test]
fn cpp_headers_named_dot_h_are_parsed_as_cpp() {
    let dir = tree(&[
        ("a/account.h", CPP_CLASS.as_bytes()),
        ("b/account.h", CPP_CLASS.as_bytes()),
        ("c/plain.h", b"#ifndef P_H\n#define P_H\nstruct point { int x; int y; };\nint area(struct point *p);\n#endif\n"),
    ]);
    let report = analyze_json(dir.path(), &[]);
    assert_eq!(report["stats"]["files_with_syntax_errors"], 0, "{report}");
    assert_eq!(report["stats"]["languages"]["cpp"]["files"], 2);
    assert_eq!(report["stats"]["languages"]["c"]["files"], 1);
    assert_eq!(families(&report)[0]["language"], "cpp");
    assert!(family_paths(&report).contains(&vec!["a/account.h".into(), "b/account.h".into()]));
    // --lang cpp keeps C++ headers and leaves the C one out; --lang c the reverse.
    let cpp = analyze_json(dir.path(), &["--lang", "cpp"]);
    assert_eq!(cpp["stats"]["files"], 2);
    let c = analyze_json(dir.path(), &["--lang", "c"]);
    assert_eq!(c["stats"]["files"], 1);
}

#[test]
fn upper_case_dot_c_is_cpp_and_one_copy_is_one_family() {
    let body = CPP_CLASS.replace("#pragma once\n", "");
    let dir = tree(&[("x.C", body.as_bytes()), ("y.cpp", body.as_bytes())]);
    let report = analyze_json(dir.path(), &[]);
    assert_eq!(report["stats"]["languages"]["cpp"]["files"], 2, "{report}");
    let langs: Vec<&str> = families(&report)
        .iter()
        .map(|f| f["language"].as_str().unwrap())
        .collect();
    assert!(langs.iter().all(|&l| l == "cpp"), "{langs:?}");
    assert_eq!(families(&report).len(), 1, "{:?}", family_paths(&report));
}

#[test]
fn code_inside_php_namespaces_and_scala_package_blocks_is_analysed() {
    let php = "<?php\nnamespace App\\Billing {\n    function total(array $items, float $rate): float {\n        $sum = 0.0;\n        foreach ($items as $item) {\n            if ($item->price > 0) {\n                $sum += $item->price * $item->quantity;\n            }\n        }\n        return round($sum * (1 + $rate), 2);\n    }\n}\n";
    let scala = "package shop {\n  object Billing {\n    def total(items: List[Item], rate: Double): Double = {\n      var sum = 0.0\n      for (item <- items) {\n        if (item.price > 0) {\n          sum += item.price * item.quantity\n        }\n      }\n      math.round(sum * (1 + rate) * 100) / 100.0\n    }\n  }\n}\n";
    let dir = tree(&[
        ("a.php", php.as_bytes()),
        ("b.php", php.replace("total", "sum_all").as_bytes()),
        ("a.scala", scala.as_bytes()),
        ("b.scala", scala.replace("total", "sumAll").as_bytes()),
    ]);
    let report = analyze_json(dir.path(), &[]);
    let paths = family_paths(&report);
    assert!(paths.iter().any(|p| p == &["a.php", "b.php"]), "{paths:?}");
    assert!(
        paths.iter().any(|p| p == &["a.scala", "b.scala"]),
        "{paths:?}"
    );
}

#[test]
fn an_unreadable_root_is_a_fatal_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("locked");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("a.py"), FUNCTION).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads everything: run as nobody then, from a copy of the binary that nobody
    // can reach wherever the checkout lives.
    let out = if running_as_root() {
        let binary = dir.path().join("codetable");
        std::fs::copy(env!("CARGO_BIN_EXE_codetable"), &binary).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&binary)
            .arg("analyze")
            .arg(&root)
            .output()
            .unwrap()
    } else {
        codetable(&["analyze".as_ref(), root.as_os_str()])
    };
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot analyse"), "{}", stderr(&out));
}

/// Whether the tests run as root (CI does), read from /proc without unsafe code.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn settings_that_would_skip_everything_are_usage_errors() {
    let dir = tree(&[("a.py", FUNCTION.as_bytes())]);
    let root = dir.path().to_str().unwrap();
    for args in [
        vec!["--exclude", ""],
        vec!["--exclude", "  "],
        vec!["--parse-timeout", "0"],
        vec!["--max-file-size", "0"],
        vec!["--min-tokens", "1"],
        vec!["--min-tokens", "2"],
        vec!["--min-lines", "0"],
        vec!["--threads", "99999999999"],
        vec!["--threads", "0"],
        vec!["--exclude", "["],
    ] {
        let mut all = vec!["analyze", root];
        all.extend(&args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = run(&["analyze", root, "--exclude", "["]);
    assert!(!stderr(&out).contains("'!['"), "{}", stderr(&out));
    assert!(stderr(&out).contains("\"[\""), "{}", stderr(&out));
}

#[test]
fn a_run_that_analyses_nothing_says_so() {
    let dir = tree(&[("notes.txt", b"nothing to see"), ("bin.c", b"\0\0\0\0")]);
    let out = run(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no source file was analysed"),
        "{}",
        stderr(&out)
    );
    let dir = tree(&[("a.py", FUNCTION.as_bytes())]);
    let out = run(&["analyze", dir.path().to_str().unwrap()]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn handwritten_files_are_not_taken_for_generated_or_minified() {
    let generator =
        format!("{FUNCTION}\ndef header():\n    return '// @generated by tool, DO NOT EDIT'\n");
    let thresholds =
        format!("# Tuned by hand. DO NOT EDIT the thresholds without a benchmark.\n{FUNCTION}");
    let export_line = format!(
        "{}\nexport {{ {} }};\n",
        "export function f(a) {\n  return a + 1;\n}\n".repeat(500),
        (0..1500)
            .map(|i| format!("x{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let regex_line = format!(
        "const RE = /{}/u;\n{}",
        "[a-z]".repeat(2600),
        "function g(b) {\n  return b * 2;\n}\n".repeat(400)
    );
    let dir = tree(&[
        ("gen.py", generator.as_bytes()),
        ("tuned.py", thresholds.as_bytes()),
        ("core.mjs", export_line.as_bytes()),
        ("index.mjs", regex_line.as_bytes()),
        (
            "real.py",
            b"# Code generated by protoc. DO NOT EDIT.\nx = 1\n",
        ),
    ]);
    let report = analyze_json(dir.path(), &[]);
    for name in ["gen.py", "tuned.py", "core.mjs", "index.mjs"] {
        assert_eq!(skip_reason(&report, name), None, "{name} skipped");
    }
    assert_eq!(skip_reason(&report, "real.py"), Some("generated"));
}

#[test]
fn mac_line_endings_and_utf16_sources_are_decoded() {
    let mac = FUNCTION.replace('\n', "\r");
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(FUNCTION.encode_utf16().flat_map(u16::to_le_bytes));
    let dir = tree(&[
        ("a.py", FUNCTION.as_bytes()),
        ("mac.py", mac.as_bytes()),
        ("wide.py", &utf16),
    ]);
    let report = analyze_json(dir.path(), &[]);
    assert_eq!(report["stats"]["files_with_syntax_errors"], 0, "{report}");
    assert_eq!(report["stats"]["files_utf16"], 1);
    assert_eq!(skip_reason(&report, "wide.py"), None);
    let lines = FUNCTION.lines().count() as u64;
    assert_eq!(report["stats"]["lines"], 3 * lines);
    assert_eq!(family_paths(&report), [vec!["a.py", "mac.py", "wide.py"]]);
}

#[test]
fn file_names_that_are_not_utf8_stay_exact_and_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let names: [&[u8]; 2] = [b"r\xe9sum\xe9.py", b"r\xe8sum\xe8.py"];
    for name in names {
        std::fs::write(dir.path().join(OsStr::from_bytes(name)), FUNCTION).unwrap();
    }
    let report = analyze_json(dir.path(), &[]);
    let instances = families(&report)[0]["instances"].as_array().unwrap();
    let paths: Vec<&str> = instances
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["r\\xE8sum\\xE8.py", "r\\xE9sum\\xE9.py"]);
    for (instance, name) in instances.iter().zip([names[1], names[0]]) {
        let bytes: Vec<u8> = instance["path_bytes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as u8)
            .collect();
        assert_eq!(bytes, name);
        assert!(dir.path().join(OsStr::from_bytes(&bytes)).exists());
    }
}

#[test]
fn files_with_syntax_errors_are_listed_with_counts_per_language() {
    let dir = tree(&[
        ("ok.py", FUNCTION.as_bytes()),
        ("broken.py", b"def f(:\n    return\n\nx = = 2\n"),
        ("Broken.java", b"class A { void f( { int x = ; } }\n"),
    ]);
    let report = analyze_json(dir.path(), &[]);
    let listed = report["syntax_errors"].as_array().unwrap();
    let paths: Vec<&str> = listed.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["Broken.java", "broken.py"]);
    assert!(
        listed
            .iter()
            .all(|e| e["error_nodes"].as_u64().unwrap() >= 1)
    );
    assert_eq!(listed[1]["first_error_line"], 1);
    assert_eq!(
        report["stats"]["languages"]["python"]["files_with_syntax_errors"],
        1
    );
    let out = run(&["analyze", dir.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 files had syntax errors (java 1, python 1)"),
        "{text}"
    );
}

#[test]
fn pathological_files_take_linear_time() {
    // A 160,000-branch else-if chain (about 6 MB) and 400,000 nested blocks: quadratic
    // fingerprinting takes minutes on these (9 s at a quarter of the size); linear work
    // takes seconds.
    let mut chain = String::from("int f(int x) {\n  if (x == 0) { return 0; }\n");
    for i in 1..160_000 {
        chain.push_str(&format!("  else if (x == {i}) {{ return {i}; }}\n"));
    }
    chain.push_str("  return -1;\n}\n");
    let nested = format!("fn f() {}{}\n", "{".repeat(400_000), "}".repeat(400_001));
    let dir = tree(&[
        ("chain.c", chain.as_bytes()),
        ("nested.rs", nested.as_bytes()),
    ]);
    let started = Instant::now();
    let report = analyze_json(
        dir.path(),
        &["--parse-timeout", "600", "--max-file-size", "50000000"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(skip_reason(&report, "chain.c"), None);
}

#[test]
fn the_output_path_is_checked_before_the_analysis() {
    // The root does not exist either: the error must be about the output, found first.
    let out = run(&[
        "analyze",
        "/nonexistent/root",
        "-o",
        "/nonexistent/dir/x.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot write /nonexistent/dir/x.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn declarations_that_share_only_their_shape_are_not_clones() {
    let rust_enums = "pub enum Color {\n    Red,\n    Green,\n    Blue,\n    Cyan,\n    Magenta,\n    Yellow,\n    Black,\n    White,\n    Orange,\n    Purple,\n    Brown,\n    Pink,\n    Gray,\n    Olive,\n    Navy,\n    Teal,\n    Maroon,\n    Lime,\n    Silver,\n    Gold,\n    Coral,\n    Ivory,\n    Khaki,\n    Plum,\n    Salmon,\n}\n";
    let other_enum = rust_enums
        .replace("Color", "Planet")
        .replace("Red", "Mercury")
        .replace("Green", "Venus")
        .replace("Blue", "Earth")
        .replace("Cyan", "Mars")
        .replace("Magenta", "Jupiter")
        .replace("Yellow", "Saturn")
        .replace("Black", "Uranus")
        .replace("White", "Neptune")
        .replace("Orange", "Pluto")
        .replace("Purple", "Ceres")
        .replace("Brown", "Eris")
        .replace("Pink", "Haumea")
        .replace("Gray", "Makemake")
        .replace("Olive", "Sedna")
        .replace("Navy", "Io")
        .replace("Teal", "Europa")
        .replace("Maroon", "Ganymede")
        .replace("Lime", "Callisto")
        .replace("Silver", "Titan")
        .replace("Gold", "Rhea")
        .replace("Coral", "Iapetus")
        .replace("Ivory", "Dione")
        .replace("Khaki", "Tethys")
        .replace("Plum", "Enceladus")
        .replace("Salmon", "Mimas");
    let c_struct = |name: &str, fields: &[&str]| {
        let body: String = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                format!(
                    "    {} {f};\n",
                    ["int", "long", "char *", "unsigned"][i % 4]
                )
            })
            .collect();
        format!("struct {name} {{\n{body}}};\n")
    };
    let inode = c_struct(
        "inode",
        &[
            "mode",
            "uid",
            "gid",
            "size",
            "atime",
            "mtime",
            "ctime",
            "blocks",
            "flags",
            "generation",
            "links",
            "rdev",
            "version",
            "state",
            "dirty",
            "count",
            "private",
            "lock",
        ],
    );
    let socket = c_struct(
        "socket",
        &[
            "family", "type", "protocol", "state", "backlog", "sndbuf", "rcvbuf", "timeout",
            "flags", "priority", "mark", "owner", "error", "peer", "wait", "hash", "bound",
            "queue",
        ],
    );
    let table = |name: &str, rows: &[(u32, &str)]| {
        let arms: String = rows
            .iter()
            .map(|(k, v)| format!("        case {k}: return \"{v}\";\n"))
            .collect();
        format!(
            "const char *{name}(int code) {{\n    switch (code) {{\n{arms}        default: return \"?\";\n    }}\n}}\n"
        )
    };
    let reasons = table(
        "http_reason",
        &[
            (200, "OK"),
            (201, "Created"),
            (204, "No Content"),
            (301, "Moved"),
            (302, "Found"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (500, "Server Error"),
        ],
    );
    let signals = table(
        "signal_name",
        &[
            (1, "SIGHUP"),
            (2, "SIGINT"),
            (3, "SIGQUIT"),
            (4, "SIGILL"),
            (6, "SIGABRT"),
            (8, "SIGFPE"),
            (9, "SIGKILL"),
            (11, "SIGSEGV"),
            (13, "SIGPIPE"),
            (15, "SIGTERM"),
        ],
    );
    let stubs = |name: &str, methods: &[&str]| {
        let body: String = methods
            .iter()
            .map(|m| format!("    def {m}(self, request):\n        \"\"\"Handle the {m} step of a {name}.\n\n        Subclasses override this to decide\n        what happens on {m}.\n        \"\"\"\n        raise NotImplementedError\n\n"))
            .collect();
        format!("class {name}:\n{body}")
    };
    let dir = tree(&[
        ("color.rs", rust_enums.as_bytes()),
        ("planet.rs", other_enum.as_bytes()),
        ("inode.c", inode.as_bytes()),
        ("socket.c", socket.as_bytes()),
        ("http.c", reasons.as_bytes()),
        ("signal.c", signals.as_bytes()),
        (
            "handler.py",
            stubs("Handler", &["open", "read", "write", "close"]).as_bytes(),
        ),
        (
            "visitor.py",
            stubs("Visitor", &["enter", "leave", "visit", "reset"]).as_bytes(),
        ),
        // A real copy of an enum and of a struct still is one.
        ("copy/color.rs", rust_enums.as_bytes()),
        ("copy/inode.c", inode.as_bytes()),
    ]);
    let report = analyze_json(dir.path(), &[]);
    let mut paths = family_paths(&report);
    paths.sort();
    assert_eq!(
        paths,
        [
            vec!["color.rs", "copy/color.rs"],
            vec!["copy/inode.c", "inode.c"]
        ],
        "{report}"
    );
}

#[test]
fn a_link_followed_to_a_file_in_the_tree_is_not_its_clone() {
    let dir = tree(&[("a.py", FUNCTION.as_bytes())]);
    std::os::unix::fs::symlink("a.py", dir.path().join("link.py")).unwrap();
    let report = analyze_json(dir.path(), &["--follow-links"]);
    assert!(families(&report).is_empty(), "{:?}", family_paths(&report));
    assert_eq!(skip_reason(&report, "link.py"), Some("same-file"));
    assert_eq!(report["stats"]["files"], 1);
}

#[test]
fn a_hard_link_is_the_same_file_not_a_clone() {
    let dir = tree(&[("a.py", FUNCTION.as_bytes())]);
    std::fs::hard_link(dir.path().join("a.py"), dir.path().join("b.py")).unwrap();
    let report = analyze_json(dir.path(), &[]);
    assert!(families(&report).is_empty(), "{:?}", family_paths(&report));
    assert_eq!(skip_reason(&report, "b.py"), Some("same-file"));
}

#[test]
fn terminal_output_escapes_names_and_opens_from_the_working_directory() {
    let dir = tree(&[
        ("proj/a.py", FUNCTION.as_bytes()),
        ("proj/red\x1b[31m\nname.py", FUNCTION.as_bytes()),
    ]);
    let out = codetable_in(dir.path(), &[], &["analyze", "proj"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "{text}");
    let end = FUNCTION.lines().count();
    assert!(
        text.lines()
            .any(|l| l == format!("    proj/a.py:1  (lines 1-{end})")),
        "{text}"
    );
    assert!(text.contains("proj/red\\e[31m\\nname.py:1"), "{text}");
    assert!(text.contains("1 family (1 T1)"), "{text}");
    // The JSON keeps root-relative paths.
    let report = analyze_json(&dir.path().join("proj"), &[]);
    assert_eq!(families(&report)[0]["instances"][0]["path"], "a.py");
}

#[test]
fn languages_are_listed_once_and_global_gitignore_is_honoured() {
    let dir = tree(&[
        ("a.py", FUNCTION.as_bytes()),
        ("b.py", FUNCTION.as_bytes()),
        ("secret.py", FUNCTION.as_bytes()),
    ]);
    let report = analyze_json(dir.path(), &["--lang", "python,python"]);
    assert_eq!(
        report["settings"]["languages"],
        serde_json::json!(["python"])
    );

    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("global-ignore"), "secret.py\n").unwrap();
    std::fs::write(
        home.path().join(".gitconfig"),
        format!(
            "[core]\n\texcludesFile = {}\n",
            home.path().join("global-ignore").display()
        ),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    let root = dir.path().to_str().unwrap();
    let out = codetable_in(
        dir.path(),
        &[
            ("HOME", home.path()),
            ("XDG_CONFIG_HOME", &home.path().join("none")),
        ],
        &["analyze", root, "--format", "json"],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stats"]["files"], 2, "{}", stderr(&out));
}

#[test]
fn an_output_that_is_not_a_regular_file_is_written_to_not_replaced() {
    // `-o /dev/null` once renamed a regular file over the device; a FIFO shows the same.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), FUNCTION).unwrap();
    let fifo = dir.path().join("report.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let out = codetable(&[
        "analyze".as_ref(),
        dir.path().as_os_str(),
        "--no-db".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--output".as_ref(),
        fifo.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced by a regular file");
    let written = reader.join().unwrap();
    let report: Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(report["stats"]["files"], 1);
}
