//! odradek's tracing events on smol, seen by a global capturing subscriber (its own test
//! binary: the subscriber is process-wide).

use odradek_driver::testing::capture::Capture;
use odradek_driver::testing::observe;
use odradek_smol::SmolRuntime;

#[test]
fn tracing_events() {
    smol::block_on(async {
        let capture = Capture::default();
        tracing::subscriber::set_global_default(capture.subscriber()).unwrap();
        observe::tracing_events::<SmolRuntime>(&capture).await;
    });
}
