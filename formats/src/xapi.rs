//! xAPI (the Experience API, IEEE 9274.1.1) statements: read from a stream, checked against the data rules of
//! xAPI 1.0.3 (and the 2.0 additions to a statement's context), and turned into record bodies.
//!
//! Three steps, each usable alone: [`read_statements`] hands out JSON values one at a time with their position;
//! [`validate`] checks one and gives a [`ValidStatement`] or every [`Violation`]; [`ValidStatement::records`] gives
//! its `edu.activity` body and, for a graded outcome, its `edu.grades` body.
//!
//! A key given twice in one object is seen by the reader ([`RawStatement::repeated_keys`]) and reported by
//! [`RawStatement::validate`]; [`validate`] takes a `serde_json::Value`, where it cannot be seen.
//!
//! Not checked: a `timestamp` in the future
//! (this crate has no clock), signatures of signed statements, and whether IRIs resolve or language subtags are
//! registered.

mod json;
mod read;
mod records;
mod syntax;
mod validate;

pub use read::{Position, RawStatement, ReadError, ReadLimits, read_statements};
pub use records::{ACTIVITY_DOCTYPE, GRADES_DOCTYPE, InvalidStatement, RecordBody, ValidStatement, validate};
pub use validate::{Rule, Violation};
