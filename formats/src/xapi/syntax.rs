//! The string syntaxes xAPI relies on: UUIDs, IRIs, ISO 8601 timestamps and durations, RFC 5646 language tags.
//! Each is a shape check on the text; none resolves or normalises anything.

/// A UUID in its standard string form (8-4-4-4-12 hexadecimal digits). The spec recommends, and does not require,
/// the RFC 4122 variant: its own example `12345678-1234-5678-1234-567812345678` is of another variant.
pub(crate) fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { *b == b'-' } else { b.is_ascii_hexdigit() })
}

/// An absolute IRI (RFC 3987): a scheme, a colon and something after it, with no character an IRI cannot hold
/// (spaces, controls, `<>"{}|\^` and the backquote) and every `%` followed by two hexadecimal digits.
pub(crate) fn is_absolute_iri(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else { return false };
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() {
        return false;
    }
    let forbidden = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`');
    if rest.chars().any(forbidden) {
        return false;
    }
    let bytes = rest.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%' || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

/// A `mailto:` IRI with an address (something on both sides of an `@`).
pub(crate) fn is_mailto(text: &str) -> bool {
    is_absolute_iri(text)
        && text.strip_prefix("mailto:").and_then(|address| address.split_once('@')).is_some_and(|(user, host)| !user.is_empty() && !host.is_empty())
}

fn digits(text: &str, n: usize) -> Option<u32> {
    (text.len() == n && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An ISO 8601 combined date and time in the extended format: `YYYY-MM-DDThh:mm:ss`, an optional decimal fraction of
/// the second, and an optional zone (`Z`, `±hh:mm`, `±hhmm` or `±hh`; ISO 8601 forbids `-00:00`). RFC 3339 times,
/// which the spec recommends, are all of this form. Dates are checked against the calendar (29 February only in leap
/// years); a leap second (`:60`) is allowed.
pub(crate) fn is_timestamp(text: &str) -> bool {
    let Some((date, time)) = text.split_once('T') else { return false };
    let mut date_parts = date.split('-');
    let (Some(year), Some(month), Some(day), None) = (date_parts.next(), date_parts.next(), date_parts.next(), date_parts.next()) else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (digits(year, 4), digits(month, 2), digits(day, 2)) else { return false };
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let (hms, fraction) = match clock.split_once(['.', ',']) {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let mut clock_parts = hms.split(':');
    let (Some(hour), Some(minute), Some(second), None) = (clock_parts.next(), clock_parts.next(), clock_parts.next(), clock_parts.next()) else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) = (digits(hour, 2), digits(minute, 2), digits(second, 2)) else { return false };
    if hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    is_zone(zone)
}

fn is_zone(zone: &str) -> bool {
    if zone.is_empty() || zone == "Z" {
        return true;
    }
    let (sign, offset) = zone.split_at(1);
    if sign != "+" && sign != "-" {
        return false;
    }
    let (hours, minutes) = match offset.len() {
        2 => (digits(offset, 2), Some(0)),
        4 => (digits(&offset[..2], 2), digits(&offset[2..], 2)),
        5 if offset.as_bytes()[2] == b':' => (digits(&offset[..2], 2), digits(&offset[3..], 2)),
        _ => return false,
    };
    let (Some(hours), Some(minutes)) = (hours, minutes) else { return false };
    hours <= 23 && minutes <= 59 && !(sign == "-" && hours == 0 && minutes == 0)
}

/// An ISO 8601:2004 duration in the format of section 4.4.3.2: `P`, then either weeks alone (`P2W`) or years, months
/// and days followed by `T` with hours, minutes and seconds, each optional but at least one present, in that order;
/// only the last component may have a decimal fraction. The alternative format (`P0001-02-03T...`) is refused, as the
/// spec requires.
pub(crate) fn is_duration(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('P') else { return false };
    if let Some(weeks) = rest.strip_suffix('W') {
        return is_number(weeks, true);
    }
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return false,
        None => (rest, None),
    };
    let mut components = Vec::new();
    if !split_components(date, &['Y', 'M', 'D'], &mut components) || !time.is_none_or(|t| split_components(t, &['H', 'M', 'S'], &mut components)) {
        return false;
    }
    let last = components.len().wrapping_sub(1);
    !components.is_empty() && components.iter().enumerate().all(|(i, number)| is_number(number, i == last))
}

/// Splits `12Y3M` into its numbers, checking the designators come in `order`, each at most once.
fn split_components<'a>(text: &'a str, order: &[char], out: &mut Vec<&'a str>) -> bool {
    let mut next = 0;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            continue;
        }
        let Some(place) = order[next..].iter().position(|d| *d == c) else { return false };
        next += place + 1;
        out.push(&text[start..at]);
        start = at + c.len_utf8();
    }
    start == text.len()
}

fn is_number(text: &str, fraction_allowed: bool) -> bool {
    let (whole, fraction) = match text.split_once(['.', ',']) {
        Some((whole, fraction)) if fraction_allowed => (whole, fraction),
        Some(_) => return false,
        None => (text, "0"),
    };
    !whole.is_empty() && !fraction.is_empty() && whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
}

/// The tags RFC 5646 keeps whole for history (section 2.2.8), which its grammar would not otherwise accept.
const GRANDFATHERED: [&str; 26] = [
    "en-GB-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux", "i-mingo", "i-navajo", "i-pwn", "i-tao",
    "i-tay", "i-tsu", "sgn-BE-FR", "sgn-BE-NL", "sgn-CH-DE", "art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka",
    "zh-min", "zh-min-nan", "zh-xiang",
];

/// A language tag with the sequence of subtags RFC 5646 section 2.1 gives: language (2–3 letters with up to three
/// extended subtags, or 4–8 letters), then optional script (4 letters), region (2 letters or 3 digits), variants,
/// extensions (a singleton and subtags of 2–8) and a private use part (`x-`); or a private use tag or a grandfathered
/// one. It is the check the spec asks of an LRS ("the sequence of token lengths"); subtags are not looked up in the
/// IANA registry.
pub(crate) fn is_language_tag(text: &str) -> bool {
    if GRANDFATHERED.iter().any(|g| g.eq_ignore_ascii_case(text)) {
        return true;
    }
    let subtags: Vec<&str> = text.split('-').collect();
    if subtags.iter().any(|s| s.is_empty() || s.len() > 8 || !s.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return false;
    }
    let alpha = |s: &str| s.bytes().all(|b| b.is_ascii_alphabetic());
    let digit = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let is_x = |s: &str| s.eq_ignore_ascii_case("x");
    let mut rest = &subtags[..];
    if is_x(rest[0]) {
        return is_private_use(&rest[1..]);
    }
    let language = rest[0];
    if !alpha(language) || language.len() < 2 {
        return false;
    }
    rest = &rest[1..];
    if language.len() <= 3 {
        let mut extlangs = 0;
        while extlangs < 3 && rest.first().is_some_and(|s| s.len() == 3 && alpha(s)) {
            rest = &rest[1..];
            extlangs += 1;
        }
    }
    if rest.first().is_some_and(|s| s.len() == 4 && alpha(s)) {
        rest = &rest[1..];
    }
    if rest.first().is_some_and(|s| (s.len() == 2 && alpha(s)) || (s.len() == 3 && digit(s))) {
        rest = &rest[1..];
    }
    let is_variant = |s: &str| (5..=8).contains(&s.len()) || (s.len() == 4 && s.as_bytes()[0].is_ascii_digit());
    while rest.first().is_some_and(|s| is_variant(s)) {
        rest = &rest[1..];
    }
    while rest.first().is_some_and(|s| s.len() == 1 && !is_x(s)) {
        let taken = rest[1..].iter().take_while(|s| s.len() >= 2).count();
        if taken == 0 {
            return false;
        }
        rest = &rest[1 + taken..];
    }
    match rest.first() {
        None => true,
        Some(s) if is_x(s) => is_private_use(&rest[1..]),
        Some(_) => false,
    }
}

fn is_private_use(subtags: &[&str]) -> bool {
    !subtags.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_in_standard_form_only() {
        assert!(is_uuid("7ccd3322-e1a5-411a-a67d-6a735c76f119"));
        assert!(is_uuid("7CCD3322-E1A5-411A-A67D-6A735C76F119"));
        assert!(is_uuid("12345678-1234-5678-1234-567812345678"));
        for bad in ["", "7ccd3322e1a5411aa67d6a735c76f119", "{7ccd3322-e1a5-411a-a67d-6a735c76f119}", "7ccd3322-e1a5-411a-a67d-6a735c76f11g"] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn iris_need_a_scheme_and_no_forbidden_characters() {
        for good in ["http://adlnet.gov/expapi/verbs/completed", "urn:uuid:1", "https://例え.jp/パス", "tag:a,2020:%2Fx", "mailto:a@b.c"] {
            assert!(is_absolute_iri(good), "{good}");
        }
        for bad in ["", "completed", "/relative/path", "http://a b", "1http://x", "http:", "http://x/%zz", "http://x/<y>", ":x"] {
            assert!(!is_absolute_iri(bad), "{bad}");
        }
        assert!(is_mailto("mailto:xapi@adlnet.gov"));
        assert!(!is_mailto("xapi@adlnet.gov"));
        assert!(!is_mailto("mailto:"));
        assert!(!is_mailto("mailto:@x"));
    }

    #[test]
    fn timestamps_by_iso_8601_and_the_calendar() {
        for good in [
            "2015-12-18T12:17:00+00:00",
            "2013-05-18T05:32:34.804+00:00",
            "2020-02-10T11:39:12.979Z",
            "2020-02-29T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2015-12-18T12:17:00",
            "2015-12-18T12:17:00+0530",
            "2015-12-18T12:17:00-08",
        ] {
            assert!(is_timestamp(good), "{good}");
        }
        for bad in [
            "",
            "2015-12-18",
            "2015-12-18 12:17:00Z",
            "2019-02-29T00:00:00Z",
            "2015-13-01T00:00:00Z",
            "2015-12-18T24:00:00Z",
            "2015-12-18T12:17Z",
            "2015-12-18T12:17:00.Z",
            "2015-12-18T12:17:00-00:00",
            "2015-12-18T12:17:00+25:00",
            "15-12-18T12:17:00Z",
            "2015-12-18T12:17:00ZZ",
            "2015-12-18T12:17:00Z05",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn durations_by_iso_8601_section_4_4_3_2() {
        for good in ["PT1H0M0S", "PT21H3M2S", "P1Y2M3DT4H5M6.5S", "P3W", "PT0.01S", "P1D", "PT1,5S", "PT1M"] {
            assert!(is_duration(good), "{good}");
        }
        for bad in ["", "P", "PT", "1H", "PT1S2M", "P1.5YT1S", "P0001-02-03T04:05:06", "PT-1S", "P1W2D", "PT1H1H", "PTS"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn language_tags_by_rfc_5646_shape() {
        for good in ["en", "en-US", "fr-FR", "tlh", "zh-Hant-TW", "sl-rozaj-biske", "de-CH-1901", "x-private", "en-a-bbb-x-a-ccc", "i-klingon", "es-419"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in ["", "e", "toolonglanguage", "en-", "en--US", "en_US", "123", "en-a", "x", "en-US-x"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
