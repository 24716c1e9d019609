//! What cannonade's two bindings share, so that each rule has one home: the status
//! codes (the C ABI's `CnStatus`; the PyO3 module exports the same names and numbers),
//! the mapping from engine errors to them, the panic guard, and the calls whose bodies
//! are the same for C and for Python (validate, start, poll, the finished run's bytes).
//!
//! Nothing here is `extern "C"` or touches Python: `cannonade-capi` adds the exports
//! and the thread's last error, `cannonade-py` adds the Python exceptions.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use cannonade_core::{Finished, PhaseError, Plan, PlanError, Run, StartError};

/// What every fallible call returns. `CN_OK` is success; anything else but
/// `CN_TIMEOUT` comes with a message from `cn_last_error`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnStatus {
    /// Success.
    CN_OK = 0,
    /// `cn_run_wait` timed out: the run is still going.
    CN_TIMEOUT = 1,
    /// A NULL pointer or a string that is not UTF-8 was passed.
    CN_INVALID_ARGUMENT = 2,
    /// The plan cannot run; the message names the field.
    CN_INVALID_PLAN = 3,
    /// The plan was written for another ABI version.
    CN_ABI_MISMATCH = 4,
    /// The target did not accept a first connection.
    CN_CONNECT_FAILED = 5,
    /// The run has not finished yet; wait for it first.
    CN_NOT_FINISHED = 6,
    /// The run could not be carried out (threads, event loops).
    CN_RUNTIME_ERROR = 7,
    /// A bug: the library panicked. The message says where.
    CN_PANIC = 8,
}

impl CnStatus {
    /// Every status, in numeric order.
    pub fn all() -> [CnStatus; 9] {
        Self::ALL
    }

    const ALL: [CnStatus; 9] = [
        CnStatus::CN_OK,
        CnStatus::CN_TIMEOUT,
        CnStatus::CN_INVALID_ARGUMENT,
        CnStatus::CN_INVALID_PLAN,
        CnStatus::CN_ABI_MISMATCH,
        CnStatus::CN_CONNECT_FAILED,
        CnStatus::CN_NOT_FINISHED,
        CnStatus::CN_RUNTIME_ERROR,
        CnStatus::CN_PANIC,
    ];

    /// The status's name in the C header (`"CN_OK"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CnStatus::CN_OK => "CN_OK",
            CnStatus::CN_TIMEOUT => "CN_TIMEOUT",
            CnStatus::CN_INVALID_ARGUMENT => "CN_INVALID_ARGUMENT",
            CnStatus::CN_INVALID_PLAN => "CN_INVALID_PLAN",
            CnStatus::CN_ABI_MISMATCH => "CN_ABI_MISMATCH",
            CnStatus::CN_CONNECT_FAILED => "CN_CONNECT_FAILED",
            CnStatus::CN_NOT_FINISHED => "CN_NOT_FINISHED",
            CnStatus::CN_RUNTIME_ERROR => "CN_RUNTIME_ERROR",
            CnStatus::CN_PANIC => "CN_PANIC",
        }
    }
}

/// A failed call: its status and the message for the user.
pub type Failure = (CnStatus, String);

/// The status and message of a plan the engine refuses.
pub fn plan_failure(e: PlanError) -> Failure {
    let status = match e {
        PlanError::AbiMismatch { .. } => CnStatus::CN_ABI_MISMATCH,
        _ => CnStatus::CN_INVALID_PLAN,
    };
    (status, e.to_string())
}

/// The status and message of a run that could not start.
pub fn start_failure(e: StartError) -> Failure {
    let status = match e {
        StartError::Connect { .. } => CnStatus::CN_CONNECT_FAILED,
        StartError::Spawn(_) => CnStatus::CN_RUNTIME_ERROR,
    };
    (status, e.to_string())
}

/// The status and message of a phase mark the run refuses.
pub fn phase_failure(e: PhaseError) -> Failure {
    let status = match e {
        PhaseError::BadName(_) => CnStatus::CN_INVALID_ARGUMENT,
        PhaseError::Finished => CnStatus::CN_RUNTIME_ERROR,
    };
    (status, e.to_string())
}

/// Checks a plan (JSON text) as a run would, without connecting or starting anything.
pub fn validate(plan_json: &str) -> Result<(), Failure> {
    Plan::from_json(plan_json).map(drop).map_err(plan_failure)
}

/// Validates a plan, checks its target accepts a connection, and starts the run.
pub fn start(plan_json: &str) -> Result<Run, Failure> {
    let plan = Plan::from_json(plan_json).map_err(plan_failure)?;
    Run::start(plan).map_err(start_failure)
}

/// The intervals finished since the last poll, as a JSON array.
pub fn poll_json(run: &Run) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(&run.poll()).map_err(|e| {
        (
            CnStatus::CN_RUNTIME_ERROR,
            format!("cannot encode intervals: {e}"),
        )
    })
}

/// Bytes taken from a finished run; `CN_NOT_FINISHED` while it goes on.
pub fn finished_bytes(
    run: &Run,
    extract: impl FnOnce(&Finished) -> Vec<u8>,
) -> Result<Vec<u8>, Failure> {
    match run.outcome() {
        None => Err((
            CnStatus::CN_NOT_FINISHED,
            "the run is still going; wait for it to finish, or stop it first".into(),
        )),
        Some(Err(e)) => Err((CnStatus::CN_RUNTIME_ERROR, e.message)),
        Some(Ok(finished)) => Ok(extract(&finished)),
    }
}

/// The summary of a finished run, as JSON.
pub fn result_json(run: &Run) -> Result<Vec<u8>, Failure> {
    finished_bytes(run, |f| f.summary.to_json().into_bytes())
}

/// The merged latency histogram of a finished run, HdrHistogram V2 deflate.
pub fn histogram(run: &Run) -> Result<Vec<u8>, Failure> {
    finished_bytes(run, Finished::histogram_v2_deflate)
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Runs a binding's body; a panic becomes a `CN_PANIC` failure that says where.
///
/// Unwind safety is asserted: after a panic the caller only gets the failure, and the
/// shared state a body can reach (a run's outcome) is behind locks that tolerate poison.
pub fn catch<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err((
            CnStatus::CN_PANIC,
            format!(
                "internal error in cannonade (please report it): {}",
                panic_message(payload.as_ref())
            ),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_a_failure_with_the_message() {
        let failure = catch(|| -> Result<(), Failure> { panic!("boom {}", 42) }).unwrap_err();
        assert_eq!(failure.0, CnStatus::CN_PANIC);
        assert!(failure.1.contains("boom 42"), "{}", failure.1);
    }

    #[test]
    fn statuses_are_numbered_in_order_and_named() {
        for (i, status) in CnStatus::all().iter().enumerate() {
            assert_eq!(*status as usize, i);
            assert!(status.name().starts_with("CN_"));
        }
    }

    #[test]
    fn validate_names_the_field_and_starts_nothing() {
        let plan = r#"{"abi_version": 2, "target": "127.0.0.1:9", "connections": 1, "requests": 1,
            "protocol": {"kind": "tcp", "payload_hex": "61", "reply": {"kind": "echo"}}}"#;
        // Nothing listens on port 9 (discard): validating must not try to connect.
        assert_eq!(validate(plan), Ok(()));
        let (status, message) =
            validate(&plan.replace("\"connections\": 1", "\"connections\": 0")).unwrap_err();
        assert_eq!(status, CnStatus::CN_INVALID_PLAN);
        assert!(message.contains("connections"), "{message}");
        let (status, _) =
            validate(&plan.replace("\"abi_version\": 2", "\"abi_version\": 999")).unwrap_err();
        assert_eq!(status, CnStatus::CN_ABI_MISMATCH);
    }
}
