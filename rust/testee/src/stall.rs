//! Stall mode: every reply waits while the server is "stalled" (S ms out of every P ms,
//! counted from the server's start), as a GC pause or a blocked event loop would make it.
//! Used to test coordinated-omission correction. Cold mode: for the first T ms every
//! reply waits D µs more, as a JIT that has not compiled yet; used to test warm-up
//! detection against a known changepoint. Shape mode ([`crate::shape`]) adds its
//! service time on top of both.

use std::time::Duration;

use tokio::time::Instant;

use crate::shape::Shape;

/// Every delay a reply waits (stall window, cold start, shape), shared by every
/// connection and counted from the same origin: the server's start.
#[derive(Debug, Clone, Copy)]
pub struct Stall {
    origin: Instant,
    /// `(stall, every)`
    periodic: Option<(Duration, Duration)>,
    /// `(for, delay)`
    cold: Option<(Duration, Duration)>,
    shape: Option<Shape>,
}

impl Stall {
    /// Periodic stalls `(stall, every)` and a cold start `(for, delay)`, from now on.
    pub fn with(
        periodic: Option<(Duration, Duration)>,
        cold: Option<(Duration, Duration)>,
    ) -> Stall {
        Stall {
            origin: Instant::now(),
            periodic,
            cold,
            shape: None,
        }
    }

    /// The same, with the service time of `shape` on top.
    pub fn shaped(self, shape: Option<Shape>) -> Stall {
        Stall { shape, ..self }
    }

    /// How long a reply ready at `now` must wait: zero outside a stall window, after
    /// the cold start and without a shape.
    pub fn delay_at(&self, now: Instant) -> Duration {
        let since = now.duration_since(self.origin);
        let mut delay = Duration::ZERO;
        if let Some((stall, every)) = self.periodic {
            let into_period = since.as_nanos() % every.as_nanos();
            if into_period < stall.as_nanos() {
                delay += Duration::from_nanos((stall.as_nanos() - into_period) as u64);
            }
        }
        if let Some((cold_for, cold_delay)) = self.cold {
            if since < cold_for {
                delay += cold_delay;
            }
        }
        if let Some(shape) = self.shape {
            delay += shape.service_time(since);
        }
        delay
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
        let s = Stall::with(
            Some((Duration::from_millis(100), Duration::from_millis(1000))),
            None,
        );
        let at = |ms| s.origin + Duration::from_millis(ms);
        assert_eq!(s.delay_at(at(0)), Duration::from_millis(100));
        assert_eq!(s.delay_at(at(30)), Duration::from_millis(70));
        assert_eq!(s.delay_at(at(100)), Duration::ZERO);
        assert_eq!(s.delay_at(at(999)), Duration::ZERO);
        assert_eq!(s.delay_at(at(1050)), Duration::from_millis(50));
    }

    #[test]
    fn cold_start_delays_every_reply_until_it_ends() {
        let ms = Duration::from_millis;
        let s = Stall::with(None, Some((ms(500), Duration::from_micros(300))));
        let at = |t| s.origin + ms(t);
        assert_eq!(s.delay_at(at(0)), Duration::from_micros(300));
        assert_eq!(s.delay_at(at(499)), Duration::from_micros(300));
        assert_eq!(s.delay_at(at(500)), Duration::ZERO);
        let both = Stall::with(Some((ms(100), ms(1000))), Some((ms(500), ms(1))));
        assert_eq!(both.delay_at(both.origin + ms(50)), ms(51));
    }

    #[test]
    fn a_shape_adds_its_service_time() {
        let ms = Duration::from_millis;
        let step = Shape::Step {
            at: ms(1000),
            before: ms(12),
            after: ms(4),
        };
        let s = Stall::with(Some((ms(100), ms(1000))), None).shaped(Some(step));
        assert_eq!(s.delay_at(s.origin + ms(500)), ms(12));
        assert_eq!(s.delay_at(s.origin + ms(1030)), ms(70 + 4));
        assert_eq!(s.delay_at(s.origin + ms(1500)), ms(4));
    }
}
