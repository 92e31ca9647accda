//! Smoke test against a real Kafka: `cargo xtask kafka start`, then
//! `ODRADEK_BOOTSTRAP=<address> cargo test -p odradek-smol --test real_kafka -- --ignored`.

use odradek_driver::testing::scenarios;
use odradek_smol::SmolRuntime;

#[test]
#[ignore = "needs a running Kafka; set ODRADEK_BOOTSTRAP (and ODRADEK_TOPIC)"]
fn real_broker_smoke() {
    smol::block_on(async {
        let bootstrap = std::env::var("ODRADEK_BOOTSTRAP").expect("ODRADEK_BOOTSTRAP=host:port");
        // The project's brokers do not auto-create topics: create it first
        // (`cargo xtask kafka topic create odradek-smoke --partitions 3`).
        let topic = std::env::var("ODRADEK_TOPIC").unwrap_or_else(|_| "odradek-smoke".to_owned());
        scenarios::real_broker_smoke::<SmolRuntime>(&bootstrap, &topic).await;
    });
}
