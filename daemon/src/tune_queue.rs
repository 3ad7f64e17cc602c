//! Tuning jobs waiting for the scheduler: requested by the daemon's own verdicts, by
//! Alertmanager through the webhook, or on start-up. A handle with methods; the scheduler takes
//! one job at a time, between benchmark runs, so a benchmark never shares the CPU with tuning.

use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::sync::Notify;

/// One requested tuning job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneRequest {
    /// What asked for it: `slo:NAME`, `regression`, `alert:ALERTNAME`.
    pub trigger: String,
    /// Alertmanager's group key (duplicates of a queued or running group are dropped).
    pub group_key: Option<String>,
    /// The run whose gates the outcome updates.
    pub run_id: Option<i64>,
}

/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The same alert group is already queued or running.
    #[error("a tuning job for this alert group is already queued or running")]
    Duplicate,
    /// Too many jobs are waiting.
    #[error("{0} tuning jobs are already waiting")]
    Full(usize),
}

/// Most jobs waiting at once: each takes minutes, so more would only pile up.
const MAX_WAITING: usize = 4;

#[derive(Debug, Default)]
struct Inner {
    waiting: VecDeque<TuneRequest>,
    running: Option<TuneRequest>,
}

/// The queue of tuning jobs.
#[derive(Debug, Default)]
pub struct TuneQueue {
    inner: Mutex<Inner>,
    wake: Notify,
}

impl TuneQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The queue holds no invariant a panic could break halfway.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a job and wakes the scheduler.
    pub fn request(&self, r: TuneRequest) -> Result<(), Refused> {
        let mut g = self.lock();
        if let Some(key) = &r.group_key {
            let same = |x: &TuneRequest| x.group_key.as_ref() == Some(key);
            if g.running.as_ref().is_some_and(same) || g.waiting.iter().any(same) {
                return Err(Refused::Duplicate);
            }
        }
        if g.waiting.len() >= MAX_WAITING {
            return Err(Refused::Full(g.waiting.len()));
        }
        g.waiting.push_back(r);
        drop(g);
        self.wake.notify_one();
        Ok(())
    }

    /// Takes the next job and marks it running.
    pub fn start_next(&self) -> Option<TuneRequest> {
        let mut g = self.lock();
        let next = g.waiting.pop_front()?;
        g.running = Some(next.clone());
        Some(next)
    }

    /// The running job ended.
    pub fn finished(&self) {
        self.lock().running = None;
    }

    /// Jobs waiting (not counting the running one).
    pub fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// The running job's trigger.
    pub fn running(&self) -> Option<String> {
        self.lock().running.as_ref().map(|r| r.trigger.clone())
    }

    /// Resolves when a job is requested.
    pub async fn requested(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: Option<&str>) -> TuneRequest {
        TuneRequest {
            trigger: "alert:X".into(),
            group_key: key.map(String::from),
            run_id: None,
        }
    }

    #[test]
    fn duplicates_of_a_queued_or_running_group_are_refused() {
        let q = TuneQueue::default();
        q.request(req(Some("g"))).unwrap();
        assert_eq!(q.request(req(Some("g"))), Err(Refused::Duplicate));
        let r = q.start_next().unwrap();
        assert_eq!(r.group_key.as_deref(), Some("g"));
        assert_eq!(q.request(req(Some("g"))), Err(Refused::Duplicate));
        q.finished();
        q.request(req(Some("g"))).unwrap();
        q.request(req(None)).unwrap();
        q.request(req(None)).unwrap();
        q.request(req(None)).unwrap();
        assert_eq!(q.request(req(None)), Err(Refused::Full(4)));
    }
}
