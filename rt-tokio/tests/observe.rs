//! The observability scenarios (`odradek_driver::testing::observe`) on tokio: `stats()`, the
//! metrics names, and bootstrap resolution at `connect`. No tracing subscriber is installed
//! in this test binary (see `tests/tracing.rs`).

use odradek_driver::testing::observe;
use odradek_tokio::TokioRuntime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_after_producing() {
    observe::stats_after_producing::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_bootstrap() {
    observe::unresolvable_bootstrap::<TokioRuntime>().await;
}
