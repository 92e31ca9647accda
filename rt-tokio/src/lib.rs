//! odradek-tokio
