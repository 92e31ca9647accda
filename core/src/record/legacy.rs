//! Legacy MessageSet v0/v1.
