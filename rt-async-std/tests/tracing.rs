//! odradek's tracing events on async-std, seen by a global capturing subscriber (its own test
//! binary: the subscriber is process-wide).

use odradek_async_std::AsyncStdRuntime;
use odradek_driver::testing::capture::Capture;
use odradek_driver::testing::observe;

#[async_std::test]
async fn tracing_events() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.subscriber()).unwrap();
    observe::tracing_events::<AsyncStdRuntime>(&capture).await;
}
