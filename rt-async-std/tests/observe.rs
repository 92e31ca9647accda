//! The observability scenarios (`odradek_driver::testing::observe`) on async-std: `stats()`, the
//! metrics names, and bootstrap resolution at `connect`. No tracing subscriber is installed
//! in this test binary (see `tests/tracing.rs`).

use odradek_async_std::AsyncStdRuntime;
use odradek_driver::testing::observe;

#[async_std::test]
async fn stats_after_producing() {
    observe::stats_after_producing::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn unresolvable_bootstrap() {
    observe::unresolvable_bootstrap::<AsyncStdRuntime>().await;
}
