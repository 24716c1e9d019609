//! Status codes, the panic guard every function runs its body in, and the raising of
//! the Python exception a status maps to.
//!
//! The statuses mirror the C ABI's `CnStatus` (rust/capi/src/status.rs), name for name
//! and number for number, so that Python keeps one table from status to exception
//! class for both backends (`cannonade._backend.STATUS_ERRORS`). Python hands that
//! table to this module once, with `set_error_classes`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Why a call failed, as in the C ABI. `Ok` and `Timeout` are never raised; they are
/// exported so the Python side can check the two tables name for name.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    CN_OK = 0,
    CN_TIMEOUT = 1,
    CN_INVALID_ARGUMENT = 2,
    CN_INVALID_PLAN = 3,
    CN_ABI_MISMATCH = 4,
    CN_CONNECT_FAILED = 5,
    CN_NOT_FINISHED = 6,
    CN_RUNTIME_ERROR = 7,
    CN_PANIC = 8,
}

impl Status {
    /// Every status, for the module's constants.
    pub(crate) const ALL: [Status; 9] = [
        Status::CN_OK,
        Status::CN_TIMEOUT,
        Status::CN_INVALID_ARGUMENT,
        Status::CN_INVALID_PLAN,
        Status::CN_ABI_MISMATCH,
        Status::CN_CONNECT_FAILED,
        Status::CN_NOT_FINISHED,
        Status::CN_RUNTIME_ERROR,
        Status::CN_PANIC,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::CN_OK => "CN_OK",
            Status::CN_TIMEOUT => "CN_TIMEOUT",
            Status::CN_INVALID_ARGUMENT => "CN_INVALID_ARGUMENT",
            Status::CN_INVALID_PLAN => "CN_INVALID_PLAN",
            Status::CN_ABI_MISMATCH => "CN_ABI_MISMATCH",
            Status::CN_CONNECT_FAILED => "CN_CONNECT_FAILED",
            Status::CN_NOT_FINISHED => "CN_NOT_FINISHED",
            Status::CN_RUNTIME_ERROR => "CN_RUNTIME_ERROR",
            Status::CN_PANIC => "CN_PANIC",
        }
    }
}

/// A failed call: its status and its message.
pub(crate) type Failure = (Status, String);

pyo3::create_exception!(
    cannonade._pyo3,
    NativeError,
    PyRuntimeError,
    "A failed call, raised as itself only until set_error_classes() was called; \
     args are (status, message)."
);

/// Status (as a Python int) -> exception class, from `set_error_classes`.
static ERROR_CLASSES: Mutex<Option<Py<PyDict>>> = Mutex::new(None);

/// Sets the exception class raised for each status; replaces any earlier table.
pub(crate) fn set_error_classes(classes: Bound<'_, PyDict>) {
    let mut slot = ERROR_CLASSES.lock().unwrap_or_else(|e| e.into_inner());
    *slot = Some(classes.unbind());
}

/// The Python exception for a failure: the registered class called with the message,
/// or `NativeError(status, message)` when none is registered for it.
fn to_pyerr(py: Python<'_>, (status, message): Failure) -> PyErr {
    let class = {
        let slot = ERROR_CLASSES.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|classes| classes.clone_ref(py))
    };
    let registered = class.and_then(|classes| {
        classes
            .bind(py)
            .get_item(status as u32)
            .ok()
            .flatten()
            .map(|class| class.call1((message.as_str(),)))
    });
    match registered {
        Some(Ok(error)) => PyErr::from_value(error),
        // Constructing the registered class failed: that error says more than ours.
        Some(Err(e)) => e,
        None => NativeError::new_err((status as u32, message)),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Runs a function's body: a failure becomes its status's exception, and a panic
/// becomes `CN_PANIC`'s (InternalError) instead of PyO3's PanicException, which
/// derives from BaseException and would escape `except Exception`.
///
/// Unwind safety is asserted for the same reason as in the C ABI: after a panic the
/// caller only gets the exception, and the run's shared state sits behind locks that
/// tolerate poison.
pub(crate) fn guard<T>(py: Python<'_>, body: impl FnOnce() -> Result<T, Failure>) -> PyResult<T> {
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(failure)) => failure,
        Err(payload) => (
            Status::CN_PANIC,
            format!(
                "internal error in cannonade (please report it): {}",
                panic_message(payload.as_ref())
            ),
        ),
    };
    Err(to_pyerr(py, failure))
}
