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
    /// The backend for `choice`: `auto` as [`Backend::auto`] picks it; `gpu` without a
    /// usable adapter is an error.
    pub fn select(choice: BackendChoice, allow_software: bool) -> Result<Backend, GpuError> {
        match choice {
            BackendChoice::Cpu => Ok(Backend::Cpu),
            BackendChoice::Gpu => Gpu::shared(allow_software).map(Backend::on),
            BackendChoice::Auto => Ok(Backend::auto(allow_software).0),
        }
    }

    /// A hardware adapter when one exists, a software one (llvmpipe, lavapipe) only with
    /// `allow_software`, otherwise the CPU: the backend, and why it is not a GPU (logged).
    pub fn auto(allow_software: bool) -> (Backend, Option<GpuError>) {
        match Gpu::shared(allow_software) {
            Ok(gpu) => (Backend::on(gpu), None),
            Err(why) => {
                tracing::info!("matching on the CPU: {why}");
                (Backend::Cpu, Some(why))
            }
        }
    }

    /// `gpu` with the chunking its adapter needs.
    fn on(gpu: Arc<Gpu>) -> Backend {
        Backend::Gpu {
            chunking: Chunking::for_adapter(gpu.adapter()),
            gpu,
        }
    }

    /// `work` on this backend; when it is a GPU that fails and `fall_back` holds, on the
    /// CPU instead, which this backend then stays (logged): the result, and the failure it
    /// recovered from.
    pub fn run<T>(
        &mut self,
        fall_back: bool,
        work: impl Fn(&Backend) -> Result<T, GpuError>,
    ) -> Result<(T, Option<GpuError>), GpuError> {
        match work(self) {
            Ok(found) => Ok((found, None)),
            Err(why) if fall_back && matches!(self, Backend::Gpu { .. }) => {
                tracing::warn!("the GPU failed, matching on the CPU instead: {why}");
                *self = Backend::Cpu;
                Ok((work(self)?, Some(why)))
            }
            Err(why) => Err(why),
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
