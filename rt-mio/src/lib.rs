//! odradek-mio
