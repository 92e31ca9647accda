//! Every key, its spellings and units, bad values, SASL and TLS keys, and the text format.

use super::*;
use crate::compression::CompressionLevels;
use crate::config::Acks;
use crate::partitioner::PartitionerConfig;
use crate::sasl::SaslMechanism;
use crate::security::{Pem, SecurityProtocol};
use std::time::Duration;

fn bad_value(key: &str, value: &str) -> ConfigError {
    Config::from_properties([(key, value)]).unwrap_err()
}

#[test]
fn every_key_is_read_with_java_units() {
    let c = Config::from_properties([
        ("bootstrap.servers", " h1:9092 , h2:9093,,"),
        ("client.id", "cli"),
        ("acks", "0"),
        ("linger.ms", "7"),
        ("batch.size", "32768"),
        ("batch.num.messages", "500"),
        ("compression.type", "zstd"),
        ("compression.level", "5"),
        ("request.timeout.ms", "1500"),
        ("delivery.timeout.ms", "60000"),
        ("retries", "3"),
        ("retry.backoff.ms", "250"),
        ("retry.backoff.max.ms", "4000"),
        ("max.in.flight.requests.per.connection", "2"),
        ("max.request.size", "2097152"),
        ("message.max.bytes", "4096"),
        ("buffer.memory", "1048576"),
        ("metadata.max.age.ms", "1000"),
        ("enable.idempotence", "false"),
        ("allow.auto.create.topics", "FALSE"),
        ("partitioner", "round_robin"),
        ("security.protocol", "plaintext"),
    ])
    .unwrap();
    assert_eq!(c.bootstrap_servers, ["h1:9092", "h2:9093"]);
    assert_eq!(c.client_id, "cli");
    assert_eq!(c.acks, Acks::None);
    assert_eq!(c.linger, Duration::from_millis(7));
    assert_eq!(c.batch_size, 32768);
    assert_eq!(c.batch_num_messages, 500);
    assert_eq!(c.compression, Compression::Zstd);
    assert_eq!(c.compression_level, Some(5));
    assert_eq!(c.request_timeout, Duration::from_millis(1500));
    assert_eq!(c.delivery_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.retries, 3);
    assert_eq!(c.retry_backoff, Duration::from_millis(250));
    assert_eq!(c.retry_backoff_max, Duration::from_secs(4));
    assert_eq!(c.max_in_flight_requests_per_connection, 2);
    assert_eq!(c.max_request_size, 2 << 20);
    assert_eq!(c.message_max_bytes, 4096);
    assert_eq!(c.buffer_memory, 1 << 20);
    assert_eq!(c.metadata_max_age, Duration::from_secs(1));
    assert_eq!(c.enable_idempotence, Some(false));
    assert!(!c.allow_auto_create_topics);
    assert!(matches!(c.partitioner, PartitionerConfig::RoundRobin));
    c.validate().unwrap();
}

#[test]
fn acks_and_codec_spellings() {
    for (v, want) in [
        ("1", Acks::Leader),
        ("all", Acks::All),
        ("ALL", Acks::All),
        ("-1", Acks::All),
    ] {
        assert_eq!(
            Config::from_properties([("acks", v)]).unwrap().acks,
            want,
            "{v}"
        );
    }
    for (v, want) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let c = Config::from_properties([("compression.type", v)]).unwrap();
        assert_eq!(c.compression, want);
    }
    assert!(matches!(
        Config::from_properties([(
            "partitioner.class",
            "org.apache.kafka.clients.producer.RoundRobinPartitioner"
        )])
        .unwrap()
        .partitioner,
        PartitionerConfig::RoundRobin
    ));
    assert!(matches!(
        Config::from_properties([("partitioner", "fnv1a_random")])
            .unwrap()
            .partitioner,
        PartitionerConfig::Fnv1a
    ));
}

#[test]
fn per_codec_levels_follow_the_chosen_codec() {
    // The Java client's defaults (KIP-390) when nothing is set.
    let c = Config::from_properties([("compression.type", "gzip")]).unwrap();
    assert_eq!(c.compression_levels, CompressionLevels::default());
    assert_eq!(c.effective_compression_level(), Some(-1));
    let defaults = CompressionLevels::default();
    assert_eq!((defaults.gzip, defaults.lz4, defaults.zstd), (-1, 9, 3));
    let levels = [
        ("compression.gzip.level", "9"),
        ("compression.lz4.level", "4"),
        ("compression.zstd.level", "12"),
    ];
    let with = |codec: &'static str| {
        let mut pairs = levels.to_vec();
        pairs.push(("compression.type", codec));
        Config::from_properties(pairs)
            .unwrap()
            .effective_compression_level()
    };
    assert_eq!(with("gzip"), Some(9));
    assert_eq!(with("lz4"), Some(4));
    assert_eq!(with("zstd"), Some(12));
    assert_eq!(with("snappy"), None);
    assert_eq!(with("none"), None);
    // Each codec keeps its own level, whichever is chosen later.
    let mut c = Config::from_properties(levels).unwrap();
    assert_eq!(
        (c.compression_levels.gzip, c.compression_levels.lz4),
        (9, 4)
    );
    c.compression = Compression::Zstd;
    assert_eq!(c.effective_compression_level(), Some(12));
    // The codec's own level wins over the generic one, in any order.
    let c = Config::from_properties([
        ("compression.zstd.level", "1"),
        ("compression.level", "7"),
        ("compression.type", "zstd"),
    ])
    .unwrap();
    assert_eq!(c.effective_compression_level(), Some(1));
    // The generic one applies when the codec's own key is not given.
    let c = Config::from_properties([("compression.level", "7"), ("compression.type", "zstd")])
        .unwrap();
    assert_eq!(c.effective_compression_level(), Some(7));
    // Java's ranges: gzip 1..=9 or -1, lz4 1..=17, zstd -131072..=22.
    for (key, ok, bad) in [
        (
            "compression.gzip.level",
            ["-1", "1", "9"],
            ["0", "10", "-2"],
        ),
        ("compression.lz4.level", ["1", "9", "17"], ["0", "18", "-1"]),
        (
            "compression.zstd.level",
            ["-131072", "3", "22"],
            ["23", "-131073", "x"],
        ),
    ] {
        for v in ok {
            assert!(Config::from_properties([(key, v)]).is_ok(), "{key}={v}");
        }
        for v in bad {
            match bad_value(key, v) {
                ConfigError::BadValue { key: k, value, .. } => {
                    assert_eq!((k.as_str(), value.as_str()), (key, v))
                }
                other => panic!("{key}={v}: {other:?}"),
            }
        }
    }
    assert_eq!(
        bad_value("compression.gzip.level", "10"),
        ConfigError::BadValue {
            key: "compression.gzip.level".into(),
            value: "10".into(),
            reason: "gzip levels are 1 to 9, or -1 for the default",
        }
    );
    // A level set in code is checked by `validate`, naming its key.
    let mut c = Config::new(["b:9092"]);
    c.compression_levels.lz4 = 0;
    assert_eq!(
        c.validate(),
        Err(ConfigError::Invalid {
            name: "compression.lz4.level",
            reason: "lz4 levels are 1 to 17",
        })
    );
}

#[test]
fn bad_values_name_key_and_value() {
    for (k, v) in [
        ("acks", "2"),
        ("linger.ms", "5ms"),
        ("linger.ms", "-1"),
        ("batch.size", "big"),
        ("compression.type", "brotli"),
        ("retries", "-1"),
        ("enable.idempotence", "yes"),
        ("partitioner", "consistent"),
        ("partitioner.class", "com.example.Mine"),
        ("security.protocol", "TLS"),
    ] {
        let e = bad_value(k, v);
        match &e {
            ConfigError::BadValue { key, value, .. } => {
                assert_eq!((key.as_str(), value.as_str()), (k, v))
            }
            other => panic!("{k}={v}: {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains(k) && text.contains(v),
            "{text:?} names {k} and {v}"
        );
    }
    assert_eq!(
        bad_value("linger", "5"),
        ConfigError::UnknownKey("linger".into())
    );
    assert_eq!(
        bad_value("linger", "5").to_string(),
        "unknown configuration key \"linger\""
    );
}

#[test]
fn sasl_keys_build_a_sasl_config_in_any_order() {
    let c = Config::from_properties([
        ("sasl.password", "pw"),
        ("security.protocol", "sasl_plaintext"),
        ("sasl.username", "alice"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        ("bootstrap.servers", "h:1"),
    ])
    .unwrap();
    assert_eq!(c.security_protocol, SecurityProtocol::SaslPlaintext);
    let sasl = c.sasl.as_ref().expect("sasl");
    assert_eq!(sasl.mechanism, SaslMechanism::ScramSha512);
    assert_eq!(
        (sasl.username.as_str(), sasl.password.as_str()),
        ("alice", "pw")
    );
    c.validate().unwrap();

    for module in [
        "org.apache.kafka.common.security.plain.PlainLoginModule",
        "org.apache.kafka.common.security.scram.ScramLoginModule",
    ] {
        let jaas = format!("{module} required\n  username=\"bob\"  password=\"p \\\"q\\\" ;r\";");
        let c = Config::from_properties([
            ("sasl.mechanism", "PLAIN"),
            ("sasl.jaas.config", jaas.as_str()),
        ])
        .unwrap();
        let sasl = c.sasl.unwrap();
        assert_eq!(sasl.username, "bob");
        assert_eq!(sasl.password, "p \"q\" ;r");
    }
    let c = Config::from_properties([
        ("sasl.mechanism", "PLAIN"),
        (
            "sasl.jaas.config",
            "x.PlainLoginModule required username=u password=v;",
        ),
    ])
    .unwrap();
    assert_eq!(c.sasl.unwrap().password, "v");
}

#[test]
fn sasl_mistakes_name_the_key_and_never_echo_secrets() {
    let e = bad_value("sasl.username", "alice");
    assert!(
        matches!(
            e,
            ConfigError::Invalid {
                name: "sasl.mechanism",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        bad_value("sasl.mechanism", "KERBEROS"),
        ConfigError::BadValue { key, .. } if key == "sasl.mechanism"
    ));
    assert!(matches!(
        bad_value("sasl.mechanism", "GSSAPI"),
        ConfigError::NotSupportedYet(_)
    ));
    for jaas in [
        "x.PlainLoginModule required username=\"u\" password=\"hunter2\"",
        "x.KerberosModule required username=\"u\" password=\"hunter2\";",
        "x.PlainLoginModule always username=\"u\" password=\"hunter2\";",
        "x.PlainLoginModule required password=\"hunter2\";",
        "x.PlainLoginModule required username=\"u\" password=\"hunter2;",
        "x.OAuthBearerLoginModule required password=\"hunter2\";",
    ] {
        let e = Config::from_properties([("sasl.mechanism", "PLAIN"), ("sasl.jaas.config", jaas)])
            .unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::Invalid {
                    name: "sasl.jaas.config",
                    ..
                }
            ),
            "{jaas}: {e:?}"
        );
        assert!(!e.to_string().contains("hunter2") && !format!("{e:?}").contains("hunter2"));
    }
}

#[test]
fn security_settings_are_refused_as_not_supported_yet() {
    for (k, v) in [
        ("sasl.kerberos.service.name", "kafka"),
        ("ssl.key.password", "pw"),
        ("ssl.keystore.type", "JKS"),
        ("ssl.truststore.type", "PKCS12"),
        ("ssl.cipher.suites", "x"),
    ] {
        let e = bad_value(k, v);
        assert!(
            matches!(&e, ConfigError::NotSupportedYet(what) if what.starts_with(k)),
            "{k}: {e:?}"
        );
        assert!(e.to_string().contains("not supported yet"), "{e}");
    }
    // Secrets never appear in the message.
    let e = bad_value("sasl.oauthbearer.client.secret", "hunter2");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
    let e = bad_value("ssl.key.password", "hunter2");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[test]
fn tls_settings_are_read_in_librdkafka_and_java_names() {
    let c = Config::from_properties([
        ("bootstrap.servers", "h:1"),
        ("security.protocol", "ssl"),
        ("ssl.ca.location", "/etc/ca.pem"),
        ("ssl.certificate.location", "/etc/client.pem"),
        ("ssl.key.location", "/etc/client.key"),
    ])
    .unwrap();
    assert_eq!(c.security_protocol, SecurityProtocol::Ssl);
    assert_eq!(c.tls.ca, Some(Pem::File("/etc/ca.pem".into())));
    assert_eq!(c.tls.certificate, Some(Pem::File("/etc/client.pem".into())));
    assert_eq!(c.tls.key, Some(Pem::File("/etc/client.key".into())));
    assert!(
        c.tls.verify_hostname,
        "hostname verification is on by default"
    );
    c.validate().unwrap();

    let c = Config::from_properties([
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.certificates", "CA PEM"),
        ("ssl.keystore.type", "pem"),
        ("ssl.keystore.certificate.chain", "CHAIN PEM"),
        ("ssl.keystore.key", "KEY PEM"),
        ("ssl.endpoint.identification.algorithm", ""),
    ])
    .unwrap();
    assert_eq!(c.tls.ca, Some(Pem::Text("CA PEM".into())));
    assert_eq!(c.tls.certificate, Some(Pem::Text("CHAIN PEM".into())));
    assert_eq!(c.tls.key, Some(Pem::Text("KEY PEM".into())));
    assert!(!c.tls.verify_hostname);
    assert!(
        !format!("{c:?}").contains("KEY PEM"),
        "Debug redacts the key"
    );

    // One PEM keystore file holds the chain and the key.
    let c = Config::from_properties([("ssl.keystore.location", "/ks.pem")]).unwrap();
    assert_eq!(c.tls.certificate, Some(Pem::File("/ks.pem".into())));
    assert_eq!(c.tls.key, Some(Pem::File("/ks.pem".into())));

    for (v, on) in [
        ("https", true),
        ("HTTPS", true),
        ("none", false),
        ("", false),
    ] {
        let c = Config::from_properties([("ssl.endpoint.identification.algorithm", v)]).unwrap();
        assert_eq!(c.tls.verify_hostname, on, "{v:?}");
    }
    assert!(matches!(
        bad_value("ssl.endpoint.identification.algorithm", "ldap"),
        ConfigError::BadValue { ref key, .. } if key == "ssl.endpoint.identification.algorithm"
    ));
    assert!(matches!(
        bad_value("security.protocol", "TLS"),
        ConfigError::BadValue { ref key, .. } if key == "security.protocol"
    ));
    // SSL with half a client identity is refused by validation, naming the setting.
    let c = Config::from_properties([
        ("bootstrap.servers", "h:1"),
        ("security.protocol", "SSL"),
        ("ssl.certificate.location", "/c.pem"),
    ])
    .unwrap();
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("ssl.key.location"));
}

#[test]
fn a_failed_apply_changes_nothing_and_later_pairs_win() {
    let mut c = Config::new(["h:1"]);
    let err = c
        .apply_properties([("linger.ms", "50"), ("acks", "many")])
        .unwrap_err();
    assert!(matches!(err, ConfigError::BadValue { .. }));
    assert_eq!(c.linger, Duration::from_millis(5));
    c.apply_properties([("linger.ms", "50"), ("linger.ms", "60")])
        .unwrap();
    assert_eq!(c.linger, Duration::from_millis(60));
    assert_eq!(c.bootstrap_servers, ["h:1"]);
}

#[test]
fn properties_text_is_parsed_like_java() {
    let text = "\
# comment
! also a comment

bootstrap.servers = a:1,\\
b:2
acks:all
  linger.ms=5
client.id=x=y
empty=
";
    let pairs = parse(text).unwrap();
    assert_eq!(
        pairs,
        [
            ("bootstrap.servers", "a:1,b:2"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("client.id", "x=y"),
            ("empty", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(
        parse("acks=1\nno separator here\n"),
        Err(ConfigError::Syntax {
            line: 2,
            reason: "expected key=value"
        })
    );
    assert_eq!(
        parse("=1"),
        Err(ConfigError::Syntax {
            line: 1,
            reason: "empty key"
        })
    );
    // An escaped backslash at the end does not continue the line.
    assert_eq!(parse("a=b\\\\\nc=d").unwrap().len(), 2);
    let c = Config::from_properties(parse(text).unwrap().into_iter().take(3)).unwrap();
    assert_eq!(c.bootstrap_servers, ["a:1", "b:2"]);
}

#[test]
fn transactional_keys_and_their_rules() {
    let c = Config::from_properties([
        ("bootstrap.servers", "h:1"),
        ("transactional.id", "tx-1"),
        ("transaction.timeout.ms", "15000"),
    ])
    .unwrap();
    assert_eq!(c.transactional_id.as_deref(), Some("tx-1"));
    assert_eq!(c.transaction_timeout, Duration::from_secs(15));
    assert!(c.is_transactional() && c.idempotence_enabled());
    c.validate().unwrap();
    // Java: a transactional id with idempotence turned off is a configuration error.
    let mut off = c.clone();
    off.enable_idempotence = Some(false);
    assert!(matches!(
        off.validate(),
        Err(ConfigError::Invalid {
            name: "enable.idempotence",
            ..
        })
    ));
    // ... as is a setting idempotence rules out, even with enable.idempotence unset.
    let mut acks = c.clone();
    acks.acks = Acks::Leader;
    assert!(matches!(
        acks.validate(),
        Err(ConfigError::Invalid { name: "acks", .. })
    ));
    let mut zero = c.clone();
    zero.transaction_timeout = Duration::ZERO;
    assert!(zero.validate().is_err());
    // An empty id is none; the default timeout is 60 s.
    let d =
        Config::from_properties([("bootstrap.servers", "h:1"), ("transactional.id", "")]).unwrap();
    assert!(!d.is_transactional());
    assert_eq!(d.transaction_timeout, Duration::from_secs(60));
}
