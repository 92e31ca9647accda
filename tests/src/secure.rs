//! A secured single-node Kafka (KRaft, the newest tested: 4.4) for the TLS and SASL tests: one
//! broker with four client listeners, and the certificates and users to reach them.
//!
//! | listener | security | who gets in |
//! |---|---|---|
//! | `PLAINTEXT` (`127.0.0.1`) | none | anyone: the harness's own admin and read-back tools |
//! | `SSL` (`localhost`) | TLS, **client certificate required** (mutual TLS) | a certificate from [`Pki::ca_pem`] |
//! | `SASL_PLAINTEXT` (`localhost`) | SASL PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 | [`USER`] / [`PASSWORD`] |
//! | `SASL_SSL` (`localhost`) | TLS (server certificate only) + the same SASL | [`USER`] / [`PASSWORD`] |
//!
//! Controller and inter-broker traffic stay on PLAINTEXT. The certificates are made at run
//! time with `rcgen`: a test CA, a broker certificate naming `localhost` only (so connecting
//! to `127.0.0.1` by IP fails hostname verification), a client certificate for mutual TLS,
//! and an unrelated second CA (trusting it instead is the "untrusted certificate" case).
//! Kafka reads them as PEM stores (`ssl.keystore.type=PEM`, `ssl.truststore.type=PEM`).
//!
//! SASL users: PLAIN users are in the listeners' JAAS config; SCRAM credentials are written
//! into the cluster's bootstrap metadata at format time (`kafka-storage format --add-scram`).
//!
//! ```no_run
//! use odradek_tests::secure::{SecureCluster, USER, PASSWORD};
//! use odradek_core::SecurityProtocol;
//! let kafka = SecureCluster::shared().unwrap();
//! kafka.cluster().create_topic("t", 1, 1, &[]).unwrap();
//! let config = kafka.client_config(SecurityProtocol::Ssl); // TLS settings filled in
//! // Kafka's own console clients, over SASL_SSL with SCRAM:
//! let props = kafka.java_client_properties(SecurityProtocol::SaslSsl, Some("SCRAM-SHA-512"));
//! kafka.console_produce(&props, SecurityProtocol::SaslSsl, "t", &["a", "b"]).unwrap();
//! ```

use crate::kafka::{
    free_ports, java_tool, run_root, Error, KafkaCluster, Listener, Result, StartOptions, Version,
};
use odradek_core::{Config, Pem, SecurityProtocol};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The session lifetime (`connections.max.reauth.ms`) of SCRAM-SHA-256 on the
/// `SASL_PLAINTEXT` listener, short enough for a test to outlive a few sessions.
pub const REAUTH_MS: u64 = 3000;

/// The SASL user of every mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
pub const USER: &str = "alice";
/// [`USER`]'s password, the same for every mechanism.
pub const PASSWORD: &str = "alice-secret";
/// The SASL mechanisms the broker enables.
pub const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| Error(format!("writing {}: {e}", path.display())))
}

fn rc<T>(r: std::result::Result<T, rcgen::Error>, what: &str) -> Result<T> {
    r.map_err(|e| Error(format!("rcgen ({what}): {e}")))
}

/// The test certificates, as PEM text and as files in one folder.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
    /// The test CA's certificate: the broker's and the client's certificates chain to it.
    pub ca_pem: String,
    /// Another CA's certificate, that signed nothing here: trusting only it must fail.
    pub other_ca_pem: String,
    /// The broker's certificate (names `localhost` only).
    pub broker_cert_pem: String,
    /// The client certificate for mutual TLS.
    pub client_cert_pem: String,
    /// The client certificate's private key (PKCS#8 PEM).
    pub client_key_pem: String,
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair, String)> {
    let key = rc(KeyPair::generate(), "CA key")?;
    let mut params = rc(CertificateParams::new(Vec::<String>::new()), "CA params")?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = rc(params.self_signed(&key), "CA self-signed")?;
    Ok((params, key, cert.pem()))
}

fn leaf(
    names: &[&str],
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, &KeyPair>,
) -> Result<(String, String)> {
    let key = rc(KeyPair::generate(), "leaf key")?;
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = rc(CertificateParams::new(names), "leaf params")?;
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = rc(params.signed_by(&key, issuer), "leaf signed")?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Makes a CA, a broker certificate for `localhost`, a client certificate and a second
    /// CA, and writes them as PEM files into `dir`.
    pub fn generate(dir: &Path) -> Result<Pki> {
        fs::create_dir_all(dir).map_err(|e| Error(format!("creating {}: {e}", dir.display())))?;
        let (ca_params, ca_key, ca_pem) = ca("odradek test CA")?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let (broker_cert_pem, broker_key_pem) = leaf(
            &["localhost"],
            "localhost",
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        )?;
        let (client_cert_pem, client_key_pem) = leaf(
            &["odradek-client"],
            "odradek-client",
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        )?;
        let (_, _, other_ca_pem) = ca("some other CA")?;
        let pki = Pki {
            dir: dir.to_path_buf(),
            ca_pem,
            other_ca_pem,
            broker_cert_pem,
            client_cert_pem,
            client_key_pem,
        };
        write_file(&pki.ca_file(), &pki.ca_pem)?;
        write_file(&pki.other_ca_file(), &pki.other_ca_pem)?;
        // Kafka's PEM keystore file: the private key, then the certificate chain.
        write_file(
            &pki.broker_keystore_file(),
            &format!("{broker_key_pem}{}", pki.broker_cert_pem),
        )?;
        write_file(&pki.client_cert_file(), &pki.client_cert_pem)?;
        write_file(&pki.client_key_file(), &pki.client_key_pem)?;
        write_file(
            &pki.client_keystore_file(),
            &format!("{}{}", pki.client_key_pem, pki.client_cert_pem),
        )?;
        Ok(pki)
    }

    /// `ca.pem`: the test CA.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// `other-ca.pem`: the CA that signed nothing here.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.join("other-ca.pem")
    }
    /// `broker-keystore.pem`: the broker's key and certificate.
    pub fn broker_keystore_file(&self) -> PathBuf {
        self.dir.join("broker-keystore.pem")
    }
    /// `client.pem`: the client certificate.
    pub fn client_cert_file(&self) -> PathBuf {
        self.dir.join("client.pem")
    }
    /// `client.key`: the client certificate's key.
    pub fn client_key_file(&self) -> PathBuf {
        self.dir.join("client.key")
    }
    /// `client-keystore.pem`: key and certificate in one file, for Java clients.
    pub fn client_keystore_file(&self) -> PathBuf {
        self.dir.join("client-keystore.pem")
    }
}

/// The secured single-node cluster. See the [module docs](self).
#[derive(Debug)]
pub struct SecureCluster {
    cluster: KafkaCluster,
    pki: Pki,
    ssl_port: u16,
    sasl_plaintext_port: u16,
    sasl_ssl_port: u16,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn jaas(listener: &str) -> Vec<(String, String)> {
    let plain = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required \
         user_{USER}=\"{PASSWORD}\";"
    );
    let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned();
    vec![
        (
            format!("listener.name.{listener}.plain.sasl.jaas.config"),
            plain,
        ),
        (
            format!("listener.name.{listener}.scram-sha-256.sasl.jaas.config"),
            scram.clone(),
        ),
        (
            format!("listener.name.{listener}.scram-sha-512.sasl.jaas.config"),
            scram,
        ),
    ]
}

impl SecureCluster {
    /// Makes the certificates and starts the broker (watched: stopped on drop or exit).
    pub fn start() -> Result<SecureCluster> {
        // `test-` and the pid: the harness prunes such folders once their process is gone.
        let name = format!(
            "test-secure-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // The certificates live next to (not inside) the cluster folder, which the harness
        // wipes before starting; stale ones are pruned like stale test clusters.
        let pki = Pki::generate(&run_root().join(format!("{name}-pki")))?;
        let ports = free_ports(3)?;
        let (ssl_port, sasl_plaintext_port, sasl_ssl_port) = (ports[0], ports[1], ports[2]);
        let listener = |name: &str, port| Listener {
            name: name.into(),
            protocol: name.into(),
            port,
            advertised_host: "localhost".into(),
            advertised_port: None,
        };
        let mut opts = StartOptions::new(Version::NEWEST, 1);
        opts.name = Some(name);
        opts.extra_listeners = vec![
            listener("SSL", ssl_port),
            listener("SASL_PLAINTEXT", sasl_plaintext_port),
            listener("SASL_SSL", sasl_ssl_port),
        ];
        let mut props: Vec<(String, String)> = vec![
            ("ssl.keystore.type".into(), "PEM".into()),
            (
                "ssl.keystore.location".into(),
                pki.broker_keystore_file().display().to_string(),
            ),
            ("ssl.truststore.type".into(), "PEM".into()),
            (
                "ssl.truststore.location".into(),
                pki.ca_file().display().to_string(),
            ),
            (
                "listener.name.ssl.ssl.client.auth".into(),
                "required".into(),
            ),
            ("sasl.enabled.mechanisms".into(), MECHANISMS.join(",")),
            // KIP-368: SCRAM-SHA-256 sessions on SASL_PLAINTEXT last REAUTH_MS; the broker
            // closes a connection used after that without re-authenticating.
            (
                "listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms".into(),
                REAUTH_MS.to_string(),
            ),
        ];
        props.extend(jaas("sasl_plaintext"));
        props.extend(jaas("sasl_ssl"));
        opts.extra_properties = props;
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            opts.format_args.push("--add-scram".into());
            opts.format_args
                .push(format!("{mechanism}=[name={USER},password={PASSWORD}]"));
        }
        let cluster = KafkaCluster::start_with(opts)?;
        Ok(SecureCluster {
            cluster,
            pki,
            ssl_port,
            sasl_plaintext_port,
            sasl_ssl_port,
        })
    }

    /// One secured cluster per test process, started on first use.
    pub fn shared() -> Result<&'static SecureCluster> {
        use std::sync::{Mutex, OnceLock};
        static CLUSTER: OnceLock<Mutex<Option<&'static SecureCluster>>> = OnceLock::new();
        let mut guard = CLUSTER
            .get_or_init(|| Mutex::new(None))
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = *guard {
            return Ok(c);
        }
        // Leaked on purpose, as `kafka::shared` does: the watchdog stops the broker when
        // the test process exits.
        let c: &'static SecureCluster = Box::leak(Box::new(SecureCluster::start()?));
        *guard = Some(c);
        Ok(c)
    }

    /// The cluster: its PLAINTEXT listener serves topic creation and read-back.
    pub fn cluster(&self) -> &KafkaCluster {
        &self.cluster
    }

    /// The certificates.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The port of `protocol`'s listener.
    pub fn port(&self, protocol: SecurityProtocol) -> u16 {
        match protocol {
            SecurityProtocol::Plaintext => self.cluster.nodes()[0].port,
            SecurityProtocol::Ssl => self.ssl_port,
            SecurityProtocol::SaslPlaintext => self.sasl_plaintext_port,
            SecurityProtocol::SaslSsl => self.sasl_ssl_port,
        }
    }

    /// `bootstrap.servers` for `protocol`'s listener: `localhost:<port>` (the name the
    /// broker's certificate carries), `127.0.0.1:<port>` for PLAINTEXT.
    pub fn bootstrap(&self, protocol: SecurityProtocol) -> String {
        match protocol {
            SecurityProtocol::Plaintext => format!("127.0.0.1:{}", self.port(protocol)),
            _ => format!("localhost:{}", self.port(protocol)),
        }
    }

    /// An odradek configuration for `protocol`'s listener: bootstrap, security protocol,
    /// and for TLS the test CA (plus the client certificate for the mutual-TLS `SSL`
    /// listener). SASL credentials are left to the caller.
    pub fn client_config(&self, protocol: SecurityProtocol) -> Config {
        let mut config = Config::new([self.bootstrap(protocol)]);
        config.security_protocol = protocol;
        if protocol.uses_tls() {
            config.tls.ca = Some(Pem::File(self.pki.ca_file()));
        }
        if protocol == SecurityProtocol::Ssl {
            config.tls.certificate = Some(Pem::File(self.pki.client_cert_file()));
            config.tls.key = Some(Pem::Text(self.pki.client_key_pem.clone()));
        }
        config
    }

    /// The properties a Java client needs for `protocol`'s listener (`security.protocol`,
    /// PEM trust and key stores, and for SASL `mechanism` with [`USER`] / [`PASSWORD`]).
    pub fn java_client_properties(
        &self,
        protocol: SecurityProtocol,
        mechanism: Option<&str>,
    ) -> String {
        self.java_client_properties_as(protocol, mechanism, USER, PASSWORD)
    }

    /// [`java_client_properties`](Self::java_client_properties) with other credentials
    /// (a wrong password, say).
    pub fn java_client_properties_as(
        &self,
        protocol: SecurityProtocol,
        mechanism: Option<&str>,
        user: &str,
        password: &str,
    ) -> String {
        let mut p = format!("security.protocol={}\n", protocol.as_str());
        if protocol.uses_tls() {
            p.push_str(&format!(
                "ssl.truststore.type=PEM\nssl.truststore.location={}\n",
                self.pki.ca_file().display()
            ));
        }
        if protocol == SecurityProtocol::Ssl {
            p.push_str(&format!(
                "ssl.keystore.type=PEM\nssl.keystore.location={}\n",
                self.pki.client_keystore_file().display()
            ));
        }
        if protocol.uses_sasl() {
            let mechanism = mechanism.unwrap_or("PLAIN");
            let module = if mechanism == "PLAIN" {
                "org.apache.kafka.common.security.plain.PlainLoginModule"
            } else {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            };
            p.push_str(&format!(
                "sasl.mechanism={mechanism}\n\
                 sasl.jaas.config={module} required username=\"{user}\" password=\"{password}\";\n"
            ));
        }
        p
    }

    fn properties_file(&self, text: &str) -> Result<PathBuf> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.pki.dir.join(format!("client-{n}.properties"));
        write_file(&path, text)?;
        Ok(path)
    }

    /// Sends `lines` to `topic` with Kafka's console producer over `protocol`'s listener,
    /// configured by `properties` (see [`java_client_properties`](Self::java_client_properties)).
    /// Fails with the tool's output if it reports an error or exits non-zero.
    pub fn console_produce(
        &self,
        properties: &str,
        protocol: SecurityProtocol,
        topic: &str,
        lines: &[&str],
    ) -> Result<()> {
        let config = self.properties_file(properties)?;
        let mut cmd = java_tool(Version::NEWEST, "org.apache.kafka.tools.ConsoleProducer");
        let flags = Version::NEWEST.console_flags(true);
        cmd.args(["--bootstrap-server", &self.bootstrap(protocol)])
            .args(["--topic", topic])
            .arg(flags.config)
            .arg(&config)
            // Fail fast instead of retrying for the default two minutes.
            .args([flags.property, "delivery.timeout.ms=20000"])
            .args([flags.property, "request.timeout.ms=10000"])
            .args([flags.property, "max.block.ms=20000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error(format!("starting ConsoleProducer: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut input = lines.join("\n");
            input.push('\n');
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| Error(format!("writing to ConsoleProducer: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error(format!("waiting for ConsoleProducer: {e}")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The console producer logs send errors and may still exit 0.
        if !out.status.success() || text.contains("ERROR") || text.contains("Exception") {
            return err(format!("ConsoleProducer failed ({}):\n{text}", out.status));
        }
        Ok(())
    }

    /// Reads `count` record values of `topic` from the beginning with Kafka's console
    /// consumer over `protocol`'s listener (at most `timeout`).
    pub fn console_consume(
        &self,
        properties: &str,
        protocol: SecurityProtocol,
        topic: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<String>> {
        let config = self.properties_file(properties)?;
        let mut cmd = java_tool(
            Version::NEWEST,
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
        );
        cmd.args(["--bootstrap-server", &self.bootstrap(protocol)])
            .args(["--topic", topic, "--from-beginning"])
            .args(["--max-messages", &count.to_string()])
            .args(["--timeout-ms", &timeout.as_millis().to_string()])
            .arg(Version::NEWEST.console_flags(false).config)
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .map_err(|e| Error(format!("running ConsoleConsumer: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let values: Vec<String> = stdout.lines().map(str::to_owned).collect();
        if values.len() < count {
            return err(format!(
                "ConsoleConsumer read {} of {count} records ({}):\n{stdout}{}",
                values.len(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(values)
    }
}

/// The conformance suite's starting configuration ([`crate::conformance::base_config`])
/// pointed at `protocol`'s listener with [`SecureCluster::client_config`]'s settings.
pub fn secure_base_config(kafka: &SecureCluster, protocol: SecurityProtocol) -> Config {
    let mut base = crate::conformance::base_config(kafka.cluster());
    let secure = kafka.client_config(protocol);
    base.bootstrap_servers = secure.bootstrap_servers;
    base.security_protocol = secure.security_protocol;
    base.tls = secure.tls;
    base
}

/// A [`Target`](crate::conformance::Target) for the suite over the `SSL` listener (mutual
/// TLS), topics tagged `-ssl`.
pub fn ssl_target(kafka: &SecureCluster) -> crate::conformance::Target<'_> {
    crate::conformance::Target {
        cluster: kafka.cluster(),
        base: secure_base_config(kafka, SecurityProtocol::Ssl),
        tag: "-ssl",
    }
}

/// How long a TLS failure may take to reach the records: their delivery timeout (3 s) plus
/// slack for a loaded machine.
pub const TLS_FAILURE_BOUND: std::time::Duration = std::time::Duration::from_secs(20);

/// Produces 3 records with `config` (short timeouts) and checks each fails with a
/// [`ProduceError::Connection`](odradek_core::ProduceError::Connection) of `kind`, within
/// [`TLS_FAILURE_BOUND`].
pub fn expect_tls_failure<R: crate::conformance::Runtime>(
    mut config: Config,
    kind: odradek_core::ConnectionErrorKind,
) {
    use crate::conformance::Failure;
    use odradek_core::{ProduceError, Record};
    config.delivery_timeout = Some(Duration::from_secs(3));
    config.request_timeout = Duration::from_secs(2);
    config.retry_backoff = Duration::from_millis(50);
    let sent: Vec<Record> = (0..3)
        .map(|i| Record::new("tls-never").value(format!("v{i}")))
        .collect();
    let started = std::time::Instant::now();
    let outcomes = R::produce(config, sent.clone());
    let took = started.elapsed();
    assert!(
        took < TLS_FAILURE_BOUND,
        "{}: outcomes took {took:?}",
        R::name()
    );
    assert_eq!(outcomes.len(), sent.len());
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Err(Failure::Delivery(e)) => {
                match &e.error {
                    ProduceError::Connection(c) => {
                        assert_eq!(c.kind, kind, "{} #{i}: {c}", R::name());
                        assert!(
                            !c.detail.is_empty(),
                            "{} #{i}: the cause is named",
                            R::name()
                        );
                    }
                    other => panic!(
                        "{} #{i}: expected a {kind:?} connection error, got {other:?}",
                        R::name()
                    ),
                }
                crate::conformance::assert_handed_back(
                    &e.record,
                    &sent[i],
                    "the record is handed back",
                );
            }
            other => panic!(
                "{} #{i}: expected a delivery failure, got {other:?}",
                R::name()
            ),
        }
    }
}

/// The client trusts only an unrelated CA: every record fails with
/// `UntrustedCertificate`.
pub fn untrusted_certificate<R: crate::conformance::Runtime>(kafka: &SecureCluster) {
    let mut config = kafka.client_config(SecurityProtocol::Ssl);
    config.tls.ca = Some(Pem::Text(kafka.pki().other_ca_pem.clone()));
    expect_tls_failure::<R>(
        config,
        odradek_core::ConnectionErrorKind::UntrustedCertificate,
    );
}

/// Connecting by IP to a broker whose certificate names only `localhost` fails with
/// `HostnameMismatch`; with hostname verification off
/// (`ssl.endpoint.identification.algorithm=`), the same connection works (the chain is still
/// checked: see [`untrusted_certificate`]).
pub fn wrong_hostname<R: crate::conformance::Runtime>(kafka: &SecureCluster) {
    let by_ip = format!("127.0.0.1:{}", kafka.port(SecurityProtocol::Ssl));
    let mut config = kafka.client_config(SecurityProtocol::Ssl);
    config.bootstrap_servers = vec![by_ip.clone()];
    expect_tls_failure::<R>(
        config.clone(),
        odradek_core::ConnectionErrorKind::HostnameMismatch,
    );

    // Unchecked names: the bootstrap by IP works, and so do the brokers metadata names.
    let topic = format!("{}-ssl-no-hostname-check", R::name());
    kafka.cluster().create_topic(&topic, 1, 1, &[]).unwrap();
    let mut config = secure_base_config(kafka, SecurityProtocol::Ssl);
    config.bootstrap_servers = vec![by_ip];
    config.tls.verify_hostname = false;
    let sent =
        vec![odradek_core::Record::new(topic.as_str()).value("checked chain, unchecked name")];
    let outcomes = R::produce(config, sent.clone());
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0].as_ref().err());
    let read = kafka
        .cluster()
        .consume_topics(&[&topic], 1, Duration::from_secs(60))
        .unwrap();
    crate::conformance::check_read_back("no-hostname-check", &sent, &outcomes, &read, true, false);
}

/// Instantiates the TLS tests for one [`Runtime`](crate::conformance::Runtime): the
/// conformance suite's acks × compression matrix, unknown topic and close-in-flight runs
/// over the mutual-TLS `SSL` listener (read back over PLAINTEXT with Kafka's consumer), and
/// the untrusted-certificate and wrong-hostname failures. `$prefix` names the tests.
#[macro_export]
macro_rules! tls_tests {
    ($rt:ty, $module:ident) => {
        mod $module {
            use super::*;
            use $crate::secure::{self, SecureCluster};

            #[test]
            fn ssl_round_trip_matrix() {
                if $crate::kafka::should_run("ssl_round_trip_matrix") {
                    let kafka = SecureCluster::shared().unwrap();
                    $crate::conformance::round_trip_matrix_on::<$rt>(&secure::ssl_target(kafka));
                }
            }
            #[test]
            fn ssl_unknown_topic() {
                if $crate::kafka::should_run("ssl_unknown_topic") {
                    let kafka = SecureCluster::shared().unwrap();
                    $crate::conformance::unknown_topic_on::<$rt>(&secure::ssl_target(kafka));
                }
            }
            #[test]
            fn ssl_close_with_records_in_flight() {
                if $crate::kafka::should_run("ssl_close_with_records_in_flight") {
                    let kafka = SecureCluster::shared().unwrap();
                    $crate::conformance::close_with_records_in_flight_on::<$rt>(
                        &secure::ssl_target(kafka),
                    );
                }
            }
            #[test]
            fn ssl_untrusted_certificate() {
                if $crate::kafka::should_run("ssl_untrusted_certificate") {
                    secure::untrusted_certificate::<$rt>(SecureCluster::shared().unwrap());
                }
            }
            #[test]
            fn ssl_wrong_hostname() {
                if $crate::kafka::should_run("ssl_wrong_hostname") {
                    secure::wrong_hostname::<$rt>(SecureCluster::shared().unwrap());
                }
            }
        }
    };
}

/// The suite's starting configuration over a SASL listener (`SASL_PLAINTEXT`, or
/// `SASL_SSL` with the test CA) as [`USER`] with `mechanism`.
pub fn sasl_base_config(
    kafka: &SecureCluster,
    protocol: SecurityProtocol,
    mechanism: odradek_core::SaslMechanism,
) -> Config {
    let mut base = secure_base_config(kafka, protocol);
    base.sasl = Some(odradek_core::SaslConfig::new(mechanism, USER, PASSWORD));
    base
}

/// A [`Target`](crate::conformance::Target) over a SASL listener; `tag` keeps its topics
/// apart (`-plain`, `-scram256`, ...).
pub fn sasl_target<'a>(
    kafka: &'a SecureCluster,
    protocol: SecurityProtocol,
    mechanism: odradek_core::SaslMechanism,
    tag: &'static str,
) -> crate::conformance::Target<'a> {
    crate::conformance::Target {
        cluster: kafka.cluster(),
        base: sasl_base_config(kafka, protocol, mechanism),
        tag,
    }
}

/// The shortened conformance subset of the SASL runs: two round trips (acks=all with lz4,
/// acks=1 uncompressed; read back and compared record by record) and a close with 500
/// records in flight.
pub fn sasl_subset<R: crate::conformance::Runtime>(target: &crate::conformance::Target<'_>) {
    use odradek_core::{Acks, Compression};
    crate::conformance::round_trip_runs_on::<R>(
        target,
        &[
            (Acks::All, Compression::Lz4),
            (Acks::Leader, Compression::None),
        ],
    );
    crate::conformance::close_with_records_in_flight_on::<R>(target);
}

/// The conformance suite over a SASL target: the acks × compression matrix read back
/// with the Java consumer, an unknown topic, and close with records in flight.
pub fn sasl_conformance<R: crate::conformance::Runtime>(target: &crate::conformance::Target<'_>) {
    crate::conformance::round_trip_matrix_on::<R>(target);
    crate::conformance::unknown_topic_on::<R>(target);
    crate::conformance::close_with_records_in_flight_on::<R>(target);
}

/// How long an authentication failure may take to reach the records: well inside their
/// delivery timeout (30 s here), since the core fails them as soon as the broker refuses.
pub const AUTH_FAILURE_BOUND: std::time::Duration = std::time::Duration::from_secs(15);

/// A wrong password over `protocol` with `mechanism`: every record fails with
/// [`ProduceError::Authentication`](odradek_core::ProduceError::Authentication) naming the
/// broker, within [`AUTH_FAILURE_BOUND`] (the delivery timeout is twice that, so this is
/// the refusal, not a timeout).
pub fn wrong_password<R: crate::conformance::Runtime>(
    kafka: &SecureCluster,
    protocol: SecurityProtocol,
    mechanism: odradek_core::SaslMechanism,
) {
    use crate::conformance::Failure;
    use odradek_core::{ProduceError, Record};
    let mut config = sasl_base_config(kafka, protocol, mechanism);
    config.sasl = Some(odradek_core::SaslConfig::new(
        mechanism,
        USER,
        "not-the-password",
    ));
    config.delivery_timeout = Some(Duration::from_secs(30));
    config.request_timeout = Duration::from_secs(5);
    let sent: Vec<Record> = (0..3)
        .map(|i| Record::new("sasl-never").value(format!("v{i}")))
        .collect();
    let started = std::time::Instant::now();
    let outcomes = R::produce(config, sent.clone());
    let took = started.elapsed();
    let label = format!("{} {} {mechanism:?}", R::name(), protocol.as_str());
    assert!(took < AUTH_FAILURE_BOUND, "{label}: outcomes took {took:?}");
    assert_eq!(outcomes.len(), sent.len());
    let bootstrap = kafka.bootstrap(protocol);
    for (i, o) in outcomes.iter().enumerate() {
        match o {
            Err(Failure::Delivery(e)) => {
                match &e.error {
                    ProduceError::Authentication { broker, message } => {
                        assert_eq!(broker, &bootstrap, "{label} #{i}: the broker is named");
                        assert!(!message.is_empty(), "{label} #{i}: the cause is named");
                    }
                    other => {
                        panic!("{label} #{i}: expected an authentication error, got {other:?}")
                    }
                }
                crate::conformance::assert_handed_back(
                    &e.record,
                    &sent[i],
                    "the record is handed back",
                );
            }
            other => panic!("{label} #{i}: expected a delivery failure, got {other:?}"),
        }
    }
}

/// Instantiates the SASL tests for one [`Runtime`](crate::conformance::Runtime): the
/// shortened conformance subset ([`sasl_subset`]) over `SASL_PLAINTEXT` with PLAIN,
/// SCRAM-SHA-256 and SCRAM-SHA-512 and over `SASL_SSL` (TLS, then SCRAM-SHA-512), and a
/// wrong password (PLAIN and SCRAM-SHA-256 over `SASL_PLAINTEXT`, SCRAM-SHA-512 over
/// `SASL_SSL`) failing with `ProduceError::Authentication`.
#[macro_export]
macro_rules! sasl_tests {
    ($rt:ty, $module:ident) => {
        mod $module {
            use super::*;
            use odradek_core::{SaslMechanism, SecurityProtocol};
            use $crate::secure::{self, SecureCluster};

            fn subset(protocol: SecurityProtocol, mechanism: SaslMechanism, tag: &'static str) {
                let kafka = SecureCluster::shared().unwrap();
                secure::sasl_subset::<$rt>(&secure::sasl_target(kafka, protocol, mechanism, tag));
            }

            fn full(protocol: SecurityProtocol, mechanism: SaslMechanism, tag: &'static str) {
                let kafka = SecureCluster::shared().unwrap();
                secure::sasl_conformance::<$rt>(&secure::sasl_target(
                    kafka, protocol, mechanism, tag,
                ));
            }

            #[test]
            fn sasl_plaintext_plain() {
                if $crate::kafka::should_run("sasl_plaintext_plain") {
                    subset(
                        SecurityProtocol::SaslPlaintext,
                        SaslMechanism::Plain,
                        "-plain",
                    );
                }
            }
            #[test]
            fn sasl_plaintext_scram_sha_256() {
                if $crate::kafka::should_run("sasl_plaintext_scram_sha_256") {
                    full(
                        SecurityProtocol::SaslPlaintext,
                        SaslMechanism::ScramSha256,
                        "-scram256",
                    );
                }
            }
            #[test]
            fn sasl_plaintext_scram_sha_512() {
                if $crate::kafka::should_run("sasl_plaintext_scram_sha_512") {
                    subset(
                        SecurityProtocol::SaslPlaintext,
                        SaslMechanism::ScramSha512,
                        "-scram512",
                    );
                }
            }
            #[test]
            fn sasl_ssl_scram_sha_512() {
                if $crate::kafka::should_run("sasl_ssl_scram_sha_512") {
                    full(
                        SecurityProtocol::SaslSsl,
                        SaslMechanism::ScramSha512,
                        "-sasl-ssl",
                    );
                }
            }
            #[test]
            fn sasl_wrong_password() {
                if $crate::kafka::should_run("sasl_wrong_password") {
                    let kafka = SecureCluster::shared().unwrap();
                    secure::wrong_password::<$rt>(
                        kafka,
                        SecurityProtocol::SaslPlaintext,
                        SaslMechanism::Plain,
                    );
                    secure::wrong_password::<$rt>(
                        kafka,
                        SecurityProtocol::SaslPlaintext,
                        SaslMechanism::ScramSha256,
                    );
                    secure::wrong_password::<$rt>(
                        kafka,
                        SecurityProtocol::SaslSsl,
                        SaslMechanism::ScramSha512,
                    );
                }
            }
        }
    };
}

/// KIP-368 against the real broker: records sent one at a time over SASL_PLAINTEXT with
/// SCRAM-SHA-256 for more than three session lifetimes ([`REAUTH_MS`]), with retries off.
/// The broker closes a connection whose session expired at its next request, which would
/// fail that record (`retries=0`, idempotence off): every record delivered and read back
/// means the producer re-authenticated each connection in time. `send_one` sends one record
/// and waits for its outcome.
pub fn reauthenticates_before_the_session_expires(
    kafka: &SecureCluster,
    name: &str,
    send_one: &mut dyn FnMut(&Config, odradek_core::Record) -> crate::conformance::Outcome,
) {
    use odradek_core::{Acks, Record, SaslMechanism};
    let topic = format!("{name}-reauth");
    kafka.cluster().create_topic(&topic, 1, 1, &[]).unwrap();
    let mut config = sasl_base_config(
        kafka,
        SecurityProtocol::SaslPlaintext,
        SaslMechanism::ScramSha256,
    );
    config.acks = Acks::All;
    config.retries = 0;
    config.enable_idempotence = Some(false);
    let lifetime = Duration::from_millis(REAUTH_MS);
    let span = lifetime * 3 + lifetime / 2;
    let started = std::time::Instant::now();
    let mut sent = Vec::new();
    let mut outcomes = Vec::new();
    let mut i = 0;
    while started.elapsed() < span {
        let record = Record::new(topic.as_str()).value(format!("reauth-{i}"));
        let outcome = send_one(&config, record.clone());
        assert!(
            outcome.is_ok(),
            "{name}: record {i} at {:?}: {:?}",
            started.elapsed(),
            outcome.as_ref().err()
        );
        sent.push(record);
        outcomes.push(outcome);
        i += 1;
        // Pacing, not waiting for readiness: the test is about time passing.
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = kafka
        .cluster()
        .consume_topics(&[&topic], sent.len(), Duration::from_secs(60))
        .unwrap();
    crate::conformance::check_read_back(name, &sent, &outcomes, &read, true, false);
}
