//! Cross-runtime conformance and real-broker test support.
