//! Integration tests: one binary, one module per file.

mod pty;
