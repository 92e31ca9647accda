//! Smoke test against a real Kafka: `cargo xtask kafka start`, then
//! `ODRADEK_BOOTSTRAP=<address> cargo test -p odradek-async-std --test real_kafka -- --ignored`.

use odradek_async_std::AsyncStdRuntime;
use odradek_driver::testing::scenarios;

#[async_std::test]
#[ignore = "needs a running Kafka; set ODRADEK_BOOTSTRAP (and ODRADEK_TOPIC)"]
async fn real_broker_smoke() {
    let bootstrap = std::env::var("ODRADEK_BOOTSTRAP").expect("ODRADEK_BOOTSTRAP=host:port");
    // The project's brokers do not auto-create topics: create it first
    // (`cargo xtask kafka topic create odradek-smoke --partitions 3`).
    let topic = std::env::var("ODRADEK_TOPIC").unwrap_or_else(|_| "odradek-smoke".to_owned());
    scenarios::real_broker_smoke::<AsyncStdRuntime>(&bootstrap, &topic).await;
}
