//! Which backend matches: the CPU (rayon) or the GPU (wgpu), chosen once per run. Both
//! give the same pairs, similarities and families; the choice changes speed only.

use std::sync::Arc;

use crate::gpu::{AdapterSummary, Chunking, Gpu, GpuError};

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU when there is one, else the CPU.
    #[default]
    Auto,
    /// The GPU, or an error.
    Gpu,
    Cpu,
}

impl BackendChoice {
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        }
    }
}

/// Where matching runs.
#[derive(Clone, Debug)]
pub enum Backend {
    Cpu,
    Gpu { gpu: Arc<Gpu>, chunking: Chunking },
}

impl Backend {
    /// The backend for `choice`. `auto` takes a hardware adapter when one exists, a
    /// software one (llvmpipe, lavapipe) only with `allow_software`, and otherwise the CPU,
    /// saying why in the log; `gpu` without a usable adapter is an error.
    pub fn select(choice: BackendChoice, allow_software: bool) -> Result<Backend, GpuError> {
        let gpu = |gpu: Arc<Gpu>| Backend::Gpu {
            chunking: Chunking::for_adapter(gpu.adapter()),
            gpu,
        };
        match choice {
            BackendChoice::Cpu => Ok(Backend::Cpu),
            BackendChoice::Gpu => Gpu::shared(allow_software).map(gpu),
            BackendChoice::Auto => match Gpu::shared(allow_software) {
                Ok(found) => Ok(gpu(found)),
                Err(why) => {
                    tracing::info!("matching on the CPU: {why}");
                    Ok(Backend::Cpu)
                }
            },
        }
    }

    /// `cpu` or `gpu`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu { .. } => "gpu",
        }
    }

    /// The GPU adapter, when matching runs on one.
    pub fn adapter(&self) -> Option<&AdapterSummary> {
        match self {
            Backend::Cpu => None,
            Backend::Gpu { gpu, .. } => Some(gpu.adapter()),
        }
    }
}
