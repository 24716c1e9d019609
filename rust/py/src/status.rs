//! Status codes, the panic guard every function runs its body in, and the raising of
//! the Python exception a status maps to.
//!
//! The statuses are the C ABI's `CnStatus` itself (from `cannonade-binding`, shared
//! with rust/capi), so that Python keeps one table from status to exception class for
//! both backends (`cannonade._errors.STATUS_ERRORS`). Python hands that table to this
//! module once, with `set_error_classes`.

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) use cannonade_binding::{CnStatus as Status, Failure};

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

/// Runs a function's body: a failure becomes its status's exception, and a panic
/// becomes `CN_PANIC`'s (InternalError) instead of PyO3's PanicException, which
/// derives from BaseException and would escape `except Exception`.
///
pub(crate) fn guard<T>(py: Python<'_>, body: impl FnOnce() -> Result<T, Failure>) -> PyResult<T> {
    cannonade_binding::catch(body).map_err(|failure| to_pyerr(py, failure))
}
