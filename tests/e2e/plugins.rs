//! End-to-end tests: plugins (being written).
