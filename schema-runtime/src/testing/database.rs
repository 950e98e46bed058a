//! A migrated database per test, cloned from a template keyed by the migrations.
