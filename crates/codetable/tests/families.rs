//! How families hold together: swarms of near copies, copied statement runs, nesting, and
//! output that depends on nothing but the tree.

use std::fmt::Write as _;
use std::path::Path;

use codetable::{AnalyzeOptions, Report, analyze, render_json};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The body lines of a 40-statement Python function with varied statements.
fn body() -> Vec<String> {
    (0..40)
        .map(|i| match i % 8 {
            0 => format!("    total = total + items[{i}] * weight"),
            1 => format!("    if total > limit{i}:\n        total -= limit{i}"),
            2 => format!("    names.append(str(total) + \"-{i}\")"),
            3 => format!("    for k in range({i}):\n        count += k % 3"),
            4 => format!("    seen[key{i}] = seen.get(key{i}, 0) + 1"),
            5 => format!("    while count > {i}:\n        count //= 2"),
            6 => format!("    result = compute(result, total, {i})"),
            _ => format!("    log.debug(\"step %d %s\", {i}, result)"),
        })
        .collect()
}

/// `n` copies of one function, each with 3 of its statements replaced, 20 to a file.
fn swarm(dir: &Path, n: usize) {
    let body = body();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    for file in 0..n.div_ceil(20) {
        let mut text = String::new();
        for k in file * 20..((file + 1) * 20).min(n) {
            let mut lines = body.clone();
            for _ in 0..3 {
                let at = rng.below(lines.len());
                lines[at] = format!("    extra = [v * {k} for v in items if v > {at}]");
            }
            let _ = writeln!(
                text,
                "def handle_{k}(items, limit, weight):\n    total = count = result = 0\n{}\n    return total, count, result\n",
                lines.join("\n")
            );
        }
        write(dir, &format!("copies/part{file:03}.py"), &text);
    }
}

#[test]
fn near_copies_form_one_family_however_many() {
    for n in [30, 300, 2000] {
        let dir = tempfile::tempdir().unwrap();
        swarm(dir.path(), n);
        let report = analyze(&AnalyzeOptions::new(dir.path())).unwrap();
        let functions: Vec<_> = report
            .families
            .iter()
            .filter(|f| f.category == "function")
            .collect();
        let sizes: Vec<usize> = functions.iter().map(|f| f.instances.len()).collect();
        assert_eq!(
            sizes,
            [n],
            "{n} near copies gave function families of {sizes:?}"
        );
        assert_eq!(functions[0].clone_type, "T3");
        assert!(!functions[0].subsumed);
    }
}

/// Per language: a file extension, a function wrapper, and three statement makers: two
/// for the differing parts of the two functions, one for the run they share.
struct RunDialect {
    extension: &'static str,
    open: &'static str,
    close: &'static str,
    first: fn(usize) -> String,
    second: fn(usize) -> String,
    shared: fn(usize) -> String,
}

const RUN_DIALECTS: &[RunDialect] = &[
    RunDialect {
        extension: "py",
        open: "def work(a, b):\n",
        close: "    return a\n",
        first: |i| format!("    a = a + b * {i}\n"),
        second: |i| format!("    if a > {i}:\n        a = helper(a, b)\n"),
        shared: |i| format!("    table[key{}] = lookup(a, b, \"{i}\")\n", i % 3),
    },
    RunDialect {
        extension: "rs",
        open: "fn work(mut a: i64, b: i64) -> i64 {\n",
        close: "    a\n}\n",
        first: |i| format!("    a = a + b * {i};\n"),
        second: |i| format!("    if a > {i} {{\n        a = helper(a, b);\n    }}\n"),
        shared: |i| format!("    table.insert(key{}, lookup(a, b, \"{i}\"));\n", i % 3),
    },
    RunDialect {
        extension: "js",
        open: "function work(a, b) {\n",
        close: "  return a;\n}\n",
        first: |i| format!("  a = a + b * {i};\n"),
        second: |i| format!("  if (a > {i}) {{\n    a = helper(a, b);\n  }}\n"),
        shared: |i| format!("  table.set(key{}, lookup(a, b, \"{i}\"));\n", i % 3),
    },
    RunDialect {
        extension: "java",
        open: "class Work {\n  long work(long a, long b) {\n",
        close: "    return a;\n  }\n}\n",
        first: |i| format!("    a = a + b * {i};\n"),
        second: |i| format!("    if (a > {i}) {{\n      a = helper(a, b);\n    }}\n"),
        shared: |i| format!("    table.put(key{}, lookup(a, b, \"{i}\"));\n", i % 3),
    },
    RunDialect {
        extension: "c",
        open: "long work(long a, long b) {\n",
        close: "  return a;\n}\n",
        first: |i| format!("  a = a + b * {i};\n"),
        second: |i| format!("  if (a > {i}) {{\n    a = helper(a, b);\n  }}\n"),
        shared: |i| format!("  put(table, key{}, lookup(a, b, \"{i}\"));\n", i % 3),
    },
];

#[test]
fn copied_statement_runs_inside_different_functions_are_found_in_five_languages() {
    for dialect in RUN_DIALECTS {
        let dir = tempfile::tempdir().unwrap();
        // Two 80-line functions, different but for the 25 statements in their middle.
        let mut expected = Vec::new();
        for (name, filler) in [("a", dialect.first), ("b", dialect.second)] {
            let mut text = dialect.open.to_string();
            for i in 0..12 {
                text += &filler(i);
            }
            let start = text.lines().count() as u32 + 1;
            for i in 0..25 {
                text += &(dialect.shared)(i);
            }
            let end = text.lines().count() as u32;
            for i in 12..24 {
                text += &filler(i);
            }
            text += dialect.close;
            let path = format!("{name}.{}", dialect.extension);
            write(dir.path(), &path, &text);
            expected.push((path, start, end));
        }
        let report = analyze(&AnalyzeOptions::new(dir.path())).unwrap();
        let runs: Vec<Vec<(String, u32, u32)>> = report
            .families
            .iter()
            .filter(|f| f.category == "statements")
            .map(|f| {
                f.instances
                    .iter()
                    .map(|i| (i.path.clone(), i.start_line, i.end_line))
                    .collect()
            })
            .collect();
        assert!(
            runs.contains(&expected),
            "{}: no family holds exactly the shared run {expected:?}: {runs:?}",
            dialect.extension,
        );
        assert!(
            report
                .families
                .iter()
                .all(|f| f.category == "statements" || f.instances.len() < 2 || f.files == 1),
            "{}: the two functions themselves are not copies: {}",
            dialect.extension,
            render_json(&report)
        );
    }
}

/// The report as JSON with what legitimately varies (timings, the root) blanked.
fn normalised(mut report: Report) -> String {
    report.stats.timings_ms = Default::default();
    report.root = String::new();
    render_json(&report)
}

#[test]
fn output_depends_only_on_the_tree() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let source = tempfile::tempdir().unwrap();
    swarm(&source.path().join("swarm"), 60);
    let mut files = Vec::new();
    for root in [fixtures.as_path(), source.path()] {
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push((root.to_path_buf(), path));
                }
            }
        }
    }
    files.sort();
    let copy = |order: &[(std::path::PathBuf, std::path::PathBuf)]| {
        let dir = tempfile::tempdir().unwrap();
        for (root, path) in order {
            let relative = path.strip_prefix(root).unwrap();
            let target = dir.path().join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(path, target).unwrap();
        }
        dir
    };
    let in_order = copy(&files);
    let mut shuffled = files.clone();
    let mut rng = Rng(42);
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    let shuffled = copy(&shuffled);

    let run = |dir: &Path, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| normalised(analyze(&AnalyzeOptions::new(dir)).unwrap()))
    };
    let one = run(in_order.path(), 1);
    assert!(one.contains("\"T3\"") && one.contains("\"T1\""));
    assert_eq!(one, run(in_order.path(), 2), "1 vs 2 threads");
    assert_eq!(one, run(shuffled.path(), 2), "shuffled copy of the tree");
}
