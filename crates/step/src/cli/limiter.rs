//! A client-side rate limit: sends start at most `n` per minute, evenly spaced.
//!
//! Even spacing (rather than a burst of `n` then a pause) keeps the sliding 60-second
//! window Heymarket counts in below the limit at every instant, whatever the window's
//! alignment.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out start times at least `interval` apart.
pub struct Limiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl Limiter {
    /// `per_minute` must be at least 1.
    pub fn per_minute(per_minute: u32) -> Limiter {
        Limiter {
            interval: Duration::from_secs(60) / per_minute.max(1),
            next: Mutex::new(None),
        }
    }

    /// Waits for this caller's turn.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn starts_are_spaced_by_the_interval_and_the_first_is_immediate() {
        let limiter = Limiter::per_minute(600);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            limiter.wait().await;
            starts.push(t0.elapsed());
        }
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(100 * i)).collect();
        assert_eq!(starts, expected);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn idle_time_is_not_saved_up_into_a_burst() {
        let limiter = Limiter::per_minute(60);
        limiter.wait().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t0 = Instant::now();
        limiter.wait().await;
        limiter.wait().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
    }
}
