//! The `codetable` command: flags in, a library call, a report and an exit code out.
//!
//! Exit codes: 0 success, 1 fatal error (the root cannot be read, the output cannot be
//! written), 2 usage error.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use codetable::{
    AnalyzeError, AnalyzeOptions, BackendChoice, Database, Language, QueryInput, QueryOptions,
    Strategy, analyze, query, render_text, write_json,
};

#[derive(Parser, Debug)]
#[command(
    name = "codetable",
    version,
    about = "Find the recurring patterns of a codebase"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Find exact, renamed and near-miss copies in a directory.
    Analyze(AnalyzeArgs),
    /// Add a directory's fingerprints to a pattern database under a name (no matching),
    /// for `codetable query`.
    Index(AnalyzeArgs),
    /// Find where the code of a file, a directory or a snippet (`-`: standard input)
    /// occurs in a pattern database.
    Query(QueryArgs),
    /// Check or describe a pattern database.
    #[command(subcommand)]
    Db(DbCommand),
    /// List the supported languages and their file extensions.
    Languages,
}

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// The directory to analyse.
    dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Only these languages (comma-separated or repeated; see `codetable languages`).
    #[arg(long = "lang", value_delimiter = ',', value_parser = parse_language)]
    languages: Vec<Language>,
    /// Leave out paths matching this gitignore-style glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB", value_parser = parse_glob)]
    excludes: Vec<String>,
    /// Also analyse generated (`@generated`, `DO NOT EDIT`) and minified files.
    #[arg(long)]
    include_generated: bool,
    /// Follow symbolic links.
    #[arg(long)]
    follow_links: bool,
    /// Minimum fragment size in tokens (10 to 1000000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    min_tokens: u32,
    /// Minimum fragment size in lines (1 to 1000000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    min_lines: u32,
    /// Minimum token-level similarity of a near-miss pair, in (0, 1].
    #[arg(long, default_value_t = 0.70, value_parser = parse_similarity)]
    min_similarity: f64,
    /// Report exact and renamed copies only.
    #[arg(long)]
    no_near_miss: bool,
    /// How near-miss candidates are chosen: `lsh` (pairs sharing a band of their sketches)
    /// or `exhaustive` (every pair: no LSH misses; quadratic, meant for a GPU).
    #[arg(long, value_enum, default_value_t = Candidates::Lsh)]
    candidates: Candidates,
    /// Where matching runs: `auto` (a hardware GPU when there is one, else the CPU),
    /// `gpu` (an error without one) or `cpu`. Every backend gives the same answers. A
    /// software GPU (lavapipe) is used only with CODETABLE_ALLOW_SOFTWARE_GPU=1.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Skip files larger than this many bytes (1 to 4294967295).
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    max_file_size: u64,
    /// Give up on one file (reading, parsing, fingerprinting) after this many seconds
    /// (1 to 86400).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    parse_timeout: u64,
    /// Worker threads (1 to 1024; default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Families listed by the text format.
    #[arg(long, default_value_t = 20)]
    top: usize,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// Where the pattern database is and how to use it.
#[derive(clap::Args, Debug)]
struct DatabaseArgs {
    /// The pattern database directory [default: .codetable in DIR]. Re-runs re-parse only
    /// the files that changed and re-match only their fragments.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Keep no pattern database: analyse everything in memory.
    #[arg(long, conflicts_with = "db")]
    no_db: bool,
    /// Delete the pattern database's contents and build it again.
    #[arg(long)]
    rebuild: bool,
    /// The tree's name in the database [default: DIR's absolute path].
    #[arg(long)]
    name: Option<String>,
    /// Seconds to wait for another codetable process using the database (0 to 86400).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    lock_wait: u64,
}

#[derive(clap::Args, Debug)]
struct QueryArgs {
    /// A source file, a directory, or `-` for a snippet on standard input.
    input: PathBuf,
    /// The pattern database directory.
    #[arg(long, value_name = "PATH")]
    db: PathBuf,
    /// The language of the snippet, or of files whose name does not tell it.
    #[arg(long = "lang", value_parser = parse_language)]
    language: Option<Language>,
    /// Minimum token-level similarity of a near-miss match, in (0, 1].
    #[arg(long, default_value_t = 0.70, value_parser = parse_similarity)]
    min_similarity: f64,
    /// Matches listed per fragment, best first.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Minimum fragment size in tokens (10 to 1000000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    min_tokens: u32,
    /// Minimum fragment size in lines (1 to 1000000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    min_lines: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Seconds to wait for a codetable process writing the database (0 to 86400).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    lock_wait: u64,
    /// Near-miss candidates from the LSH band index (`lsh`) or from a scan of every
    /// stored sketch (`exhaustive`: no LSH misses; on the GPU when there is one).
    #[arg(long, value_enum, default_value_t = Candidates::Lsh)]
    candidates: Candidates,
    /// Where an exhaustive scan runs: `auto`, `gpu` or `cpu` (same answers).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
}

#[derive(Subcommand, Debug)]
enum DbCommand {
    /// Verify every checksum and reference; exit 1 if anything is wrong.
    Check {
        /// The pattern database directory.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
    /// Sizes, counts and the Bloom filters' measured false-positive rate.
    Stats {
        /// The pattern database directory.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
    /// Merge all segments into one.
    Compact {
        /// The pattern database directory.
        #[arg(long, value_name = "PATH")]
        db: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Candidates {
    Lsh,
    Exhaustive,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Auto,
    Gpu,
    Cpu,
}

impl From<Candidates> for Strategy {
    fn from(c: Candidates) -> Strategy {
        match c {
            Candidates::Lsh => Strategy::Lsh,
            Candidates::Exhaustive => Strategy::Exhaustive,
        }
    }
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> BackendChoice {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_language(name: &str) -> Result<Language, String> {
    Language::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Language::ALL.iter().map(|l| l.name()).collect();
        format!("unknown language {name:?}; known: {}", known.join(", "))
    })
}

fn parse_glob(glob: &str) -> Result<String, String> {
    codetable::check_glob(glob).map_err(|e| e.to_string())?;
    Ok(glob.to_string())
}

fn parse_similarity(value: &str) -> Result<f64, String> {
    let x: f64 = value.parse().map_err(|e| format!("{e}"))?;
    if x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err("must be in (0, 1]".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CODETABLE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("codetable: {err:#}");
            let usage = err
                .downcast_ref::<AnalyzeError>()
                .is_some_and(AnalyzeError::is_usage);
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Languages => {
            let mut out = std::io::stdout().lock();
            for language in Language::ALL {
                writeln!(
                    out,
                    "{:<12} {}",
                    language.name(),
                    language.spec().extensions.join(" ")
                )?;
            }
            Ok(())
        }
        Command::Analyze(args) => run_analyze(args, true),
        Command::Index(args) => run_analyze(args, false),
        Command::Query(args) => run_query(args),
        Command::Db(command) => run_db(command),
    }
}

fn run_query(args: QueryArgs) -> anyhow::Result<()> {
    let input = if args.input.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("cannot read standard input")?;
        QueryInput::Text(text)
    } else {
        QueryInput::Path(args.input.clone())
    };
    let mut options = QueryOptions::new(&args.db);
    options.language = args.language;
    options.min_similarity = (args.min_similarity * 1000.0).round() as u32;
    options.top = args.top;
    options.fingerprint.min_tokens = args.min_tokens;
    options.fingerprint.min_lines = args.min_lines;
    options.lock_wait = Duration::from_secs(args.lock_wait);
    options.candidates = args.candidates.into();
    options.backend = args.backend.into();
    let report = query(&input, &options)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Text => {
            if report.fragments.is_empty() {
                writeln!(
                    out,
                    "no match for the {} fragment(s) of the input (fragments have at least {} tokens and {} lines)",
                    report.fragments_queried, args.min_tokens, args.min_lines
                )?;
            }
            for f in &report.fragments {
                writeln!(
                    out,
                    "{}:{}-{} ({}, {} tokens) occurs in {} place(s):",
                    f.path,
                    f.start_line,
                    f.end_line,
                    f.category,
                    f.tokens,
                    f.matches.len()
                )?;
                for m in &f.matches {
                    writeln!(
                        out,
                        "  {} {:.2}  {}  {}:{}-{}",
                        m.clone_type, m.similarity, m.tree, m.path, m.start_line, m.end_line
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn run_db(command: DbCommand) -> anyhow::Result<()> {
    let wait = Duration::from_secs(30);
    match command {
        DbCommand::Check { db } => {
            let mut database = Database::open_reader(&db, wait)?;
            let problems = database.check()?;
            if problems.is_empty() {
                println!("ok: {} is sound", db.display());
                return Ok(());
            }
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::bail!("{} has {} problem(s)", db.display(), problems.len())
        }
        DbCommand::Stats { db } => {
            let mut database = Database::open_reader(&db, wait)?;
            let s = database.stats(100_000)?;
            let mib = |b: u64| b as f64 / (1 << 20) as f64;
            let lines: u64 = s.trees.iter().map(|t| t.lines).sum();
            println!("database {}", db.display());
            println!(
                "  {} segment(s), {:.1} MiB; index.sqlite {:.1} MiB; {:.1} MiB per million lines",
                s.segments,
                mib(s.segment_bytes),
                mib(s.sqlite_bytes),
                mib(s.segment_bytes + s.sqlite_bytes) / (lines.max(1) as f64 / 1e6)
            );
            println!(
                "  {} rows, {} live ({} dead until segments merge)",
                s.rows,
                s.live_rows,
                s.rows - s.live_rows
            );
            println!(
                "  Bloom filters: {:.1} KiB for {} keys ({:.2} bytes per fragment), measured false-positive rate {:.3}%",
                s.bloom_bytes as f64 / 1024.0,
                s.bloom_keys,
                s.bloom_bytes as f64 / (s.bloom_keys.max(1) / 2) as f64,
                s.bloom_false_positive_rate * 100.0
            );
            for t in &s.trees {
                println!(
                    "  tree {}: {} files ({} analysed), {} lines, {} fragments, {} edges, {} families",
                    t.name, t.files, t.analyzed_files, t.lines, t.fragments, t.edges, t.families
                );
            }
            Ok(())
        }
        DbCommand::Compact { db } => {
            // Compacting names an existing database; it never creates one.
            drop(Database::open_reader(&db, wait)?);
            let mut database = Database::open_writer(&db, wait)?;
            let merged = database.compact_segments(true)?;
            println!("merged {merged} segment(s)");
            Ok(())
        }
    }
}

fn run_analyze(args: AnalyzeArgs, find_families: bool) -> anyhow::Result<()> {
    // The output is checked before the analysis, which can take minutes; it is written to
    // a temporary file beside it and renamed into place, so no reader sees half a report.
    let output = match &args.output {
        Some(path) => Some(ReportFile::create(path)?),
        None => None,
    };
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .context("cannot start the worker threads")?;
    }
    let mut options = AnalyzeOptions::new(&args.dir);
    options.languages = args.languages;
    options.excludes = args.excludes;
    options.include_generated = args.include_generated;
    options.follow_links = args.follow_links;
    options.max_file_size = args.max_file_size;
    options.parse_timeout = Duration::from_secs(args.parse_timeout);
    options.fingerprint.min_tokens = args.min_tokens;
    options.fingerprint.min_lines = args.min_lines;
    options.matching.min_similarity = (args.min_similarity * 1000.0).round() as u32;
    options.matching.near_miss = !args.no_near_miss;
    options.matching.candidates = args.candidates.into();
    options.backend = args.backend.into();
    options.find_families = find_families;
    let database = &args.database;
    options.rebuild = database.rebuild;
    options.name = database.name.clone();
    options.lock_wait = Duration::from_secs(database.lock_wait);
    options.database = match (&database.db, database.no_db) {
        (_, true) => None,
        (Some(db), false) => Some(db.clone()),
        (None, false) if !args.dir.is_dir() => None,
        (None, false) => {
            let default = AnalyzeOptions::default_database(&args.dir);
            // A tree that cannot hold its database (read-only) is analysed in memory.
            match std::fs::create_dir_all(&default) {
                Ok(()) => Some(default),
                Err(e) => {
                    eprintln!(
                        "codetable: warning: cannot create the pattern database {} ({e}); \
                         analysing in memory (--db PATH puts it elsewhere)",
                        default.display()
                    );
                    None
                }
            }
        }
    };

    let report = analyze(&options)?;
    if !find_families {
        let w = &report.stats.work;
        println!(
            "indexed {} as {:?} in {}: {} files ({} parsed, {} unchanged), {} fragments",
            args.dir.display(),
            options.tree_name(),
            options
                .database
                .as_deref()
                .unwrap_or(Path::new("memory"))
                .display(),
            report.stats.files,
            w.files_parsed,
            w.files_reused,
            report.stats.fragments
        );
        return Ok(());
    }
    if report.stats.files == 0 {
        eprintln!(
            "codetable: warning: no source file was analysed in {} ({} skipped, --format json lists why); \
             the report is empty",
            args.dir.display(),
            report.skipped.len()
        );
    }
    let render = |out: &mut dyn Write| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
        match args.format {
            Format::Text => out.write_all(render_text(&report, args.top).as_bytes())?,
            Format::Json => write_json(&report, &mut out)?,
        }
        out.flush()
    };
    match output {
        Some(file) => file.write_with(render)?,
        None => render(&mut std::io::stdout().lock())?,
    }
    Ok(())
}

/// The `--output` file: a temporary file in the same directory until the report is
/// complete, then renamed to its name. A path that is not a regular file (`/dev/null`, a
/// FIFO, a terminal) is written to directly: renaming over it would replace the device.
enum ReportFile {
    Atomic {
        path: PathBuf,
        temporary: tempfile::NamedTempFile,
    },
    Special {
        path: PathBuf,
        file: std::fs::File,
    },
}

impl ReportFile {
    fn create(path: &Path) -> anyhow::Result<ReportFile> {
        let context = || format!("cannot write {}", path.display());
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {
                anyhow::bail!("cannot write {}: it is a directory", path.display())
            }
            Ok(meta) if !meta.is_file() => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(context)?;
                return Ok(ReportFile::Special {
                    path: path.to_path_buf(),
                    file,
                });
            }
            _ => {}
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temporary = tempfile::Builder::new()
            .prefix(".codetable-report")
            .tempfile_in(dir)
            .with_context(context)?;
        Ok(ReportFile::Atomic {
            path: path.to_path_buf(),
            temporary,
        })
    }

    fn write_with(
        self,
        render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        match self {
            ReportFile::Atomic {
                path,
                mut temporary,
            } => {
                let context = || format!("cannot write {}", path.display());
                render(temporary.as_file_mut()).with_context(context)?;
                temporary
                    .persist(&path)
                    .map_err(|e| e.error)
                    .with_context(context)?;
            }
            ReportFile::Special { path, mut file } => {
                render(&mut file).with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        Ok(())
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
