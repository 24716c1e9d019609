//! The pacer: wakes a connection at its due time to within tens of microseconds.
//!
//! tokio's timer wheel has a resolution of one millisecond and rounds every sleep up, so a
//! request paced by `tokio::time::sleep_until` leaves about 1.4 ms late. Each worker has
//! one pacer instead: a high-resolution `timerfd` (CLOCK_MONOTONIC, no timer slack) read
//! through tokio's `AsyncFd`, armed for the earliest due time among the connections
//! waiting on it. When it fires, a driver task wakes exactly the waiters that are due and
//! re-arms it for the next one. A wait costs a heap push and pop and, per firing, one
//! `read` and one `timerfd_settime`; nothing spins.
//!
//! Both schedules (requests at `rate_per_s`, connections at `connection_rate_per_s`)
//! wait here. Where no timerfd can be made, the pacer falls back to tokio's timer.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::unix::AsyncFd;

/// One waiting connection: its due time and the waker of its task.
struct Waiter {
    due: Instant,
    waker: Waker,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.due.cmp(&other.due)
    }
}

/// The pacer's bookkeeping, apart from the clock and the timer: which waiters are due
/// and when the timer must fire next. Pure, so it is tested with made-up instants.
#[derive(Default)]
struct Deadlines {
    waiting: BinaryHeap<Reverse<Waiter>>,
    /// When the timer is set to fire (`None`: disarmed).
    armed: Option<Instant>,
}

impl Deadlines {
    /// Adds a waiter; returns the time the timer must be re-armed for, if it changes.
    fn push(&mut self, due: Instant, waker: Waker) -> Option<Instant> {
        self.waiting.push(Reverse(Waiter { due, waker }));
        // An armed time in the past has fired (or is about to): keep it, the firing
        // re-arms for whatever is next. Re-arming now would lose that firing.
        if self.armed.is_none_or(|armed| due < armed) {
            self.armed = Some(due);
            return Some(due);
        }
        None
    }

    /// The timer fired at `now`: takes the waiters that are due, and says when the timer
    /// must fire next (if anyone still waits).
    fn fired(&mut self, now: Instant, due: &mut Vec<Waker>) -> Option<Instant> {
        while let Some(Reverse(first)) = self.waiting.peek() {
            if first.due > now {
                break;
            }
            let Reverse(first) = self.waiting.pop().expect("peeked");
            due.push(first.waker);
        }
        self.armed = self.waiting.peek().map(|Reverse(w)| w.due);
        self.armed
    }
}

/// The timerfd and what waits on it.
struct Timer {
    fd: AsyncFd<OwnedFd>,
    deadlines: RefCell<Deadlines>,
    /// Wakers taken at a firing, kept to reuse the allocation.
    due: RefCell<Vec<Waker>>,
    /// Set when the timer failed: every wait falls back to tokio's timer.
    broken: Cell<bool>,
}

impl Timer {
    fn new() -> std::io::Result<Timer> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // `AsyncFd::new` is deprecated because a `T` could hand out another descriptor
        // than the one registered, or close it while registered; an `OwnedFd` owned by
        // the `AsyncFd` does neither. (`AsyncFd::register`, its replacement, is unsafe,
        // and this crate forbids unsafe code.)
        #[allow(deprecated)]
        let fd = AsyncFd::new(fd)?;
        Ok(Timer {
            fd,
            deadlines: RefCell::new(Deadlines::default()),
            due: RefCell::new(Vec::new()),
            broken: Cell::new(false),
        })
    }

    /// Sets the timer to fire at `at` (at once if that has passed).
    fn arm(&self, at: Instant) {
        // A zero value would disarm the timer: fire in 1 ns instead.
        let after = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(after.subsec_nanos()),
            },
        };
        if rustix::time::timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)
            .is_err()
        {
            self.fail();
        }
    }

    /// Gives up on the timer: wakes everyone, who then wait on tokio's timer.
    fn fail(&self) {
        self.broken.set(true);
        let mut deadlines = self.deadlines.borrow_mut();
        for Reverse(waiter) in deadlines.waiting.drain() {
            waiter.waker.wake();
        }
        deadlines.armed = None;
    }

    /// Waits for each firing and wakes the waiters that are due. Runs for the worker's
    /// life.
    async fn drive(&self) {
        while !self.broken.get() {
            let Ok(mut ready) = self.fd.readable().await else {
                self.fail();
                return;
            };
            // The expiration count is never read: tokio registers the descriptor edge-
            // triggered, so every expiration wakes epoll afresh, and `timerfd_settime`
            // zeroes the count. That saves a `read` per firing. A spurious wake-up costs
            // nothing: only waiters already due are taken.
            ready.clear_ready();
            let mut due = self.due.borrow_mut();
            let next = self.deadlines.borrow_mut().fired(Instant::now(), &mut due);
            if let Some(next) = next {
                self.arm(next);
            }
            for waker in due.drain(..) {
                waker.wake();
            }
        }
    }
}

/// One worker's pacer, shared by its connections.
#[derive(Clone)]
pub(crate) struct Pacer {
    timer: Option<Rc<Timer>>,
}

impl Pacer {
    /// A pacer on a timerfd, or on tokio's timer if none can be made. Call inside the
    /// worker's runtime and local set: it spawns the timer's driver task.
    pub(crate) fn new() -> Pacer {
        let timer = Timer::new().ok().map(Rc::new);
        if let Some(timer) = &timer {
            let timer = Rc::clone(timer);
            tokio::task::spawn_local(async move { timer.drive().await });
        }
        Pacer { timer }
    }

    /// A pacer on tokio's timer alone (millisecond resolution).
    #[cfg(test)]
    pub(crate) fn coarse() -> Pacer {
        Pacer { timer: None }
    }

    /// Returns at `due` or just after it (at once if it has passed).
    pub(crate) async fn wait_until(&self, due: Instant) {
        if Instant::now() >= due {
            return;
        }
        if let Some(timer) = &self.timer {
            if !timer.broken.get() {
                Wait {
                    timer,
                    due,
                    waiting: false,
                }
                .await;
                if Instant::now() >= due {
                    return;
                }
            }
        }
        tokio::time::sleep_until(due.into()).await;
    }
}

/// A wait on the timerfd; ready once its due time has passed.
struct Wait<'a> {
    timer: &'a Timer,
    due: Instant,
    /// Whether it is in the timer's heap.
    waiting: bool,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.timer.broken.get() || Instant::now() >= self.due {
            return Poll::Ready(());
        }
        if !self.waiting {
            // A connection's task has one waker for its life, so it is stored once; a
            // waiter dropped before its time leaves a harmless early wake-up behind.
            self.waiting = true;
            let rearm = self
                .timer
                .deadlines
                .borrow_mut()
                .push(self.due, cx.waker().clone());
            if let Some(at) = rearm {
                self.timer.arm(at);
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, AtomicOrdering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    fn woken(c: &Count) -> usize {
        c.0.load(AtomicOrdering::SeqCst)
    }

    #[test]
    fn the_timer_is_armed_for_the_earliest_waiter() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Deadlines::default();
        let (_, w) = counter();
        assert_eq!(d.push(t0 + ms(5), w.clone()), Some(t0 + ms(5)));
        // Later: the armed time stands.
        assert_eq!(d.push(t0 + ms(9), w.clone()), None);
        // Earlier: re-armed.
        assert_eq!(d.push(t0 + ms(2), w), Some(t0 + ms(2)));
        assert_eq!(d.armed, Some(t0 + ms(2)));
    }

    #[test]
    fn a_firing_wakes_exactly_the_due_waiters_and_rearms_for_the_next() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut d = Deadlines::default();
        let (early, e) = counter();
        let (same, s) = counter();
        let (late, l) = counter();
        d.push(t0 + us(100), e);
        d.push(t0 + us(300), l);
        d.push(t0 + us(100), s);
        let mut due = Vec::new();
        // Fired at 150 us: the two waiters due at 100 us go, the one at 300 us stays.
        assert_eq!(d.fired(t0 + us(150), &mut due), Some(t0 + us(300)));
        due.drain(..).for_each(Waker::wake);
        assert_eq!((woken(&early), woken(&same), woken(&late)), (1, 1, 0));
        assert_eq!(d.fired(t0 + us(300), &mut due), None);
        due.drain(..).for_each(Waker::wake);
        assert_eq!(woken(&late), 1);
        assert_eq!(d.armed, None);
    }

    #[test]
    fn a_firing_not_yet_handled_is_not_overwritten() {
        // The timer was armed for 100 us and has fired, but the driver has not run yet.
        // A waiter due later must not re-arm it: that would lose the firing, and with it
        // the waiter due at 100 us.
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut d = Deadlines::default();
        let (first, f) = counter();
        let (_, later) = counter();
        d.push(t0 + us(100), f);
        assert_eq!(d.push(t0 + us(400), later), None);
        let mut due = Vec::new();
        assert_eq!(d.fired(t0 + us(120), &mut due), Some(t0 + us(400)));
        due.drain(..).for_each(Waker::wake);
        assert_eq!(woken(&first), 1);
    }

    fn on_a_worker<F: Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn waits_end_in_order_and_never_early() {
        on_a_worker(async {
            let pacer = Pacer::new();
            assert!(pacer.timer.is_some(), "a timerfd on Linux");
            let start = Instant::now();
            let offsets_us = [3000u64, 500, 1500, 1500, 200, 2500];
            let ends = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = offsets_us
                .iter()
                .map(|&us| {
                    let (pacer, ends) = (pacer.clone(), Rc::clone(&ends));
                    let due = start + Duration::from_micros(us);
                    tokio::task::spawn_local(async move {
                        pacer.wait_until(due).await;
                        let now = Instant::now();
                        assert!(now >= due, "woken {:?} early", due - now);
                        ends.borrow_mut().push(us);
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let mut sorted = offsets_us.to_vec();
            sorted.sort_unstable();
            assert_eq!(*ends.borrow(), sorted);
        });
    }

    #[test]
    fn a_dropped_wait_does_not_stall_the_others() {
        on_a_worker(async {
            let pacer = Pacer::new();
            let start = Instant::now();
            // Polled once (so it is in the heap), then dropped. Due 200 ms on, not 2: a
            // loaded machine may pause this thread for milliseconds between two lines.
            tokio::select! {
                biased;
                _ = pacer.wait_until(start + Duration::from_millis(200)) => panic!("not yet due"),
                _ = std::future::ready(()) => {}
            }
            let due = start + Duration::from_millis(400);
            pacer.wait_until(due).await;
            assert!(Instant::now() >= due);
            // The coarse pacer is as correct, only later.
            let due = Instant::now() + Duration::from_millis(2);
            Pacer::coarse().wait_until(due).await;
            assert!(Instant::now() >= due);
        });
    }
}
