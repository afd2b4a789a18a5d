//! `index.html`, the archive's page for people: opened from the unpacked archive, offline, without a server, a
//! script or a network, it shows the children, their records and files (links to the entries beside it), the grants
//! and the history. Written as a stream, collection by collection and page by page, like the rest of the archive.

use std::io::{self, Write};

use cartable_consent::ledger::Actor;
use cartable_consent::{Doctype, Grant, Grantee, MemberId, Role};
use cartable_vault::{LedgerFilter, MemberInfo, Permit, RecordDocument, Vault};

use crate::web::i18n::Lang;

/// What the page shows, gathered by the export.
pub(crate) struct Page<'a> {
    pub(crate) handle: &'a tokio::runtime::Handle,
    pub(crate) vault: &'a Vault,
    pub(crate) family_name: &'a str,
    pub(crate) exported_at: time::OffsetDateTime,
    pub(crate) members: &'a [MemberInfo],
    /// Each collection exported, with the permit it was exported under (read again here, not decided again).
    pub(crate) collections: &'a [(MemberId, Doctype, Permit)],
    pub(crate) grants: &'a [Grant],
    pub(crate) register: &'a Permit,
    pub(crate) ledger_size: u64,
}

/// Text escaped for HTML (element content and quoted attributes).
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a link's path component keeps as it is: RFC 3986's unreserved characters.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A path of the archive as a relative link (each component percent-encoded).
fn href(path: &str) -> String {
    path.split('/').map(|c| percent_encoding::utf8_percent_encode(c, COMPONENT).to_string()).collect::<Vec<_>>().join("/")
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1a1a1a}\
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:2px solid #2b5797}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;table-layout:fixed}\
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}th:first-child{width:6.5rem}#history th:first-child{width:3rem}th{background:#eef2f8}\
dl{margin:0}dt{font-weight:600;display:inline}dd{display:inline;margin:0 .8rem 0 .2rem}.small{color:#555;font-size:.9rem}";

impl Page<'_> {
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let fr = Lang::Fr;
        let name_of = |id: MemberId| self.members.iter().find(|m| m.id == id).map(|m| m.name.clone()).unwrap_or_else(|| id.to_string());
        write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'\">\
             <title>Cartable — {name}</title><style>{STYLE}</style></head><body>\n\
             <header><h1>Cartable — famille {name}</h1><p class=\"small\">Archive exportée le {at}. Les fichiers et les données brutes (JSON) sont à côté de cette page ; \
             <code>manifest.json</code> donne l'empreinte SHA-256 de chacun, et <code>cartable archive verify</code> vérifie l'ensemble et l'historique signé.</p></header>\n<nav><ul>",
            name = esc(self.family_name),
            at = esc(&fr.date_time(self.exported_at)),
        )?;
        let children: Vec<&MemberInfo> = self.members.iter().filter(|m| m.role == Role::Child).collect();
        for child in &children {
            write!(out, "<li><a href=\"#child-{}\">{}</a></li>", child.id, esc(&child.name))?;
        }
        writeln!(out, "<li><a href=\"#members\">Membres</a></li><li><a href=\"#grants\">Autorisations</a></li><li><a href=\"#history\">Historique</a></li></ul></nav><main>")?;
        for child in &children {
            let born = child.birth_date.map(|d| format!(" (né·e le {} {} {})", d.day(), fr.t(&format!("month-{}", u8::from(d.month()))), d.year())).unwrap_or_default();
            writeln!(out, "<section id=\"child-{}\"><h2>{}{}</h2>", child.id, esc(&child.name), esc(&born))?;
            for (_, doctype, permit) in self.collections.iter().filter(|(c, _, _)| *c == child.id) {
                writeln!(out, "<h3>{}</h3><table><thead><tr><th>Date</th><th>Contenu</th></tr></thead><tbody>", esc(&fr.t(&format!("child-title-{}", doctype.as_str().replace('.', "-")))))?;
                let mut after = None;
                loop {
                    let page = self.handle.block_on(self.vault.read_records(permit, after, 500)).map_err(io::Error::other)?;
                    for doc in &page {
                        self.record_row(out, doc)?;
                    }
                    if page.len() < 500 {
                        break;
                    }
                    after = page.last().map(|d| d.id);
                }
                writeln!(out, "</tbody></table>")?;
            }
            writeln!(out, "</section>")?;
        }
        writeln!(out, "<section id=\"members\"><h2>Membres</h2><table><thead><tr><th>Nom</th><th>Rôle</th><th>Date de naissance</th></tr></thead><tbody>")?;
        for m in self.members {
            let role = if m.role == Role::Child { "enfant" } else { "responsable" };
            writeln!(out, "<tr><td>{}</td><td>{role}</td><td>{}</td></tr>", esc(&m.name), m.birth_date.map(|d| d.to_string()).unwrap_or_default())?;
        }
        writeln!(out, "</tbody></table></section>")?;
        writeln!(out, "<section id=\"grants\"><h2>Autorisations</h2><table><thead><tr><th>Service</th><th>Enfant</th><th>Données</th><th>Actions</th><th>État</th><th>Finalité</th></tr></thead><tbody>")?;
        for g in self.grants {
            let doctypes: Vec<String> = g.doctypes.iter().map(|d| fr.doctype(*d)).collect();
            let actions: Vec<String> = g.actions.iter().map(|a| fr.action(*a)).collect();
            let state = fr.t(&format!("state-{}", serde_json::to_value(g.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()));
            writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&match g.grantee {
                    Grantee::Service(id) => format!("service {id}"),
                    Grantee::Member(id) => name_of(id),
                }),
                esc(&name_of(g.child)),
                esc(&fr.list(&doctypes)),
                esc(&fr.list(&actions)),
                esc(&state),
                esc(&g.purpose)
            )?;
        }
        writeln!(out, "</tbody></table></section>")?;
        writeln!(
            out,
            "<section id=\"history\"><h2>Historique</h2><p class=\"small\">Le registre des consentements de la famille ({} entrées), tel que signé par le serveur.</p>\
             <table><thead><tr><th>N°</th><th>Quand</th><th>Événement</th><th>Qui</th><th>Enfant</th><th>Données</th></tr></thead><tbody>",
            self.ledger_size
        )?;
        let mut next = 0u64;
        while next < self.ledger_size {
            let filter = LedgerFilter { after_index: next.checked_sub(1), limit: Some(1000), ..LedgerFilter::default() };
            let page = self.handle.block_on(self.vault.ledger_entries(self.register, &filter)).map_err(io::Error::other)?;
            if page.is_empty() {
                break;
            }
            for entry in page.iter().take_while(|e| e.index < self.ledger_size) {
                let r = &entry.receipt;
                let event = serde_json::to_value(r.event).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                let who = match r.actor {
                    Actor::Guardian(id) | Actor::Child(id) => name_of(id),
                    Actor::Service(id) => format!("service {id}"),
                    Actor::Dpo(id) => format!("DPO {id}"),
                    Actor::Operator => "l'opérateur".to_owned(),
                    Actor::OperatorFor(id) => format!("l'opérateur pour {}", name_of(id)),
                    Actor::System => "Cartable".to_owned(),
                };
                let categories: Vec<String> = r.data_categories.iter().map(|d| fr.doctype(*d)).collect();
                writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    entry.index,
                    esc(&fr.date_time(r.time)),
                    esc(&fr.t(&format!("event-{event}"))),
                    esc(&who),
                    esc(&r.principal.map(name_of).unwrap_or_default()),
                    esc(&fr.list(&categories))
                )?;
                next = entry.index + 1;
            }
        }
        writeln!(out, "</tbody></table></section></main></body></html>")
    }

    fn record_row(&self, out: &mut dyn Write, doc: &RecordDocument) -> io::Result<()> {
        let day = ["date", "due", "day"].iter().find_map(|f| doc.body.get(*f).and_then(|v| v.as_str()).map(str::to_owned)).unwrap_or_else(|| doc.created_at.date().to_string());
        write!(out, "<tr><td>{}</td><td>", esc(&day))?;
        match &doc.file {
            Some(info) => {
                let path = format!("children/{}/{}/files/{}/{}", doc.child, doc.doctype.as_str(), doc.id, cartable_export::file_component(&info.name));
                write!(out, "<a href=\"{}\">{}</a> <span class=\"small\">({} octets)</span>", href(&path), esc(&info.name), info.size)?;
            }
            None => {
                write!(out, "<dl>")?;
                if let Some(fields) = doc.body.as_object() {
                    for (key, value) in fields {
                        write!(out, "<dt>{}</dt><dd>{}</dd>", esc(key), esc(&value_text(value)))?;
                    }
                }
                write!(out, "</dl>")?;
            }
        }
        writeln!(out, "</td></tr>")
    }
}
