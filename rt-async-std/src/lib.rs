//! odradek-async-std
