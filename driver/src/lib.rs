//! Runtime-agnostic async driver for odradek-core.
