//! xAPI statements (one, an array, or one a line) for one child: each valid statement is an `edu.activity` record,
//! and a graded one an `edu.grades` record too, both keyed by the statement's id.

use std::ops::ControlFlow;
use std::str::FromStr;

use anyhow::anyhow;
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Doctype, MemberId};
use cartable_formats::xapi::{self, ReadLimits};

use super::{Item, Problem, Read, Source};

/// Opens the input from its start (a file, or bytes held in memory).
pub(crate) type Open = Box<dyn Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync>;

pub(crate) struct Statements {
    pub(crate) open: Open,
    pub(crate) child: MemberId,
}

impl Source for Statements {
    fn format(&self) -> ImportFormat {
        ImportFormat::Xapi
    }

    fn read(&self, each: &mut dyn FnMut(Read)) -> anyhow::Result<()> {
        let input = (self.open)().map_err(|e| anyhow!("the input cannot be read ({})", e.kind()))?;
        let mut failed = None;
        xapi::read_statements(input, ReadLimits::STANDARD, |raw| {
            let line = raw.position.line;
            match raw.validate() {
                Ok(statement) => {
                    for record in statement.records() {
                        match Doctype::from_str(record.doctype) {
                            Ok(doctype) => each(Read::Item(Item { child: self.child, doctype, key: record.dedupe_key, body: record.body })),
                            Err(e) => {
                                failed = Some(anyhow!("{e}"));
                                return ControlFlow::Break(());
                            }
                        }
                    }
                }
                Err(invalid) => {
                    let first = &invalid.violations[0];
                    let mut message = first.message.clone();
                    if invalid.violations.len() > 1 {
                        let others: Vec<String> = invalid.violations[1..].iter().map(|v| format!("{} at `{}`", v.rule, v.path)).collect();
                        message.push_str(&format!("; also {}", others.join(", ")));
                    }
                    let problem = Problem { line, rule: first.rule.as_str().to_owned(), path: first.path.clone(), message };
                    each(Read::Problem(problem, Some((self.child, Doctype::Activity))));
                }
            }
            ControlFlow::Continue(())
        })
        .map_err(|e| anyhow!("the input is not xAPI statements: {e}"))?;
        failed.map_or(Ok(()), Err)
    }
}
