//! A connection error the adapter reports (a TLS failure) becomes the cause of the records
//! that expire while no connection works; a connection that opens clears it.

use odradek_core::{
    Config, ConnectionError, ConnectionErrorKind, Instant, Output, ProduceError, ProducerCore,
    Record, RecordId,
};
use std::time::Duration;

fn tls_error(broker: &str) -> ConnectionError {
    ConnectionError {
        broker: broker.into(),
        kind: ConnectionErrorKind::UntrustedCertificate,
        detail: "invalid peer certificate: UnknownIssuer".into(),
    }
}

/// Runs the core for `secs` virtual seconds; every connect the core asks for fails with a
/// TLS error, unless `open_later` (then only the first one fails, and the later ones open
/// but never answer). Returns what the record failed with.
fn run(open_later: bool, secs: u64) -> Option<ProduceError> {
    let mut config = Config::new(["b1:9093"]);
    config.delivery_timeout = Some(Duration::from_secs(3));
    config.request_timeout = Duration::from_secs(1);
    config.linger = Duration::ZERO;
    let mut now = Instant::from_unix_millis(1_700_000_000_000);
    let mut core = ProducerCore::new(config, 7, now).unwrap();
    let id: RecordId = core.send(Record::new("t").value("v"), now).unwrap();
    let end = now + Duration::from_secs(secs);
    let mut failed_once = false;
    let mut failure = None;
    while now < end {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Connect { conn, address } => {
                    if open_later && failed_once {
                        core.handle_connected(conn, now);
                    } else {
                        failed_once = true;
                        core.handle_connection_error(conn, tls_error(&address.to_string()), now);
                    }
                }
                Output::Failed {
                    id: failed, error, ..
                } if failed == id => failure = Some(error),
                _ => {}
            }
        }
        now += Duration::from_millis(50);
        core.handle_timeout(now);
    }
    failure
}

#[test]
fn records_expiring_behind_a_tls_failure_carry_it() {
    match run(false, 10) {
        Some(ProduceError::Connection(e)) => {
            assert_eq!(e, tls_error("b1:9093"));
            let text = ProduceError::Connection(e).to_string();
            assert!(
                text.contains("b1:9093") && text.contains("not trusted"),
                "{text}"
            );
            assert!(text.contains("UnknownIssuer"), "{text}");
        }
        other => panic!("expected a Connection error at the deadline, got {other:?}"),
    }
}

#[test]
fn a_connection_that_opened_later_leaves_a_plain_timeout() {
    // A TLS failure first, then connections open (and never answer): the record times out
    // plainly, as the failure is not what kept it.
    match run(true, 10) {
        Some(ProduceError::DeliveryTimeout) | Some(ProduceError::RetriesExhausted(_)) => {}
        other => panic!("expected a plain timeout, got {other:?}"),
    }
}
