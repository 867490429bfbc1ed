//! The integration test binary: one `mod` per file in `tests/it/`.

mod corpus;
