//! A corpus analysed on the CPU and again on the GPU (the software Vulkan device where
//! there is no GPU; the test command installs it), with each candidate strategy asked
//! for: every pair must give the same report, but for the timings and the backend's name.
//! Without any adapter the test fails.

use std::path::Path;

use codetable::{AnalyzeOptions, BackendChoice, Report, Strategy, analyze};

/// The CPU's report of `root` with LSH candidates, after checking that the GPU gives the
/// same one with each of `strategies`.
pub fn analyze_on_both(root: &Path, strategies: &[Strategy]) -> Report {
    let on = |backend, candidates| {
        let mut options = AnalyzeOptions::new(root);
        options.backend = backend;
        options.allow_software_gpu = true;
        options.matching.candidates = candidates;
        analyze(&options).unwrap_or_else(|e| panic!("{}: {e}", root.display()))
    };
    let mut lsh = None;
    for &strategy in strategies {
        let cpu = on(BackendChoice::Cpu, strategy);
        let gpu = on(BackendChoice::Gpu, strategy);
        assert_eq!(gpu.stats.backend.name, "gpu");
        let context = format!("{}, {strategy:?}", root.display());
        assert_eq!(
            gpu.stats.verified_pairs, cpu.stats.verified_pairs,
            "{context}"
        );
        assert!(
            gpu.families == cpu.families,
            "{context}: the GPU's families differ from the CPU's"
        );
        if strategy == Strategy::Lsh {
            lsh = Some(cpu);
        }
    }
    lsh.unwrap_or_else(|| on(BackendChoice::Cpu, Strategy::Lsh))
}
