//! A greedy decode timed step by step, so that two sessions' steps can alternate a token at a
//! time and each side still sums only its own steps (`perfd bench --compare-*`, the tuner's
//! decode pairs).

use std::time::Instant;

use crate::model::error::ModelError;
use crate::model::forward::{argmax, Session};

/// The decode in progress: the token its next step reads, and the seconds its steps took so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DecodeClock {
    next: u32,
    seconds: f64,
}

impl DecodeClock {
    /// A decode starting from `token` (the argmax of the prompt's last logits).
    pub fn start(token: u32) -> Self {
        Self {
            next: token,
            seconds: 0.0,
        }
    }

    /// One timed greedy step of `session`: decodes the next token and takes the argmax of its
    /// logits as the one after.
    pub fn step(&mut self, session: &mut Session<'_>) -> Result<(), ModelError> {
        let t = Instant::now();
        self.next = argmax(&session.decode(self.next)?);
        self.seconds += t.elapsed().as_secs_f64();
        Ok(())
    }

    /// The token the next step reads (the last one decoded).
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Seconds the steps so far took.
    pub fn seconds(&self) -> f64 {
        self.seconds
    }
}
