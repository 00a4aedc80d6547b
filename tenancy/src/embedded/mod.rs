//! Embedded adapters (SQLite + local keys). Being written.
