//! Stall mode: every reply waits while the server is "stalled" (S ms out of every P ms,
//! counted from the server's start), as a GC pause or a blocked event loop would make it.
//! Used to test coordinated-omission correction.

use std::time::Duration;

use tokio::time::Instant;

/// A repeating stall window, shared by every connection.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    origin: Instant,
    stall: Duration,
    every: Duration,
}

impl Stall {
    /// Stalls for `stall` at the start of every `every`, from now on.
    pub fn new(stall: Duration, every: Duration) -> Stall {
        Stall {
            origin: Instant::now(),
            stall,
            every,
        }
    }

    /// How long a reply ready at `now` must wait: zero outside a stall window.
    pub fn delay_at(&self, now: Instant) -> Duration {
        let every = self.every.as_nanos();
        let into_period = now.duration_since(self.origin).as_nanos() % every;
        let stall = self.stall.as_nanos();
        if into_period < stall {
            Duration::from_nanos((stall - into_period) as u64)
        } else {
            Duration::ZERO
        }
    }
}

/// Waits out the current stall window, if any.
pub async fn wait(stall: Option<Stall>) {
    if let Some(stall) = stall {
        let delay = stall.delay_at(Instant::now());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_inside_and_outside_the_window() {
        let s = Stall::new(Duration::from_millis(100), Duration::from_millis(1000));
        let at = |ms| s.origin + Duration::from_millis(ms);
        assert_eq!(s.delay_at(at(0)), Duration::from_millis(100));
        assert_eq!(s.delay_at(at(30)), Duration::from_millis(70));
        assert_eq!(s.delay_at(at(100)), Duration::ZERO);
        assert_eq!(s.delay_at(at(999)), Duration::ZERO);
        assert_eq!(s.delay_at(at(1050)), Duration::from_millis(50));
    }
}
