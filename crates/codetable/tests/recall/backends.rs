//! A corpus analysed on the CPU and again on the GPU (the software Vulkan device where
//! there is no GPU; the test command installs it): both must give the same report, but
//! for the timings and the backend's name. Without any adapter the test fails.

use std::path::Path;

use codetable::{AnalyzeOptions, BackendChoice, Report, analyze};

/// The CPU's report of `root`, after checking that the GPU gives the same one.
pub fn analyze_on_both(root: &Path) -> Report {
    let on = |backend| {
        let mut options = AnalyzeOptions::new(root);
        options.backend = backend;
        options.allow_software_gpu = true;
        analyze(&options).unwrap_or_else(|e| panic!("{}: {e}", root.display()))
    };
    let cpu = on(BackendChoice::Cpu);
    let gpu = on(BackendChoice::Gpu);
    assert_eq!(gpu.stats.backend.name, "gpu");
    assert_eq!(
        gpu.stats.verified_pairs,
        cpu.stats.verified_pairs,
        "{}",
        root.display()
    );
    assert!(
        gpu.families == cpu.families,
        "{}: the GPU's families differ from the CPU's",
        root.display()
    );
    cpu
}
