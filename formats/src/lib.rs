//! Open education formats, read and checked by their specifications and turned into the bodies of Cartable's
//! records. It holds xAPI ([`xapi`]), Open Badges ([`badges`]) and OneRoster ([`oneroster`]).
//!
//! [`oneroster`] reads a OneRoster 1.1 / 1.2 CSV set through the caller's opener of its files (a folder, a zip),
//! manifest first, and gives the enrollments and results of the pupils the caller maps by `sourcedId` (nobody is
//! matched by name; other pupils' rows are dropped as they are read); an untidy row is a problem by file, line and
//! column, and the rest is read.
//!
//! [`badges`] reads Open Badges 2.0 assertions, Open Badges 3.0 credentials and CLR 2.0 learner records, whether
//! JSON, a VC-JWT or baked into a PNG (`iTXt`, inflated within a bound) or an SVG, checks their structure (contexts,
//! types, issuer, achievement, dates, expiry against a `now` the caller gives) and gives `edu.certificates` bodies.
//! Each body says what became of the signature: `verified` only when it was checked here, offline, with a key the
//! token carries or names as a `did:key`; `failed` when such a key does not match; `not_verified` with the reason
//! otherwise (a key at an `https` URL or a `did:web`, hosted verification, Data Integrity proofs), never silently.
//!
//! What it owns: the formats' syntax and rules, and the shape of the record bodies they give. What it does not:
//! files, the network, the database and the vault. The command line and the API open the input and write the
//! records; the vault decides who may.
//!
//! Invariants:
//! - no I/O beyond reading the `std::io::Read` or the bytes it is given; no network and no clock;
//! - no panic on any input: malformed JSON, invalid UTF-8, a truncated stream or nesting past 128 levels is an error
//!   with its position, a statement that breaks the spec is a list of violations;
//! - memory bounded per statement: a stream of any length is read one statement at a time, and one statement may
//!   span at most [`xapi::ReadLimits::max_statement_bytes`]; a badge's input, its inflated credential and its JSON
//!   nesting are bounded by [`badges::ReadLimits`].
//!
//! ```
//! use std::ops::ControlFlow;
//! use cartable_formats::xapi::{self, ReadLimits};
//!
//! let input = br#"{"actor": {"mbox": "mailto:leo@example.org"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
//!   "object": {"id": "http://school.example/quiz/1"}, "result": {"score": {"raw": 16, "max": 20}}}
//! {"actor": {"name": "no identifier"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}, "object": {"id": "http://school.example/quiz/1"}}"#;
//! let (mut bodies, mut refused) = (Vec::new(), Vec::new());
//! xapi::read_statements(&input[..], ReadLimits::STANDARD, |raw| {
//!     let line = raw.position.line;
//!     match raw.validate() {
//!         Ok(statement) => bodies.extend(statement.records()),
//!         Err(invalid) => refused.push((line, invalid.violations[0].rule.as_str())),
//!     }
//!     ControlFlow::Continue(())
//! })
//! .unwrap();
//! assert_eq!(bodies.iter().map(|b| b.doctype).collect::<Vec<_>>(), ["edu.activity", "edu.grades"]);
//! assert_eq!(bodies[1].body["grade"], 16);
//! assert_eq!(refused, [(3, "agent.ifi.exactly-one")]);
//! ```

pub mod badges;
pub mod oneroster;
mod record;
pub mod xapi;

pub use record::RecordBody;
