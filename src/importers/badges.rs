//! Open Badges 2.0 assertions, 3.0 credentials and CLR 2.0 learner records (JSON, VC-JWT, a baked PNG or SVG) for one
//! child: each credential that breaks no rule is an `edu.certificates` record saying what its signature check found
//! (a CLR gives one for itself and one for each credential it includes); one that breaks a rule (an expired one
//! too) is refused.

use std::io::Read as _;
use std::str::FromStr;

use anyhow::anyhow;
use cartable_consent::ledger::ImportFormat;
use cartable_consent::{Doctype, MemberId};
use cartable_formats::badges::{self, ReadLimits};
use time::OffsetDateTime;

use super::xapi::Open;
use super::{Item, Problem, Read, Source};

pub(crate) struct Badges {
    pub(crate) open: Open,
    pub(crate) child: MemberId,
    /// What "expired" and "not yet valid" are measured against.
    pub(crate) now: OffsetDateTime,
}

impl Source for Badges {
    fn format(&self) -> ImportFormat {
        ImportFormat::OpenBadges
    }

    fn read(&self, each: &mut dyn FnMut(Read)) -> anyhow::Result<()> {
        let limits = ReadLimits::STANDARD;
        let input = (self.open)().map_err(|e| anyhow!("the input cannot be read ({})", e.kind()))?;
        let mut bytes = Vec::new();
        input.take(limits.max_input_bytes + 1).read_to_end(&mut bytes).map_err(|e| anyhow!("the input cannot be read ({})", e.kind()))?;
        let credentials = badges::read(&bytes, limits, self.now).map_err(|e| anyhow!("the input is not an Open Badge: {e}"))?;
        for (rank, credential) in credentials.iter().enumerate() {
            match credential.violations() {
                [] => {
                    for record in credential.records() {
                        let doctype = Doctype::from_str(record.doctype).map_err(|e| anyhow!("{e}"))?;
                        each(Read::Item(Item { child: self.child, doctype, key: record.dedupe_key, body: record.body }));
                    }
                }
                [first, others @ ..] => {
                    let mut message = first.message.clone();
                    if !others.is_empty() {
                        let named: Vec<String> = others.iter().map(|v| format!("{} at `{}`", v.rule, v.path)).collect();
                        message.push_str(&format!("; also {}", named.join(", ")));
                    }
                    let problem = Problem { line: rank as u64 + 1, rule: first.rule.as_str().to_owned(), path: first.path.clone(), message };
                    each(Read::Problem(problem, Some((self.child, Doctype::Certificates))));
                }
            }
        }
        Ok(())
    }
}
