//! The engine over TLS against this testee's `--tls`: its CA file trusted with
//! `cacert`, for HTTP, WebSocket and TCP echo; the WebSocket upgrade, the TLS handshake
//! and the TCP connect each timed in their own histogram.

mod common;

use std::time::Duration;

use cannonade_core::{Plan, Run, Summary};

use common::Testee;

/// A testee with `--tls`, and the CA file it wrote.
fn tls_testee(mode: &str, name: &str) -> (Testee, String) {
    let ca = std::env::temp_dir()
        .join(format!(
            "cannonade-testee-tls-{}-{name}.pem",
            std::process::id()
        ))
        .display()
        .to_string();
    let testee = Testee::start(&[mode, "--tls", "--cert-out", &ca]);
    (testee, ca)
}

fn run(plan: &str) -> Summary {
    let run = Run::start(Plan::from_json(plan).unwrap()).unwrap();
    assert!(
        run.wait(Some(Duration::from_secs(60))),
        "run did not finish"
    );
    run.outcome().unwrap().unwrap().summary
}

#[test]
fn https_and_wss_with_the_testees_ca() {
    let (http, ca) = tls_testee("http", "http");
    let s = run(&format!(
        r#"{{"abi_version":2,"connections":4,"threads":2,"requests":400,"cacert":"{ca}",
            "protocol":{{"kind":"http","url":"https://{}/"}}}}"#,
        http.address
    ));
    assert_eq!((s.requests, s.errors.total()), (400, 0), "{:?}", s.errors);
    assert_eq!(s.status_codes.get("200"), Some(&400));
    assert_eq!(s.tls.as_ref().unwrap().handshakes, 4);
    let (ws, ca) = tls_testee("ws", "ws");
    let s = run(&format!(
        r#"{{"abi_version":2,"connections":4,"threads":2,"requests":400,"cacert":"{ca}",
            "protocol":{{"kind":"ws","url":"wss://{}/echo","message_hex":"6869"}}}}"#,
        ws.address
    ));
    assert_eq!((s.requests, s.errors.total()), (400, 0), "{:?}", s.errors);
    // Three times per connection, each in its own histogram.
    assert_eq!(s.connect_ns.count, 4);
    assert_eq!(s.tls.as_ref().unwrap().handshake_ns.count, 4);
    assert_eq!(s.handshake_ns.as_ref().unwrap().count, 4);
}

#[test]
fn churn_with_and_without_resumption_and_a_wrong_ca() {
    let (http, ca) = tls_testee("http", "churn");
    let churn = |resume: bool| {
        run(&format!(
            r#"{{"abi_version":2,"connections":2,"threads":1,"requests":100,"cacert":"{ca}",
                "requests_per_connection":1,"tls_resume":{resume},
                "protocol":{{"kind":"http","url":"https://{}/"}}}}"#,
            http.address
        ))
    };
    let full = churn(false);
    assert_eq!((full.requests, full.errors.total()), (100, 0));
    let tls = full.tls.unwrap();
    assert_eq!((tls.handshakes, tls.resumed), (100, 0));
    let resumed = churn(true);
    assert_eq!((resumed.requests, resumed.errors.total()), (100, 0));
    let tls = resumed.tls.unwrap();
    assert_eq!(tls.handshakes, 100);
    assert!(tls.resumed >= 90, "{tls:?}");
    // Another testee's CA does not vouch for this one.
    let (_other, other_ca) = tls_testee("http", "other");
    let s = run(&format!(
        r#"{{"abi_version":2,"connections":2,"threads":1,"duration_ms":300,
            "cacert":"{other_ca}","protocol":{{"kind":"http","url":"https://{}/"}}}}"#,
        http.address
    ));
    assert_eq!(s.requests, 0);
    assert!(s.errors.tls_certificate > 0, "{:?}", s.errors);
}

#[test]
fn tcp_echo_over_tls() {
    let (echo, ca) = tls_testee("echo", "echo");
    let s = run(&format!(
        r#"{{"abi_version":2,"target":"{}","connections":2,"threads":1,"requests":200,
            "cacert":"{ca}","sni":"localhost","protocol":{{"kind":"tcp","tls":true,
            "payload_hex":"68656c6c6f","reply":{{"kind":"echo"}}}}}}"#,
        echo.address
    ));
    assert_eq!((s.requests, s.errors.total()), (200, 0), "{:?}", s.errors);
}
