//! The secured broker harness itself (`odradek_tests::secure`): Kafka's own console clients
//! get through every secured listener with the right credentials, and not with wrong ones.
//! A module of the `tls` test binary so that it shares its one broker start.

use odradek_core::SecurityProtocol;
use odradek_tests::kafka::should_run;
use odradek_tests::secure::{SecureCluster, PASSWORD, USER};
use std::time::Duration;

const READ: Duration = Duration::from_secs(30);

/// One topic per listener and mechanism: produce two lines with the console producer, read
/// them back with the console consumer through the same listener.
#[test]
fn console_clients_get_through_every_secured_listener() {
    if !should_run("console_clients_get_through_every_secured_listener") {
        return;
    }
    let kafka = SecureCluster::shared().unwrap();
    let cases = [
        (SecurityProtocol::Ssl, None, "h-ssl"),
        (
            SecurityProtocol::SaslPlaintext,
            Some("PLAIN"),
            "h-sasl-plain",
        ),
        (
            SecurityProtocol::SaslPlaintext,
            Some("SCRAM-SHA-256"),
            "h-sasl-scram256",
        ),
        (
            SecurityProtocol::SaslSsl,
            Some("SCRAM-SHA-512"),
            "h-saslssl-scram512",
        ),
    ];
    for (protocol, mechanism, topic) in cases {
        kafka.cluster().create_topic(topic, 1, 1, &[]).unwrap();
        let props = kafka.java_client_properties(protocol, mechanism);
        let lines = [format!("{topic}-one"), format!("{topic}-two")];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        kafka
            .console_produce(&props, protocol, topic, &lines)
            .unwrap_or_else(|e| panic!("{protocol} {mechanism:?}: {e}"));
        let got = kafka
            .console_consume(&props, protocol, topic, 2, READ)
            .unwrap_or_else(|e| panic!("{protocol} {mechanism:?}: {e}"));
        assert_eq!(got, lines, "{protocol} {mechanism:?}");
        // And the PLAINTEXT read-back the conformance suite uses sees the same records.
        let plain = kafka.cluster().consume_all(topic, 2).unwrap();
        let values: Vec<&[u8]> = plain.iter().filter_map(|r| r.value.as_deref()).collect();
        assert_eq!(values, [lines[0].as_bytes(), lines[1].as_bytes()]);
    }
}

/// A wrong SCRAM password, and the SSL listener without a client certificate, are refused.
#[test]
fn console_clients_without_the_right_credentials_are_refused() {
    if !should_run("console_clients_without_the_right_credentials_are_refused") {
        return;
    }
    let kafka = SecureCluster::shared().unwrap();
    let topic = "h-refused";
    kafka.cluster().create_topic(topic, 1, 1, &[]).unwrap();
    let wrong = kafka.java_client_properties_as(
        SecurityProtocol::SaslPlaintext,
        Some("SCRAM-SHA-256"),
        USER,
        &format!("not-{PASSWORD}"),
    );
    let e = kafka
        .console_produce(&wrong, SecurityProtocol::SaslPlaintext, topic, &["x"])
        .expect_err("a wrong password must be refused");
    assert!(e.0.contains("Authentication failed"), "{e}");
    // The SSL listener requires a client certificate.
    let props = kafka
        .java_client_properties(SecurityProtocol::Ssl, None)
        .lines()
        .filter(|l| !l.starts_with("ssl.keystore"))
        .collect::<Vec<_>>()
        .join("\n");
    let e = kafka
        .console_produce(&props, SecurityProtocol::Ssl, topic, &["x"])
        .expect_err("no client certificate must be refused");
    assert!(e.0.contains("SSL") || e.0.contains("ssl"), "{e}");
    assert!(kafka
        .cluster()
        .consume_all_timeout(topic, 0, Duration::from_secs(10))
        .unwrap()
        .is_empty());
}
