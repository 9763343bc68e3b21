//! End-to-end tests: hostile (being written).
