//! The kernels' thread pool: a private rayon pool of exactly the configured size, optionally with
//! each worker pinned to a core. With one thread, work runs inline with no pool at all.

use rayon::prelude::*;

use crate::error::KernelError;

/// Worker threads that split output rows between them.
#[derive(Debug)]
pub struct WorkerPool {
    pool: Option<rayon::ThreadPool>,
    threads: usize,
}

impl WorkerPool {
    /// Starts `threads` workers (none for 1), pinned to cores when `pin` is set.
    pub fn new(threads: usize, pin: bool) -> Result<Self, KernelError> {
        if threads <= 1 {
            return Ok(Self {
                pool: None,
                threads: 1,
            });
        }
        let mut builder = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("bitnet-worker-{i}"));
        if pin {
            let cores = core_affinity::get_core_ids().unwrap_or_default();
            builder = builder.start_handler(move |i| {
                if let Some(&core) = cores.get(i % cores.len().max(1)) {
                    // Pinning is best effort: an unpinned worker still computes correctly.
                    let _ = core_affinity::set_for_current(core);
                }
            });
        }
        let pool = builder.build().map_err(|e| KernelError::ThreadPool {
            threads,
            reason: e.to_string(),
        })?;
        Ok(Self {
            pool: Some(pool),
            threads,
        })
    }

    /// Number of threads doing the work.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on one of the workers, so that the parallel calls inside it start from a worker
    /// (no wake-up of a sleeping caller after each) — or on the calling thread without a pool.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }

    /// Runs `task(chunk_index, chunk)` over `out` split in chunks of `chunk_len`.
    pub fn for_each_chunk<T: Send>(
        &self,
        out: &mut [T],
        chunk_len: usize,
        task: impl Fn(usize, &mut [T]) + Sync,
    ) {
        let chunk_len = chunk_len.max(1);
        match &self.pool {
            Some(pool) => pool.install(|| {
                out.par_chunks_mut(chunk_len)
                    .enumerate()
                    .for_each(|(i, c)| task(i, c))
            }),
            None => out
                .chunks_mut(chunk_len)
                .enumerate()
                .for_each(|(i, c)| task(i, c)),
        }
    }

    /// Runs `task(t)` for every element of `tasks`, split among the workers.
    pub fn for_each_task<T: Send>(&self, tasks: Vec<T>, task: impl Fn(T) + Sync) {
        match &self.pool {
            Some(pool) => pool.install(|| tasks.into_par_iter().for_each(&task)),
            None => tasks.into_iter().for_each(task),
        }
    }

    /// Like [`Self::for_each_chunk`], but on the calling thread when `inline` (small work).
    pub fn for_each_chunk_maybe_inline<T: Send>(
        &self,
        inline: bool,
        out: &mut [T],
        chunk_len: usize,
        task: impl Fn(usize, &mut [T]) + Sync,
    ) {
        if inline {
            out.chunks_mut(chunk_len.max(1))
                .enumerate()
                .for_each(|(i, c)| task(i, c));
        } else {
            self.for_each_chunk(out, chunk_len, task);
        }
    }
}
