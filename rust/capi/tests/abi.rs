//! The C ABI as C sees it: NULLs, double frees, errors and their messages.

use std::ffi::{c_char, CString};
use std::ptr::{null, null_mut};

use cannonade_capi::*;

fn last_error() -> String {
    let len = unsafe { cn_last_error(null_mut(), 0) };
    let mut buf = vec![0u8; len + 1];
    let copied = unsafe { cn_last_error(buf.as_mut_ptr().cast::<c_char>(), buf.len()) };
    assert_eq!(copied, len);
    buf.truncate(len);
    String::from_utf8(buf).unwrap()
}

fn start(plan: &str) -> (CnStatus, *mut CnRun) {
    let text = CString::new(plan).unwrap();
    let mut run = null_mut();
    let status = unsafe { cn_run_start(text.as_ptr(), &mut run) };
    (status, run)
}

#[test]
fn version_and_abi() {
    assert_eq!(cn_abi_version(), CN_ABI_VERSION);
    let v = unsafe { std::ffi::CStr::from_ptr(cn_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn null_arguments_are_refused_with_a_message() {
    let mut run = null_mut();
    assert_eq!(
        unsafe { cn_run_start(null(), &mut run) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert!(last_error().contains("plan_json is NULL"));
    assert_eq!(
        unsafe { cn_run_wait(null(), 0) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert_eq!(
        unsafe { cn_run_stop(null()) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    let mut buf = CnBuf {
        ptr: null_mut(),
        len: 0,
    };
    assert_eq!(
        unsafe { cn_run_result_json(null(), &mut buf) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert!(last_error().contains("run is NULL"));
    let mut first = 0u64;
    assert_eq!(
        unsafe { cn_run_mark_phase(null(), c"measure".as_ptr(), &mut first) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert!(last_error().contains("run is NULL"));
    assert_eq!(
        unsafe { cn_run_mark_phase(null(), c"measure".as_ptr(), null_mut()) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert!(last_error().contains("out_first_interval is NULL"));
}

#[test]
fn frees_of_null_are_harmless() {
    unsafe {
        cn_run_free(null_mut());
        cn_buf_free(CnBuf {
            ptr: null_mut(),
            len: 0,
        });
    }
}

#[test]
fn bad_plans_name_the_field() {
    let (status, run) = start(r#"{"abi_version":2,"bogus":1}"#);
    assert_eq!(status, CnStatus::CN_INVALID_PLAN);
    assert!(run.is_null());
    assert!(last_error().contains("bogus"), "{}", last_error());
    let (status, _) = start("not json");
    assert_eq!(status, CnStatus::CN_INVALID_PLAN);
    let bytes = [0xffu8, 0xfe, 0];
    let mut run = null_mut();
    let status = unsafe { cn_run_start(bytes.as_ptr().cast(), &mut run) };
    assert_eq!(status, CnStatus::CN_INVALID_ARGUMENT);
    assert!(last_error().contains("UTF-8"));
}

#[test]
fn abi_mismatch_has_its_own_status() {
    let (status, _) = start(
        r#"{"abi_version":999,"target":"127.0.0.1:9","connections":1,"requests":1,
            "protocol":{"kind":"tcp","payload_hex":"00","reply":{"kind":"echo"}}}"#,
    );
    assert_eq!(status, CnStatus::CN_ABI_MISMATCH);
    assert!(last_error().contains("999"));
}

#[test]
fn run_lifecycle_through_the_abi() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept and hold connections without replying: the run can only be stopped.
    let holder = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(conns);
    });
    let (status, run) = start(&format!(
        r#"{{"abi_version":2,"target":"{addr}","connections":1,"duration_ms":60000,
            "protocol":{{"kind":"tcp","payload_hex":"00","reply":{{"kind":"echo"}}}}}}"#
    ));
    assert_eq!(status, CnStatus::CN_OK, "{}", last_error());
    let mut buf = CnBuf {
        ptr: null_mut(),
        len: 0,
    };
    unsafe {
        assert_eq!(cn_run_wait(run, 10), CnStatus::CN_TIMEOUT);
        assert_eq!(cn_run_result_json(run, &mut buf), CnStatus::CN_NOT_FINISHED);
        assert!(last_error().contains("still going"));
        assert_eq!(cn_run_stop(run), CnStatus::CN_OK);
        assert_eq!(cn_run_wait(run, 10_000), CnStatus::CN_OK);
        assert_eq!(cn_run_result_json(run, &mut buf), CnStatus::CN_OK);
        let json = std::slice::from_raw_parts(buf.ptr, buf.len).to_vec();
        cn_buf_free(buf);
        let json = String::from_utf8(json).unwrap();
        assert!(json.contains(r#""stopped_by":"stop""#), "{json}");
        let mut polled = CnBuf {
            ptr: null_mut(),
            len: 0,
        };
        assert_eq!(cn_run_poll(run, &mut polled), CnStatus::CN_OK);
        let intervals = std::slice::from_raw_parts(polled.ptr, polled.len).to_vec();
        cn_buf_free(polled);
        let intervals = String::from_utf8(intervals).unwrap();
        assert!(intervals.starts_with(r#"[{"index":0,"#), "{intervals}");
        let mut polled = CnBuf {
            ptr: null_mut(),
            len: 0,
        };
        assert_eq!(cn_run_poll(run, &mut polled), CnStatus::CN_OK);
        assert_eq!(std::slice::from_raw_parts(polled.ptr, polled.len), b"[]");
        cn_buf_free(polled);
        let mut hist = CnBuf {
            ptr: null_mut(),
            len: 0,
        };
        assert_eq!(cn_run_histogram(run, &mut hist), CnStatus::CN_OK);
        assert!(hist.len > 8);
        cn_buf_free(hist);
        cn_run_free(run);
    }
    holder.join().unwrap();
}

#[test]
fn validate_checks_without_connecting_and_clears_a_stale_error() {
    // Leave a message behind, then succeed: the message must not survive the success.
    assert_eq!(
        unsafe { cn_run_wait(null(), 0) },
        CnStatus::CN_INVALID_ARGUMENT
    );
    assert!(!last_error().is_empty());
    // Nothing listens on port 9 (discard): a validation that connected would fail.
    let good = r#"{"abi_version": 2, "target": "127.0.0.1:9", "connections": 1, "requests": 1,
        "protocol": {"kind": "tcp", "payload_hex": "61", "reply": {"kind": "echo"}}}"#;
    let text = CString::new(good).unwrap();
    assert_eq!(unsafe { cn_plan_validate(text.as_ptr()) }, CnStatus::CN_OK);
    assert_eq!(last_error(), "");
    let bad = CString::new(good.replace("\"connections\": 1", "\"connections\": 0")).unwrap();
    assert_eq!(
        unsafe { cn_plan_validate(bad.as_ptr()) },
        CnStatus::CN_INVALID_PLAN
    );
    assert!(last_error().contains("connections"), "{}", last_error());
    assert_eq!(
        unsafe { cn_plan_validate(null()) },
        CnStatus::CN_INVALID_ARGUMENT
    );
}
