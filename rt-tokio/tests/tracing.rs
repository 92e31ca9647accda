//! odradek's tracing events on tokio, seen by a global capturing subscriber (its own test
//! binary: the subscriber is process-wide).

use odradek_driver::testing::capture::Capture;
use odradek_driver::testing::observe;
use odradek_tokio::TokioRuntime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_events() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.subscriber()).unwrap();
    observe::tracing_events::<TokioRuntime>(&capture).await;
}
