//! The GPU backend: one wgpu device per process with the pipelines of `shaders/`, and the
//! host side of each kernel. Inputs are the record model's `Pod` columns; every kernel
//! works in integers, so its answers are its CPU twin's bit for bit.
//!
//! Inputs larger than one buffer binding, or than a dispatch may address, are cut into
//! chunks ([`Chunking`]): the exhaustive scan into blocks of stored fragments and runs of
//! listed ones, verification into runs of pairs whose streams fit. An append buffer that
//! overflows is grown and its dispatch run again; nothing is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use codetable_fingerprint::{FragmentTable, SKETCH_BINS, symbol};
use wgpu::util::DeviceExt;

use crate::Verifier;
use crate::exhaustive::{Listed, Meta, Order};
use crate::scan::{ProbeRecord, StoredSketches};

/// Why the GPU cannot be used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter found (install a Vulkan driver, or use --backend cpu)")]
    NoAdapter,
    #[error(
        "only a software GPU adapter was found ({0}); set CODETABLE_ALLOW_SOFTWARE_GPU=1 to \
         use it, or use --backend cpu"
    )]
    SoftwareOnly(String),
    #[error("the GPU adapter {adapter} refused a device: {message}")]
    Device { adapter: String, message: String },
    #[error("the GPU failed: {0}")]
    Failed(String),
}

/// What the matcher ran on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, as its driver gives it.
    pub name: String,
    /// `vulkan`, `metal`, ...
    pub api: String,
    /// A software rasteriser (llvmpipe, lavapipe, WARP) rather than hardware.
    pub software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let software = if self.software { ", software" } else { "" };
        write!(f, "{} ({}{software})", self.name, self.api)
    }
}

/// How work is cut for the GPU. The defaults suit a real GPU; tests make them small to
/// exercise chunking and overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunking {
    /// Stored fragments per block of the exhaustive scan (also capped by the adapter's
    /// binding size).
    pub block_fragments: u32,
    /// Listed fragments per dispatch of the exhaustive scan.
    pub listed_per_dispatch: u32,
    /// Room the append buffer starts with in each dispatch, in candidate pairs of 8 bytes
    /// (a query hit takes two); it grows on overflow.
    pub initial_pairs: u32,
    /// The most records an append buffer may hold (the binding size caps it too): past it
    /// a run of listed fragments is split in two.
    pub max_records: u32,
    /// Pairs per dispatch of verification.
    pub pairs_per_dispatch: u32,
    /// Loop iterations one invocation of the verification kernel may spend in one
    /// dispatch; a longer pair goes on in the next.
    pub loop_budget: u32,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            block_fragments: 1 << 20,
            listed_per_dispatch: 1 << 16,
            initial_pairs: 1 << 20,
            max_records: u32::MAX,
            pairs_per_dispatch: 1 << 18,
            loop_budget: u32::MAX,
        }
    }
}

impl Chunking {
    /// Loop iterations an invocation may run on a software device: llvmpipe and lavapipe
    /// silently end any shader loop after 65,535 iterations (Mesa's loop limiter), so
    /// there kernels get shares small enough to stay under it.
    pub const SOFTWARE_LOOP_LIMIT: u32 = 48_000;

    /// The chunking for `adapter`: the defaults on hardware; on a software device, scan
    /// blocks of 640 fragments (20 tiles of about 2,100 iterations each) and verification
    /// shares within [`SOFTWARE_LOOP_LIMIT`](Self::SOFTWARE_LOOP_LIMIT).
    pub fn for_adapter(adapter: &AdapterSummary) -> Chunking {
        if adapter.software {
            Chunking {
                block_fragments: 640,
                loop_budget: Self::SOFTWARE_LOOP_LIMIT,
                ..Chunking::default()
            }
        } else {
            Chunking::default()
        }
    }
}

/// Stored fragments on the GPU, block by block: (start, end, and two columns).
pub(crate) type StoredBlocks = Vec<(usize, usize, wgpu::Buffer, wgpu::Buffer)>;

/// A device, its queue and the pipelines, built once per process ([`Gpu::shared`]).
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: AdapterSummary,
    /// The largest storage binding, in bytes.
    max_binding: u64,
    candidates: wgpu::ComputePipeline,
    lcs: wgpu::ComputePipeline,
    query: wgpu::ComputePipeline,
    /// Reused between calls: the append buffer of `candidates` and `query`, and its bytes.
    append_buffer: Mutex<Option<(wgpu::Buffer, u64)>>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

/// The kernels, one file each, the agreement bar in front of the two that use it
/// (validated by naga in the tests).
pub const CANDIDATES_WGSL: &str = concat!(
    include_str!("../../../shaders/scan.wgsl"),
    include_str!("../../../shaders/candidates.wgsl")
);
pub const LCS_WGSL: &str = include_str!("../../../shaders/lcs.wgsl");
pub const QUERY_WGSL: &str = concat!(
    include_str!("../../../shaders/scan.wgsl"),
    include_str!("../../../shaders/query.wgsl")
);

/// Result of [`Gpu::lcs`] for a pair that cannot reach its bar.
const NONE: u32 = u32::MAX;
const WORKGROUP: u32 = 64;

/// What the candidate kernel reads of one listed fragment (`Listed` in the shader).
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct ListedRecord {
    sketch: [u32; SKETCH_BINS],
    place: Meta,
    position: u32,
    lo: u32,
    hi: u32,
    pad: u32,
}

/// One pair for the verification kernel (`Task` in the shader).
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Task {
    a_offset: u32,
    a_len: u32,
    b_offset: u32,
    b_len: u32,
    needed: u32,
    scratch: u32,
    pad: [u32; 2],
}

impl Gpu {
    /// The process's GPU: the best hardware adapter, or with `allow_software` a software
    /// one when there is no hardware; opened on first use and shared after (one device
    /// per process, whatever the callers allow).
    pub fn shared(allow_software: bool) -> Result<Arc<Gpu>, GpuError> {
        static HARDWARE: OnceLock<Result<Arc<Gpu>, GpuError>> = OnceLock::new();
        static SOFTWARE: OnceLock<Result<Arc<Gpu>, GpuError>> = OnceLock::new();
        match HARDWARE.get_or_init(|| Gpu::open(false).map(Arc::new)) {
            Err(GpuError::SoftwareOnly(_)) if allow_software => SOFTWARE
                .get_or_init(|| Gpu::open(true).map(Arc::new))
                .clone(),
            found => found.clone(),
        }
    }

    /// The adapter this device runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    fn open(allow_software: bool) -> Result<Gpu, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let usable: Vec<wgpu::Adapter> = adapters
            .into_iter()
            .filter(|a| {
                a.get_downlevel_capabilities()
                    .flags
                    .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
            })
            .collect();
        let Some(adapter) = usable.iter().min_by_key(|a| rank(a)) else {
            return Err(GpuError::NoAdapter);
        };
        let info = adapter.get_info();
        let summary = AdapterSummary {
            name: info.name.clone(),
            api: info.backend.to_str().to_string(),
            software: info.device_type == wgpu::DeviceType::Cpu,
        };
        if summary.software && !allow_software {
            return Err(GpuError::SoftwareOnly(summary.to_string()));
        }
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("codetable"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device {
            adapter: summary.to_string(),
            message: e.to_string(),
        })?;
        let pipeline = |label: &str, source: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let candidates = pipeline("candidates", CANDIDATES_WGSL);
        let lcs = pipeline("lcs", LCS_WGSL);
        let query = pipeline("query", QUERY_WGSL);
        tracing::debug!(adapter = %summary, "GPU device opened");
        Ok(Gpu {
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
            device,
            queue,
            adapter: summary,
            candidates,
            lcs,
            query,
            append_buffer: Mutex::new(None),
        })
    }

    /// The candidate pairs (positions of `order`, listed one first) found from each listed
    /// position: the twin of [`crate::exhaustive::cpu_pairs`], in no particular order.
    pub(crate) fn candidate_pairs(
        &self,
        order: &Order,
        listed: &[Listed],
        marked: &[u32],
        min_agreement: u32,
        chunking: &Chunking,
    ) -> Result<Vec<(u32, u32)>, GpuError> {
        let block = self.block(chunking);
        let per_dispatch = (chunking.listed_per_dispatch as u64)
            .min(self.max_binding / size_of::<ListedRecord>() as u64)
            .min(
                self.device.limits().max_compute_workgroups_per_dimension as u64 * WORKGROUP as u64,
            )
            .max(1) as usize;
        let marked_buffer = self.input("marked", bytemuck::cast_slice(marked));
        let blocks = self.blocks(order.len(), block, |start, end| {
            (
                bytemuck::cast_slice(&order.sketches[start..end]),
                bytemuck::cast_slice(&order.metas[start..end]),
            )
        });
        let records: Vec<ListedRecord> = listed
            .iter()
            .map(|l| ListedRecord {
                sketch: order.sketches[l.position as usize].0,
                place: order.metas[l.position as usize],
                position: l.position,
                lo: l.lo,
                hi: l.hi,
                pad: 0,
            })
            .collect();
        let found = self.scan_blocks(
            &self.candidates,
            &records,
            |r| (r.lo, r.hi),
            per_dispatch,
            &blocks,
            Some(&marked_buffer),
            min_agreement,
            |run, _| run.div_ceil(WORKGROUP as usize) as u32,
            2,
            chunking,
        )?;
        Ok(found
            .iter()
            .flat_map(|(_, words)| words.chunks_exact(2).map(|p| (p[0], p[1])))
            .collect())
    }

    /// Stored fragments per block: the chunking's, within a binding and a dispatch.
    fn block(&self, chunking: &Chunking) -> usize {
        (chunking.block_fragments as u64)
            .min(self.max_binding / (SKETCH_BINS as u64 * 4))
            .min(
                self.device.limits().max_compute_workgroups_per_dimension as u64 * WORKGROUP as u64,
            )
            .max(1) as usize
    }

    /// `len` stored fragments uploaded in blocks of `block`: (start, end, and the two
    /// columns `columns(start, end)` gives).
    fn blocks<'a>(
        &self,
        len: usize,
        block: usize,
        columns: impl Fn(usize, usize) -> (&'a [u8], &'a [u8]),
    ) -> StoredBlocks {
        (0..len)
            .step_by(block)
            .map(|start| {
                let end = (start + block).min(len);
                let (first, second) = columns(start, end);
                (
                    start,
                    end,
                    self.input("stored", first),
                    self.input("stored", second),
                )
            })
            .collect()
    }

    /// Runs an appending kernel (`candidates`, `query`) over every run of `listed` records
    /// and every block whose positions meet the run's ranges: the words each dispatch
    /// appended, with the run's first index. A run whose records outgrow the largest append
    /// buffer is split in two and dispatched again; runs are cut so that no dispatch scans
    /// 2³¹ pairs, so the kernel's 32-bit counter cannot wrap. Bindings: the parameters,
    /// the listed records, the block's two columns, `extra`, the append buffer, its count.
    #[allow(clippy::too_many_arguments)] // one call per kernel, each naming its own parts
    fn scan_blocks<T: bytemuck::Pod>(
        &self,
        pipeline: &wgpu::ComputePipeline,
        listed: &[T],
        range: impl Fn(&T) -> (u32, u32),
        per_dispatch: usize,
        blocks: &StoredBlocks,
        extra: Option<&wgpu::Buffer>,
        min_agreement: u32,
        workgroups: impl Fn(usize, usize) -> u32,
        words_per_record: u32,
        chunking: &Chunking,
    ) -> Result<Vec<(usize, Vec<u32>)>, GpuError> {
        let span = |r: &T| {
            let (lo, hi) = range(r);
            hi.saturating_sub(lo) as u64
        };
        let mut pending: Vec<(usize, usize, usize)> = Vec::new(); // (first, end, block)
        for (first, end) in runs_of(listed, per_dispatch, span) {
            let (lo, hi) = listed[first..end]
                .iter()
                .map(&range)
                .filter(|(lo, hi)| lo < hi)
                .fold((u32::MAX, 0), |(a, b), (lo, hi)| (a.min(lo), b.max(hi)));
            for (k, (start, stop, _, _)) in blocks.iter().enumerate() {
                if (hi as usize) > *start && (lo as usize) < *stop {
                    pending.push((first, end, k));
                }
            }
        }
        pending.reverse();
        let mut found = Vec::new();
        while let Some((first, end, k)) = pending.pop() {
            let (start, stop, columns_a, columns_b) = &blocks[k];
            let run = &listed[first..end];
            let run_buffer = self.input("listed", bytemuck::cast_slice(run));
            let mut inputs = vec![&run_buffer, columns_a, columns_b];
            inputs.extend(extra);
            let params = [
                run.len() as u32,
                *start as u32,
                (stop - start) as u32,
                0,
                min_agreement,
                0,
                0,
                0,
            ];
            let groups = workgroups(run.len(), stop - start);
            match self.append(
                pipeline,
                params,
                &inputs,
                groups,
                words_per_record,
                chunking,
            )? {
                Some(words) => found.push((first, words)),
                None if run.len() > 1 => {
                    let middle = first + run.len() / 2;
                    pending.push((middle, end, k));
                    pending.push((first, middle, k));
                }
                None => {
                    return Err(GpuError::Failed(
                        "one fragment has more candidates than the largest GPU buffer holds".into(),
                    ));
                }
            }
        }
        Ok(found)
    }

    /// One dispatch of an appending kernel, run again with a larger append buffer until
    /// every record it finds fits: the records' words, or `None` when they would not fit
    /// the largest buffer a binding takes. The kernel's bindings are the uniform,
    /// `inputs`, the append buffer and its counter.
    fn append(
        &self,
        pipeline: &wgpu::ComputePipeline,
        mut params: [u32; 8],
        inputs: &[&wgpu::Buffer],
        workgroups: u32,
        words_per_record: u32,
        chunking: &Chunking,
    ) -> Result<Option<Vec<u32>>, GpuError> {
        let record_bytes = words_per_record as u64 * 4;
        let most = (self.max_binding / record_bytes)
            .min(chunking.max_records.max(1) as u64)
            .min(u32::MAX as u64 / 2);
        let mut capacity = (chunking.initial_pairs.max(1) as u64 * 8 / record_bytes).clamp(1, most);
        let mut cached = self.append_buffer.lock().unwrap_or_else(|e| e.into_inner());
        let count = self.output("count", 4);
        loop {
            // The cached buffer only grows; a smaller capacity uses its start.
            if cached
                .as_ref()
                .is_none_or(|(_, bytes)| *bytes < capacity * record_bytes)
            {
                *cached = None;
                let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
                let buffer = self.output("append", capacity * record_bytes);
                if let Some(error) = pollster::block_on(scope.pop()) {
                    return Err(GpuError::Failed(error.to_string()));
                }
                *cached = Some((buffer, capacity * record_bytes));
            }
            let (out, _) = cached.as_ref().expect("made above");
            params[3] = capacity as u32;
            let uniform = self.uniform(&params);
            let mut buffers = vec![&uniform];
            buffers.extend_from_slice(inputs);
            buffers.extend([out, &count]);
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.clear_buffer(&count, 0, None);
            self.record(&mut encoder, pipeline, &buffers, workgroups);
            self.queue.submit([encoder.finish()]);
            if let Some(error) = pollster::block_on(scope.pop()) {
                return Err(GpuError::Failed(error.to_string()));
            }
            let found = bytemuck::pod_read_unaligned::<u32>(&self.read(&count, 4)?[..4]) as u64;
            if found > capacity {
                if capacity == most {
                    return Ok(None);
                }
                // Overflow: room for what was found, and dispatch again.
                tracing::debug!(found, capacity, "append buffer overflow, dispatching again");
                capacity = found.max(capacity * 2).min(most);
                continue;
            }
            return Ok(Some(bytemuck::pod_collect_to_vec(
                &self.read(out, found * record_bytes)?,
            )));
        }
    }

    /// The stored fragments that pass the pair rule for each probe record: (probe, stored
    /// position, agreement), the twin of [`crate::scan::cpu_hits`], in no particular order.
    /// The stored side is uploaded once per [`StoredSketches`] and block size.
    pub(crate) fn query_hits(
        &self,
        stored: &StoredSketches,
        records: &[ProbeRecord],
        min_agreement: u32,
        chunking: &Chunking,
    ) -> Result<Vec<(u32, u32, u32)>, GpuError> {
        let block = self.block(chunking);
        // Each invocation loops 64 times per probe (and 64 to load its own sketch).
        let per_dispatch = (chunking.listed_per_dispatch as u64)
            .min((chunking.loop_budget as u64).saturating_sub(64) / 70)
            .min(self.max_binding / size_of::<ProbeRecord>() as u64)
            .max(1) as usize;
        let mut uploaded = stored.uploaded.lock().unwrap_or_else(|e| e.into_inner());
        if uploaded.as_ref().is_none_or(|(b, _)| *b != block) {
            let blocks = self.blocks(stored.len(), block, |start, end| {
                (
                    bytemuck::cast_slice(&stored.sketches[start..end]),
                    bytemuck::cast_slice(&stored.lengths[start..end]),
                )
            });
            *uploaded = Some((block, blocks));
        }
        let (_, blocks) = uploaded.as_ref().expect("uploaded above");
        let found = self.scan_blocks(
            &self.query,
            records,
            |r| (r.lo, r.hi),
            per_dispatch,
            blocks,
            None,
            min_agreement,
            |_, block_len| block_len.div_ceil(WORKGROUP as usize) as u32,
            4,
            chunking,
        )?;
        Ok(found
            .iter()
            .flat_map(|(first, words)| {
                words
                    .chunks_exact(4)
                    .map(move |h| (h[0] + *first as u32, h[1], h[2]))
            })
            .collect())
    }

    /// The LCS of each pair of table rows when it reaches the pair's `needed`, else
    /// `None`: the twin of [`Verifier::lcs_at_least`](crate::Verifier::lcs_at_least).
    /// The longer stream is the pattern (the LCS is symmetric), so the text, which each
    /// of the pattern's words runs over, is the shorter.
    pub(crate) fn lcs(
        &self,
        table: &FragmentTable,
        pairs: &[(u32, u32)],
        needed: &[u32],
        chunking: &Chunking,
    ) -> Result<Vec<Option<u32>>, GpuError> {
        let mut results = vec![None; pairs.len()];
        let budget = chunking.loop_budget.max(1);
        // Loop iterations per pattern word, at most: sorting its 32 symbols, then five
        // search steps and one update per text symbol.
        let cost = |text: usize| 2_200 + 7 * text as u64;
        let per_dispatch = (chunking.pairs_per_dispatch as usize)
            .min(self.device.limits().max_compute_workgroups_per_dimension as usize * 64)
            .max(1);
        let words_limit = (self.max_binding / 4) as usize;
        let mut start = 0;
        while start < pairs.len() {
            // A run of pairs whose streams and scratch fit one binding each.
            let mut offsets: HashMap<u32, u32> = HashMap::new();
            let mut symbols: Vec<u16> = Vec::new();
            let mut tasks: Vec<Task> = Vec::new();
            let mut indices: Vec<usize> = Vec::new();
            let mut scratch = 0usize;
            let mut end = start;
            while end < pairs.len() && tasks.len() < per_dispatch {
                let (a, b) = pairs[end];
                let (a, b) = if table.stream(a).len() >= table.stream(b).len() {
                    (a, b)
                } else {
                    (b, a)
                };
                let (la, lb) = (table.stream(a).len(), table.stream(b).len());
                if cost(lb) > budget as u64 {
                    // Not one pattern word fits the budget (a shorter stream of some 6,500
                    // tokens on a software device): this pair is verified on the CPU.
                    tracing::debug!(la, lb, "pair too long for the loop budget, on the CPU");
                    results[end] = Verifier::default().lcs_at_least(
                        a,
                        table.stream(a),
                        table.stream(b),
                        needed[end],
                    );
                    end += 1;
                    continue;
                }
                let words = lb.div_ceil(32);
                let new_symbols = [a, b]
                    .iter()
                    .filter(|r| !offsets.contains_key(r))
                    .map(|&r| table.stream(r).len())
                    .sum::<usize>();
                let fits = (symbols.len() + new_symbols).div_ceil(2) <= words_limit
                    && scratch + words <= words_limit;
                if !fits && !tasks.is_empty() {
                    break;
                }
                let mut place = |r: u32| {
                    *offsets.entry(r).or_insert_with(|| {
                        let offset = symbols.len() as u32;
                        let stream = table.stream(r);
                        symbols.extend(
                            stream
                                .iter()
                                .enumerate()
                                .map(|(i, &s)| symbol::relative(i, s)),
                        );
                        offset
                    })
                };
                let (a_offset, b_offset) = (place(a), place(b));
                tasks.push(Task {
                    a_offset,
                    a_len: la as u32,
                    b_offset,
                    b_len: lb as u32,
                    needed: needed[end],
                    scratch: scratch as u32,
                    pad: [0; 2],
                });
                indices.push(end);
                scratch += words;
                end += 1;
            }
            if symbols.len() % 2 == 1 {
                symbols.push(0);
            }
            if tasks.is_empty() {
                start = end;
                continue;
            }
            // The pattern words every pair advances per dispatch, and so the dispatches
            // needed. One share for all: the software device runs lanes in lockstep, so
            // its loop limit counts the longest text of a group.
            let longest = tasks.iter().map(|t| t.b_len as usize).max().unwrap_or(0);
            let share = (budget as u64 / cost(longest)).clamp(1, u32::MAX as u64);
            let rounds = tasks
                .iter()
                .map(|t| (t.a_len.div_ceil(32) as u64).div_ceil(share).max(1))
                .max()
                .unwrap_or(1);
            let uniform = self.uniform(&[tasks.len() as u32, share as u32, 0, 0]);
            let task_buffer = self.input("tasks", bytemuck::cast_slice(&tasks));
            let symbol_buffer = self.input("symbols", bytemuck::cast_slice(&symbols));
            let scratch_buffer = self.output("scratch", scratch.max(1) as u64 * 4);
            let out = self.output("lcs", tasks.len() as u64 * 4);
            let progress = self.output("progress", tasks.len() as u64 * 4);
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            let mut encoder = self.device.create_command_encoder(&Default::default());
            encoder.clear_buffer(&progress, 0, None);
            for _ in 0..rounds {
                self.record(
                    &mut encoder,
                    &self.lcs,
                    &[
                        &uniform,
                        &task_buffer,
                        &symbol_buffer,
                        &scratch_buffer,
                        &out,
                        &progress,
                    ],
                    tasks.len().div_ceil(WORKGROUP as usize) as u32,
                );
            }
            self.queue.submit([encoder.finish()]);
            if let Some(error) = pollster::block_on(scope.pop()) {
                return Err(GpuError::Failed(error.to_string()));
            }
            let found: Vec<u32> =
                bytemuck::pod_collect_to_vec(&self.read(&out, tasks.len() as u64 * 4)?);
            for (&k, &l) in indices.iter().zip(&found) {
                results[k] = (l != NONE).then_some(l);
            }
            start = end;
        }
        Ok(results)
    }

    /// A read-only storage buffer holding `bytes` (at least one word).
    fn input(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let contents: &[u8] = if bytes.is_empty() { &[0; 4] } else { bytes };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE,
            })
    }

    fn uniform(&self, words: &[u32]) -> wgpu::Buffer {
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: bytemuck::cast_slice(words),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    }

    /// A storage buffer the kernel writes and the host reads back.
    fn output(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipeline: &wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        workgroups: u32,
    ) {
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        if workgroups > 0 {
            pass.dispatch_workgroups(workgroups, 1, 1);
        }
    }

    /// The first `size` bytes of `buffer`, after all submitted work.
    fn read(&self, buffer: &wgpu::Buffer, size: u64) -> Result<Vec<u8>, GpuError> {
        if size == 0 {
            return Ok(Vec::new());
        }
        let size = size.next_multiple_of(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .map_err(|e| GpuError::Failed(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| GpuError::Failed(e.to_string()))?
            .map_err(|e| GpuError::Failed(e.to_string()))?;
        let bytes = staging
            .get_mapped_range(..)
            .map_err(|e| GpuError::Failed(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }
}

/// Consecutive runs (first, end) of at most `most` items whose spans sum to under 2³¹
/// (so a kernel's 32-bit counter of what it finds cannot wrap).
fn runs_of<T>(items: &[T], most: usize, span: impl Fn(&T) -> u64) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut first = 0;
    while first < items.len() {
        let (mut end, mut scanned) = (first, 0u64);
        while end < items.len() && end - first < most {
            let s = span(&items[end]);
            if end > first && scanned + s >= 1 << 31 {
                break;
            }
            scanned += s;
            end += 1;
        }
        runs.push((first, end));
        first = end;
    }
    runs
}

#[cfg(test)]
#[path = "gpu_tests.rs"]
mod tests;
