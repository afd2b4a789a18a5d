//! Search from the command line: `cartable search`, and `cartable reindex` to rebuild the indexes from the vault.

use anyhow::anyhow;
use cartable_consent::{Action, Doctype, FamilyId, MemberId, Resource};
use cartable_vault::{MAX_SEARCH_PAGE, SearchQuery};
use clap::Args;
use serde_json::json;

use super::console::Console;

#[derive(Debug, Args)]
pub(super) struct SearchCmd {
    #[arg(long)]
    family: FamilyId,
    /// Only this child's records.
    #[arg(long)]
    child: Option<MemberId>,
    /// Only this doctype, e.g. `edu.grades`.
    #[arg(long)]
    doctype: Option<Doctype>,
    /// The period, by the record's day (YYYY-MM-DD), both ends included.
    #[arg(long, value_parser = parse_day)]
    from: Option<time::Date>,
    #[arg(long, value_parser = parse_day)]
    to: Option<time::Date>,
    /// Skip this many results.
    #[arg(long, default_value_t = 0)]
    offset: u32,
    /// Results to show, 1 to 100.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Words (all must match), "a phrase", -word to exclude, prefix*.
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct ReindexCmd {
    /// Only this family; default: every family.
    #[arg(long)]
    family: Option<FamilyId>,
}

fn parse_day(value: &str) -> Result<time::Date, String> {
    time::Date::parse(value, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| "a date is YYYY-MM-DD".to_owned())
}

impl SearchCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        if !(1..=MAX_SEARCH_PAGE).contains(&self.limit) {
            return Err(anyhow!("--limit is from 1 to {MAX_SEARCH_PAGE}"));
        }
        let (vault, _) = console.open().await?;
        // The operator's search is decided and logged like anyone's: the family, or the one collection asked for.
        let resource = match (self.child, self.doctype) {
            (Some(child), Some(doctype)) => Resource::Collection { child, doctype },
            _ => Resource::Family,
        };
        let query = SearchQuery {
            text: self.query.join(" "),
            child: self.child,
            doctype: self.doctype,
            from: self.from,
            to: self.to,
            offset: self.offset,
            limit: self.limit,
        };
        cartable_search::Query::parse(&query.text).map_err(|e| anyhow!("{e}"))?;
        let permit = vault.as_operator(self.family, Action::Search, resource).await?;
        let outcome = vault.search(&[&permit], &query).await?;
        vault.close().await?;
        let results = crate::api::search::wire_results(outcome, query.offset, query.limit);
        let value = serde_json::to_value(&results)?;
        console.out.emit(value, || {
            let mut lines = vec![format!("{} found", results.total)];
            for hit in &results.hits {
                lines.push(format!(
                    "{}  {}  {}  {}  {}",
                    hit.record_id,
                    hit.doctype,
                    hit.child_id,
                    hit.day.as_deref().unwrap_or("-"),
                    if hit.title.is_empty() { "(untitled)" } else { &hit.title }
                ));
                lines.push(format!("    {}", marked(&hit.snippet, &hit.highlights)));
            }
            if results.unreadable_files > 0 {
                lines.push(format!("{} files in these collections could not be read; they are found by name only", results.unreadable_files));
            }
            if let Some(next) = results.next_offset {
                lines.push(format!("more: --offset {next}"));
            }
            lines.join("\n")
        });
        Ok(())
    }
}

/// A snippet with its found words between `[` and `]`, on one line.
fn marked(snippet: &str, highlights: &[cartable_sdk::Highlight]) -> String {
    let mut out = String::with_capacity(snippet.len() + 2 * highlights.len());
    let mut at = 0;
    for h in highlights {
        let (Some(before), Some(word)) = (snippet.get(at..h.start), snippet.get(h.start..h.end)) else { continue };
        out.push_str(before);
        out.push('[');
        out.push_str(word);
        out.push(']');
        at = h.end;
    }
    out.push_str(snippet.get(at..).unwrap_or_default());
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ReindexCmd {
    pub(super) async fn run(self, console: &Console) -> anyhow::Result<()> {
        let (vault, _) = console.open().await?;
        let families = match self.family {
            Some(family) => vec![family],
            None => vault.list_families().await?,
        };
        let mut lines = Vec::with_capacity(families.len());
        for family in families {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} records indexed ({elapsed}) {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(family.to_string());
            let indexed = vault
                .reindex(family, &|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish_and_clear();
            lines.push(json!({"family_id": family, "indexed": indexed}));
        }
        vault.close().await?;
        console.out.emit(json!({"families": lines}), || {
            lines.iter().map(|l| format!("{}  {} records indexed", l["family_id"].as_str().unwrap_or_default(), l["indexed"])).collect::<Vec<_>>().join("\n")
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_words_are_bracketed_on_one_line() {
        let h = |start, end| cartable_sdk::Highlight { start, end };
        assert_eq!(marked("une élève\nen maths", &[h(4, 11), h(15, 20)]), "une [élève] en [maths]");
        // A range that does not fall on characters is skipped, never a panic.
        assert_eq!(marked("élève", &[h(1, 2)]), "élève");
    }
}
