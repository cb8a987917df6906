//! The per-provider gate every call passes: a bound on calls in flight, and a pause that a
//! rate-limit answer imposes on all squads using the provider, not just the one that met it.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// Shared by every call to one provider.
#[derive(Debug)]
pub(crate) struct ProviderGate {
    in_flight: Semaphore,
    max_in_flight: usize,
    paused_until: Mutex<Option<Instant>>,
}

impl ProviderGate {
    pub(crate) fn new(max_in_flight: usize) -> Self {
        let max_in_flight = max_in_flight.max(1);
        Self {
            in_flight: Semaphore::new(max_in_flight),
            max_in_flight,
            paused_until: Mutex::new(None),
        }
    }

    /// Calls in flight, their bound, and how long a rate-limit pause still holds calls back.
    pub(crate) fn state(&self) -> (usize, usize, Option<Duration>) {
        let in_flight = self
            .max_in_flight
            .saturating_sub(self.in_flight.available_permits());
        let now = Instant::now();
        let paused_for = self.pause_remaining().map(|until| until - now);
        (in_flight, self.max_in_flight, paused_for)
    }

    /// Waits until the provider is not paused and a slot is free, and holds the slot until
    /// the returned permit is dropped.
    pub(crate) async fn enter(&self) -> SemaphorePermit<'_> {
        loop {
            self.wait_out_pause().await;
            let permit = self
                .in_flight
                .acquire()
                .await
                .expect("the gate never closes its semaphore, and only a closed one refuses");
            // A rate limit may have arrived while this call queued for a slot.
            if self.pause_remaining().is_none() {
                return permit;
            }
        }
    }

    /// Holds back every call to this provider for `wait` from now (a longer pause already in
    /// force stays).
    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    fn pause_remaining(&self) -> Option<Instant> {
        let paused = *self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.filter(|until| *until > Instant::now())
    }

    async fn wait_out_pause(&self) {
        while let Some(until) = self.pause_remaining() {
            tokio::time::sleep_until(until).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_state_counts_calls_in_flight_and_the_pause_left() {
        let gate = ProviderGate::new(4);
        assert_eq!(gate.state(), (0, 4, None));
        let permit = gate.enter().await;
        assert_eq!(gate.state(), (1, 4, None));
        gate.pause_for(Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(gate.state(), (1, 4, Some(Duration::from_secs(20))));
        drop(permit);
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(gate.state(), (0, 4, None));
    }
}
