//! Every down file checked against its migration: apply, revert, compare, apply again.
