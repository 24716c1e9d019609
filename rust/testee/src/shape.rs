//! Shape mode: a service time that follows a known shape over time, so that the warm-up
//! analysis can be tested against ground truth.
//!
//! Every reply waits the service time in force when its request is read, counted from the
//! server's start. The wait is a timer sleep on the connection's own task: the other
//! connections are served meanwhile, and the server stays idle (no busy work), so with C
//! connections in a closed loop and a service time D much longer than the round trip,
//! throughput is about C / D.
//!
//! - `flat`: D for every reply.
//! - `warmup`: `slow` before `at`, `fast` from `at` on (faster at `at`).
//! - `slowdown`: `fast` before `at`, `slow` from `at` on (slower at `at`).
//! - `alternate`: `slow` for the first half of every `period`, `fast` for the second.
//!
//! The fifth shape, a periodic stall, is the stall mode of [`crate::stall`].

use std::time::Duration;

/// A service time as a function of the time since the server started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The same service time throughout.
    Flat(Duration),
    /// `before` until `at`, then `after`: a warm-up when `before > after`, a slowdown
    /// when `before < after`.
    Step {
        at: Duration,
        before: Duration,
        after: Duration,
    },
    /// `first` during the first half of every `period`, `second` during the second half.
    Alternate {
        period: Duration,
        first: Duration,
        second: Duration,
    },
}

/// The flags that set a shape, so that `main` can pick them out of the others.
pub const FLAGS: &[&str] = &[
    "--shape",
    "--delay-us",
    "--at-ms",
    "--period-ms",
    "--slow-us",
    "--fast-us",
];

impl Shape {
    /// The service time of a request read `since` after the server started.
    pub fn service_time(&self, since: Duration) -> Duration {
        match *self {
            Shape::Flat(delay) => delay,
            Shape::Step { at, before, after } => {
                if since < at {
                    before
                } else {
                    after
                }
            }
            Shape::Alternate {
                period,
                first,
                second,
            } => {
                let into = since.as_nanos() % period.as_nanos();
                if into < period.as_nanos() / 2 {
                    first
                } else {
                    second
                }
            }
        }
    }

    /// The shape named by `--shape` and set by the flags of [`FLAGS`], or None if none
    /// of them was given. Every flag must belong to the shape named.
    pub fn from_flags(flags: &[(String, String)]) -> Result<Option<Shape>, String> {
        let get = |name: &str| {
            flags
                .iter()
                .rev()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(kind) = get("--shape") else {
            return match flags.first() {
                None => Ok(None),
                Some((flag, _)) => Err(format!(
                    "{flag} sets a shape: give --shape flat, warmup, slowdown or alternate too"
                )),
            };
        };
        let needs: &[&str] = match kind {
            "flat" => &["--delay-us"],
            "warmup" | "slowdown" => &["--at-ms", "--slow-us", "--fast-us"],
            "alternate" => &["--period-ms", "--slow-us", "--fast-us"],
            other => {
                return Err(format!(
                    "--shape: unknown shape {other:?}; the shapes are flat, warmup, slowdown \
                     and alternate (a periodic stall is --stall-ms with --stall-every-ms)"
                ))
            }
        };
        for (flag, _) in flags {
            if flag != "--shape" && !needs.contains(&flag.as_str()) {
                return Err(format!(
                    "{flag} is not an option of --shape {kind}; it takes {}",
                    needs.join(", ")
                ));
            }
        }
        for need in needs {
            if get(need).is_none() {
                return Err(format!("--shape {kind} needs {}", needs.join(", ")));
            }
        }
        let us = |flag: &str| -> Result<Duration, String> {
            let value = get(flag).unwrap_or_default();
            value
                .parse::<u64>()
                .map(Duration::from_micros)
                .map_err(|_| format!("{flag}: {value:?} is not a number of microseconds"))
        };
        let ms = |flag: &str| -> Result<Duration, String> {
            let value = get(flag).unwrap_or_default();
            match value.parse::<u64>() {
                Ok(n) if n > 0 => Ok(Duration::from_millis(n)),
                _ => Err(format!(
                    "{flag}: {value:?} is not a positive number of milliseconds"
                )),
            }
        };
        if kind == "flat" {
            return Ok(Some(Shape::Flat(us("--delay-us")?)));
        }
        let (slow, fast) = (us("--slow-us")?, us("--fast-us")?);
        if slow <= fast {
            return Err(format!(
                "--slow-us ({}) must be longer than --fast-us ({})",
                slow.as_micros(),
                fast.as_micros()
            ));
        }
        Ok(Some(match kind {
            "warmup" => Shape::Step {
                at: ms("--at-ms")?,
                before: slow,
                after: fast,
            },
            "slowdown" => Shape::Step {
                at: ms("--at-ms")?,
                before: fast,
                after: slow,
            },
            _ => {
                let period = ms("--period-ms")?;
                if period < Duration::from_millis(2) {
                    return Err("--period-ms must be at least 2 (two halves)".into());
                }
                Shape::Alternate {
                    period,
                    first: slow,
                    second: fast,
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(s: &str) -> Vec<(String, String)> {
        let words: Vec<&str> = s.split_whitespace().collect();
        words
            .chunks(2)
            .map(|p| (p[0].to_string(), p[1].to_string()))
            .collect()
    }

    fn parse(s: &str) -> Result<Option<Shape>, String> {
        Shape::from_flags(&flags(s))
    }

    #[allow(non_snake_case)]
    fn MS(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn each_shape_over_time() {
        let flat = parse("--shape flat --delay-us 4000").unwrap().unwrap();
        assert_eq!(flat, Shape::Flat(MS(4)));
        assert_eq!(flat.service_time(MS(0)), MS(4));
        assert_eq!(flat.service_time(MS(99_000)), MS(4));

        let warmup = parse("--shape warmup --at-ms 3000 --slow-us 12000 --fast-us 4000")
            .unwrap()
            .unwrap();
        assert_eq!(warmup.service_time(MS(0)), MS(12));
        assert_eq!(warmup.service_time(MS(2999)), MS(12));
        assert_eq!(warmup.service_time(MS(3000)), MS(4));
        assert_eq!(warmup.service_time(MS(60_000)), MS(4));

        let slowdown = parse("--shape slowdown --at-ms 3000 --slow-us 12000 --fast-us 4000")
            .unwrap()
            .unwrap();
        assert_eq!(slowdown.service_time(MS(2999)), MS(4));
        assert_eq!(slowdown.service_time(MS(3000)), MS(12));

        let alternate = parse("--shape alternate --period-ms 2000 --slow-us 12000 --fast-us 0")
            .unwrap()
            .unwrap();
        for (at, want) in [
            (0, 12),
            (999, 12),
            (1000, 0),
            (1999, 0),
            (2000, 12),
            (5500, 0),
        ] {
            assert_eq!(alternate.service_time(MS(at)), MS(want), "at {at} ms");
        }
    }

    #[test]
    fn no_shape_flags_is_no_shape() {
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn bad_shapes_are_refused_by_name() {
        let err = |s| parse(s).unwrap_err();
        assert!(err("--shape sine --delay-us 1").contains("sine"));
        assert!(err("--delay-us 1").contains("--shape"));
        assert!(err("--shape flat").contains("--delay-us"));
        assert!(err("--shape flat --delay-us x").contains("microseconds"));
        assert!(err("--shape warmup --at-ms 10 --slow-us 5").contains("--fast-us"));
        let wrong = err("--shape warmup --at-ms 10 --period-ms 5 --slow-us 5 --fast-us 1");
        assert!(wrong.contains("--period-ms is not an option"), "{wrong}");
        assert!(err("--shape warmup --at-ms 10 --slow-us 5 --fast-us 5").contains("longer than"));
        assert!(err("--shape slowdown --at-ms 0 --slow-us 5 --fast-us 1").contains("positive"));
        assert!(
            err("--shape alternate --period-ms 1 --slow-us 5 --fast-us 1").contains("at least 2")
        );
    }
}
