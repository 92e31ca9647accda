//! odradek-sim
