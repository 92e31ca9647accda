//! TLS and SASL on every runtime against one secured Kafka (`odradek_tests::secure`): the
//! conformance runs over the mutual-TLS `SSL` listener, `SASL_PLAINTEXT` with SCRAM-SHA-256
//! and `SASL_SSL` with SCRAM-SHA-512, shortened runs over `SASL_PLAINTEXT` with PLAIN and
//! SCRAM-SHA-512, the TLS failures and the wrong password, for tokio, async-std, smol and mio,
//! sharing one broker start.
//! Runs only with `ODRADEK_KAFKA=1` (`cargo xtask test`).

// The core's SendError/DeliveryError hand the record back by value, by design.
#![allow(clippy::result_large_err)]

// The harness's own checks with Kafka's console clients, on the same broker.
#[path = "tls/harness.rs"]
mod harness;

fn block_on_tokio<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

odradek_tests::async_runtime!(Tokio, "tokio", odradek_tokio, block_on_tokio);
odradek_tests::async_runtime!(
    AsyncStd,
    "async-std",
    odradek_async_std,
    async_std::task::block_on
);
odradek_tests::async_runtime!(Smol, "smol", odradek_smol, smol::block_on);
use odradek_tests::conformance::Mio;

odradek_tests::tls_tests!(Tokio, tokio_rt);
odradek_tests::tls_tests!(AsyncStd, async_std_rt);
odradek_tests::tls_tests!(Smol, smol_rt);
odradek_tests::tls_tests!(Mio, mio_rt);

odradek_tests::sasl_tests!(Tokio, tokio_sasl);
odradek_tests::sasl_tests!(AsyncStd, async_std_sasl);
odradek_tests::sasl_tests!(Smol, smol_sasl);
odradek_tests::sasl_tests!(Mio, mio_sasl);

/// KIP-368 on the real broker, per runtime: one producer outlives several SCRAM sessions.
mod reauth {
    use odradek_tests::conformance::{Failure, Outcome};
    use odradek_tests::kafka::should_run;
    use odradek_tests::secure::{self, SecureCluster};

    macro_rules! async_reauth {
        ($test:ident, $adapter:ident, $name:literal, $block_on:expr) => {
            #[test]
            fn $test() {
                if !should_run(stringify!($test)) {
                    return;
                }
                let kafka = SecureCluster::shared().unwrap();
                let mut producer: Option<$adapter::Producer> = None;
                secure::reauthenticates_before_the_session_expires(
                    kafka,
                    $name,
                    &mut |config, record| -> Outcome {
                        $block_on(async {
                            if producer.is_none() {
                                producer = Some(
                                    $adapter::Producer::connect(config.clone())
                                        .await
                                        .expect("valid config"),
                                );
                            }
                            match producer.as_ref().expect("open").send(record).await {
                                Ok(delivery) => delivery.await.map_err(Failure::Delivery),
                                Err(e) => Err(Failure::Refused(e)),
                            }
                        })
                    },
                );
                let report = $block_on(producer.expect("used").close());
                assert_eq!(report.failed, 0);
            }
        };
    }

    fn tokio_block_on<F: std::future::Future>(f: F) -> F::Output {
        thread_local! {
            static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
        }
        RT.with(|rt| rt.block_on(f))
    }

    async_reauth!(
        tokio_reauthenticates,
        odradek_tokio,
        "tokio",
        tokio_block_on
    );
    async_reauth!(
        async_std_reauthenticates,
        odradek_async_std,
        "async-std",
        async_std::task::block_on
    );
    async_reauth!(smol_reauthenticates, odradek_smol, "smol", smol::block_on);

    #[test]
    fn mio_reauthenticates() {
        if !should_run("mio_reauthenticates") {
            return;
        }
        let kafka = SecureCluster::shared().unwrap();
        let mut producer: Option<odradek_mio::BlockingProducer> = None;
        secure::reauthenticates_before_the_session_expires(kafka, "mio", &mut |config, record| {
            let p = producer.get_or_insert_with(|| {
                odradek_mio::BlockingProducer::connect(config.clone()).expect("valid config")
            });
            match p.send(record) {
                Ok(receipt) => receipt.wait().map_err(Failure::Delivery),
                Err(e) => Err(Failure::Refused(e)),
            }
        });
        assert_eq!(producer.expect("used").close().failed, 0);
    }
}
