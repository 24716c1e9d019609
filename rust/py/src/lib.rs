//! `cannonade._pyo3`: the C ABI's coarse calls (rust/capi) as a PyO3 extension module,
//! over the same engine.
//!
//! The surface is the C ABI's, call for call: `start` (cn_run_start) gives a `Run`
//! whose methods are `wait`, `poll`, `mark_phase`, `stop`, `result_json`,
//! `histogram` and `close` (cn_run_free); `validate` (cn_plan_validate), `abi_version`
//! and `version` are module functions. JSON and histograms come back as `bytes`.
//! Failures raise the exception class Python registered for their status (see
//! `status.rs`); panics raise the one for `CN_PANIC`. Calls that can block or do real work (start, wait, poll, the
//! results, close) release the GIL.
#![deny(missing_docs)]

mod status;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cannonade_core::Run;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use status::{guard, Failure, Status};

/// The ABI version, shared with the C ABI and the plan format.
const ABI_VERSION: u32 = cannonade_core::ABI_VERSION;

/// A run in progress (the C ABI's `CnRun`). `close()` stops it, waits for its threads
/// and frees it; so does garbage collection, as a backstop.
///
/// The engine's run sits behind an `Arc`: a call that releases the GIL takes its own
/// reference along (and drops it before taking the GIL back), so `close()` from another
/// thread cannot free the run under it; the last one to let go joins its threads.
#[pyclass(frozen, module = "cannonade._pyo3", name = "Run")]
struct PyRun {
    run: Mutex<Option<Arc<Run>>>,
}

impl PyRun {
    fn live(&self) -> Result<Arc<Run>, Failure> {
        self.run
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| (Status::CN_RUNTIME_ERROR, "the run is closed".into()))
    }
}

#[pymethods]
impl PyRun {
    /// Waits at most `timeout_ms` for the run to finish, with the GIL released;
    /// True once it has finished, False while it goes on.
    fn wait(&self, py: Python<'_>, timeout_ms: u64) -> PyResult<bool> {
        guard(py, || {
            let run = self.live()?;
            Ok(py.detach(move || run.wait(Some(Duration::from_millis(timeout_ms)))))
        })
    }

    /// The intervals finished since the last poll, oldest first, as JSON bytes
    /// (an array; `[]` when there is nothing new).
    fn poll<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let json = guard(py, || {
            let run = self.live()?;
            py.detach(move || cannonade_binding::poll_json(&run))
        })?;
        Ok(PyBytes::new(py, &json))
    }

    /// Starts phase `name` with the next interval to finish; returns that interval's
    /// index. CN_INVALID_ARGUMENT for a bad name, CN_RUNTIME_ERROR once finished.
    fn mark_phase(&self, py: Python<'_>, name: &str) -> PyResult<u64> {
        guard(py, || {
            self.live()?
                .mark_phase(name)
                .map_err(cannonade_binding::phase_failure)
        })
    }

    /// Asks the run to stop and returns at once. Harmless twice.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        guard(py, || {
            self.live()?.stop();
            Ok(())
        })
    }

    /// The summary of a finished run as JSON bytes; CN_NOT_FINISHED while it goes on.
    fn result_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let json = guard(py, || {
            let run = self.live()?;
            py.detach(move || cannonade_binding::result_json(&run))
        })?;
        Ok(PyBytes::new(py, &json))
    }

    /// The merged latency histogram (ns) of a finished run, HdrHistogram V2 deflate.
    fn histogram<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = guard(py, || {
            let run = self.live()?;
            py.detach(move || cannonade_binding::histogram(&run))
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Stops the run, waits for its threads (GIL released) and frees it. Harmless twice.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard(py, || {
            let taken = self.run.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(run) = taken {
                run.stop();
                // The last reference joins the run's threads as it drops; a call
                // still waiting in another thread holds one and drops it later.
                py.detach(move || drop(run));
            }
            Ok(())
        })
    }
}

/// Validates a plan (JSON text), checks the target accepts a connection, and starts
/// the run, with the GIL released.
#[pyfunction]
fn start(py: Python<'_>, plan_json: &str) -> PyResult<PyRun> {
    guard(py, || {
        let run = py.detach(|| cannonade_binding::start(plan_json))?;
        Ok(PyRun {
            run: Mutex::new(Some(Arc::new(run))),
        })
    })
}

/// Checks a plan (JSON text) exactly as `start` would, without connecting or starting
/// anything (the C ABI's `cn_plan_validate`); raises the plan's error.
#[pyfunction]
fn validate(py: Python<'_>, plan_json: &str) -> PyResult<()> {
    guard(py, || cannonade_binding::validate(plan_json))
}

/// The ABI version of this module (the C ABI's `CN_ABI_VERSION`).
#[pyfunction]
fn abi_version() -> u32 {
    ABI_VERSION
}

/// The module's version (the C ABI's `cn_version`).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Sets the exception class raised for each status: a dict of status (int) to class.
/// The Python side calls it once at import, from its one status table.
#[pyfunction]
fn set_error_classes(classes: Bound<'_, PyDict>) {
    status::set_error_classes(classes);
}

/// Panics with `message`, inside the guard: lets the tests check that a panic
/// raises CN_PANIC's class (InternalError) rather than crashing.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, message: &str) -> PyResult<()> {
    guard(py, || -> Result<(), Failure> { panic!("{message}") })
}

#[pymodule]
fn _pyo3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CN_ABI_VERSION", ABI_VERSION)?;
    for status in Status::all() {
        m.add(status.name(), status as u32)?;
    }
    m.add("NativeError", m.py().get_type::<status::NativeError>())?;
    m.add_class::<PyRun>()?;
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(abi_version, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(set_error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
