//! End-to-end tests: faults (being written).
