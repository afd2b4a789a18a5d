//! Words: every label in French (the default) and English, from `locales/*/main.ftl` (compiled into the binary),
//! and dates and numbers in each language's conventions (`mardi 3 décembre`, `15,5/20`).

use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use cartable_consent::{Action, Doctype, LegalBasis};
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader as _, langid};
use time::OffsetDateTime;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "fr",
        // Without this, every placeholder is wrapped in U+2068/U+2069 marks that show in HTML.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "cartable_lang";

static FRENCH: LanguageIdentifier = langid!("fr");
static ENGLISH: LanguageIdentifier = langid!("en");

/// The languages of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Fr => &FRENCH,
            Lang::En => &ENGLISH,
        }
    }

    /// The language chosen before (the cookie), else the first of `Accept-Language` we speak, else French.
    pub fn of_request(headers: &HeaderMap) -> Lang {
        if let Some(lang) = crate::api::extract::cookie(headers, LANG_COOKIE).and_then(|c| Lang::from_code(&c)) {
            return lang;
        }
        let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut offers: Vec<(f32, Lang)> = accepted
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.trim().split(';');
                let tag = pieces.next()?.trim().to_ascii_lowercase();
                let quality = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
                let primary = tag.split('-').next()?;
                Lang::from_code(primary).map(|lang| (quality, lang))
            })
            .collect();
        // The highest quality first; among equals, the order given.
        offers.sort_by(|a, b| b.0.total_cmp(&a.0));
        offers.first().map_or(Lang::Fr, |(_, lang)| *lang)
    }

    /// The label of `key`.
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(self.id(), key)
    }

    /// The label of `key` with its placeholders filled.
    pub fn t_with(self, key: &str, args: &[(&'static str, Arg)]) -> String {
        let mut fluent: HashMap<Cow<'static, str>, FluentValue<'static>> = HashMap::with_capacity(args.len() * 2);
        for (name, value) in args {
            match value {
                Arg::Text(text) => {
                    // Every text also as `<name>_de`, the French "de" before it, elided before a vowel or a mute h
                    // ("de Léa", "d'Inès"): Fluent has no such rule of its own.
                    fluent.insert(Cow::Owned(format!("{name}_de")), FluentValue::from(self.of(text)));
                    fluent.insert(Cow::Borrowed(*name), FluentValue::from(text.clone()));
                }
                Arg::Number(n) => {
                    fluent.insert(Cow::Borrowed(*name), FluentValue::from(*n));
                }
            }
        }
        LOCALES.lookup_with_args(self.id(), key, &fluent)
    }

    /// "de Léa", "d'Inès" in French; "of Léa" in English.
    fn of(self, name: &str) -> String {
        match self {
            Lang::Fr if name.chars().next().is_some_and(elides) => format!("d'{name}"),
            Lang::Fr => format!("de {name}"),
            Lang::En => format!("of {name}"),
        }
    }

    pub fn doctype(self, doctype: Doctype) -> String {
        self.t(&doctype_key(doctype))
    }

    pub fn action(self, action: Action) -> String {
        self.t(&format!("action-{}", action.as_str()))
    }

    pub fn legal_basis(self, basis: LegalBasis) -> String {
        self.t(&format!("basis-{}", basis.as_str()))
    }

    /// `a, b et c`.
    pub fn list(self, items: &[String]) -> String {
        match items {
            [] => String::new(),
            [one] => one.clone(),
            [init @ .., last] => format!("{} {} {last}", init.join(", "), self.t("list-and")),
        }
    }

    /// `mardi 3 décembre` (with the year when it is not this year's); `Tuesday 3 December`.
    pub fn date(self, at: OffsetDateTime) -> String {
        let date = at.date();
        let weekday = self.t(&format!("weekday-{}", date.weekday().number_from_monday()));
        let month = self.t(&format!("month-{}", u8::from(date.month())));
        // French writes the first of the month as an ordinal: `mardi 1er décembre`.
        let day = if self == Lang::Fr && date.day() == 1 { "1er".to_owned() } else { date.day().to_string() };
        let this_year = OffsetDateTime::now_utc().year() == date.year();
        let mut args = vec![("weekday", Arg::Text(weekday)), ("day", Arg::Text(day)), ("month", Arg::Text(month))];
        if this_year {
            self.t_with("date-long", &args)
        } else {
            args.push(("year", Arg::Text(date.year().to_string())));
            self.t_with("date-long-year", &args)
        }
    }

    /// `mardi 3 décembre à 14 h 05`; `Tuesday 3 December at 14:05` (UTC for now: the server does not know the
    /// family's time zone yet).
    pub fn date_time(self, at: OffsetDateTime) -> String {
        let minute = format!("{:02}", at.minute());
        self.t_with("date-time", &[("date", Arg::Text(self.date(at))), ("hour", Arg::Text(at.hour().to_string())), ("minute", Arg::Text(minute))])
    }

    /// A decimal number as this language writes it: `15,5` in French, `15.5` in English; at most two decimals.
    pub fn number(self, value: f64) -> String {
        let text = format!("{value:.2}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        match self {
            Lang::Fr => text.replace('.', ","),
            Lang::En => text.to_owned(),
        }
    }
}

/// A placeholder's value.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Number(f64),
}

/// Whether French elides "de" before a word starting with this letter: a vowel, or an h (mute in most first
/// names: "d'Hélène", "d'Hugo"). Not y, which is a consonant in first names ("de Yanis").
fn elides(first: char) -> bool {
    first.to_lowercase().next().is_some_and(|c| "aeiouhàâäéèêëîïôöùûüœæ".contains(c))
}

fn doctype_key(doctype: Doctype) -> String {
    format!("doctype-{}", doctype.as_str().replace('.', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message ids of a Fluent file: lines that start with an identifier and `=`.
    fn keys(text: &str) -> Vec<String> {
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn french_and_english_have_the_same_keys() {
        let fr = keys(include_str!("../../locales/fr/main.ftl"));
        let en = keys(include_str!("../../locales/en/main.ftl"));
        assert!(fr.len() > 100, "the French file was not read: {} keys", fr.len());
        let only_fr: Vec<_> = fr.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !fr.contains(k)).collect();
        assert!(only_fr.is_empty() && only_en.is_empty(), "only in French: {only_fr:?}; only in English: {only_en:?}");
        let mut deduped = fr.clone();
        deduped.dedup();
        assert_eq!(deduped, fr, "a key is defined twice");
    }

    #[test]
    fn every_key_the_code_and_templates_name_exists_in_both_languages() {
        let mut sources = Vec::new();
        for dir in ["templates", "src/web"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(&dir).unwrap() {
                sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        let mut named = Vec::new();
        for text in &sources {
            for call in [".t(\"", ".t_with(\""] {
                for piece in text.split(call).skip(1) {
                    if let Some(key) = piece.split('"').next().filter(|k| !k.is_empty() && !k.contains(' ') && !k.contains('{')) {
                        named.push(key.to_owned());
                    }
                }
            }
        }
        assert!(named.len() > 30, "too few keys found in the sources: {}", named.len());
        // The keys made from the vocabulary.
        named.extend(Doctype::ALL.iter().map(|d| doctype_key(*d)));
        named.extend(Action::ALL.iter().map(|a| format!("action-{}", a.as_str())));
        named.extend(
            ["consent", "contract", "legal-obligation", "vital-interest", "public-task", "legitimate-interest"].map(|b| format!("basis-{}", b.parse::<LegalBasis>().unwrap().as_str())),
        );
        named.extend(cartable_consent::ledger::EventType::ALL.iter().map(|e| format!("event-{}", e.as_str())));
        named.extend(["requested", "active", "denied", "revoked", "expired", "awaiting_confirmation"].map(|s| format!("state-{s}")));
        named.extend((1..=7).map(|d| format!("weekday-{d}")).chain((1..=12).map(|m| format!("month-{m}"))));
        let files = [("fr", include_str!("../../locales/fr/main.ftl")), ("en", include_str!("../../locales/en/main.ftl"))];
        for (code, text) in files {
            let defined = keys(text);
            let missing: Vec<_> = named.iter().filter(|k| !defined.contains(k)).collect();
            assert!(missing.is_empty(), "missing in {code}: {missing:?}");
        }
    }

    #[test]
    fn french_elides_de_before_a_vowel() {
        let heading = |name: &str| Lang::Fr.t_with("child-heading-edu-grades", &[("child", Arg::Text(name.to_owned()))]);
        assert_eq!(heading("Inès"), "Les notes d'Inès");
        assert_eq!(heading("Émile"), "Les notes d'Émile");
        assert_eq!(heading("Hélène"), "Les notes d'Hélène");
        assert_eq!(heading("Léa"), "Les notes de Léa");
        assert_eq!(heading("Yanis"), "Les notes de Yanis");
        let en = Lang::En.t_with("child-heading-edu-grades", &[("child", Arg::Text("Inès".to_owned()))]);
        assert!(en.contains("Inès") && !en.contains("d'"), "{en}");
    }

    #[test]
    fn dates_and_numbers_follow_each_language() {
        let at = time::macros::datetime!(2030-12-03 14:05 UTC);
        assert_eq!(Lang::Fr.date(at), "mardi 3 décembre 2030");
        assert_eq!(Lang::En.date(at), "Tuesday 3 December 2030");
        assert_eq!(Lang::Fr.date_time(at), "mardi 3 décembre 2030 à 14 h 05");
        let this_year = OffsetDateTime::now_utc();
        assert!(!Lang::Fr.date(this_year).contains(&this_year.year().to_string()));
        assert_eq!(Lang::Fr.date(time::macros::datetime!(2030-12-01 08:00 UTC)), "dimanche 1er décembre 2030");
        assert_eq!(Lang::Fr.number(15.5), "15,5");
        assert_eq!(Lang::En.number(15.5), "15.5");
        assert_eq!(Lang::Fr.number(12.0), "12");
        assert_eq!(Lang::Fr.number(13.333), "13,33");
        assert_eq!(Lang::Fr.list(&["a".into(), "b".into(), "c".into()]), "a, b et c");
        assert_eq!(Lang::Fr.t_with("home-records", &[("count", Arg::Number(3.0))]), "3 éléments");
        assert_eq!(Lang::En.t_with("home-hello", &[("name", Arg::Text("Claire".into()))]), "Hello Claire");
    }

    #[test]
    fn the_language_comes_from_the_cookie_then_accept_language() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of_request(&headers), Lang::Fr);
        headers.insert(header::ACCEPT_LANGUAGE, "en-GB,en;q=0.9,fr;q=0.5".parse().unwrap());
        assert_eq!(Lang::of_request(&headers), Lang::En);
        headers.insert(header::ACCEPT_LANGUAGE, "de,fr;q=0.8,en;q=0.5".parse().unwrap());
        assert_eq!(Lang::of_request(&headers), Lang::Fr);
        headers.insert(header::COOKIE, format!("{LANG_COOKIE}=en").parse().unwrap());
        assert_eq!(Lang::of_request(&headers), Lang::En);
    }
}
