//! The observability scenarios (`odradek_driver::testing::observe`) on smol: `stats()`, the
//! metrics names, and bootstrap resolution at `connect`. No tracing subscriber is installed
//! in this test binary (see `tests/tracing.rs`).

use odradek_driver::testing::observe;
use odradek_smol::SmolRuntime;

#[test]
fn stats_after_producing() {
    smol::block_on(async {
        observe::stats_after_producing::<SmolRuntime>().await;
    });
}

#[test]
fn unresolvable_bootstrap() {
    smol::block_on(async {
        observe::unresolvable_bootstrap::<SmolRuntime>().await;
    });
}
