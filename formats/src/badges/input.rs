//! What the bytes are: JSON, a compact JWS, or a badge baked into a PNG or an SVG; each read within its bounds.

use std::io::Read;

use flate2::read::ZlibDecoder;

/// How much one input may take, so that memory stays bounded whatever the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The most bytes of input (a PNG, an SVG, a JSON document or a JWS).
    pub max_input_bytes: u64,
    /// The most bytes a compressed `iTXt` chunk of a PNG may inflate to.
    pub max_inflated_bytes: u64,
    /// The deepest nesting of arrays and objects in a JSON document (serde_json stops at 128 whatever this says).
    pub max_json_depth: u32,
    /// The most credentials one input gives (a CLR and the credentials it includes).
    pub max_credentials: u32,
}

impl ReadLimits {
    /// 16 MiB of input (a baked PNG is mostly its picture), 1 MiB of inflated credential, 64 levels, 1,000 credentials.
    pub const STANDARD: ReadLimits =
        ReadLimits { max_input_bytes: 16 * 1024 * 1024, max_inflated_bytes: 1024 * 1024, max_json_depth: 64, max_credentials: 1000 };
}

/// Why no credential could be read from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadgeError {
    #[error("the input is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the input is not an Open Badge: {reason}")]
    Unrecognised { reason: String },
    #[error("the JSON is not well-formed: {reason}")]
    Malformed { reason: String },
    #[error("the JSON is nested deeper than {limit} levels")]
    TooDeep { limit: u32 },
    #[error("the PNG's credential inflates past {limit} bytes")]
    InflatedTooLarge { limit: u64 },
    #[error("the PNG cannot be read: {reason}")]
    Png { reason: String },
    #[error("the SVG cannot be read: {reason}")]
    Svg { reason: String },
    #[error("the JWS cannot be read: {reason}")]
    Jws { reason: String },
    #[error("a `{kind}` document awards nothing: it is not a credential")]
    NotAnAward { kind: String },
    #[error("the baked badge holds only the address `{url}` of its assertion, which needs the network")]
    HostedOnly { url: String },
    #[error("the input holds more than {limit} credentials")]
    TooManyCredentials { limit: u32 },
}

/// Where a credential's text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    Plain,
    Png,
    Svg,
}

impl Container {
    pub(crate) fn as_str(self) -> Option<&'static str> {
        match self {
            Container::Plain => None,
            Container::Png => Some("png"),
            Container::Svg => Some("svg"),
        }
    }
}

/// The credential's text: a JSON document or a compact JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    Json(String),
    Jws(String),
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Tells what `input` is and gives the credential's text, unbaked when it was baked.
pub(crate) fn unwrap(input: &[u8], limits: ReadLimits) -> Result<(Container, Payload), BadgeError> {
    if input.len() as u64 > limits.max_input_bytes {
        return Err(BadgeError::TooLarge { limit: limits.max_input_bytes });
    }
    if input.starts_with(PNG_SIGNATURE) {
        let text = png_credential(input, limits.max_inflated_bytes)?;
        return Ok((Container::Png, classify_text(&text)?));
    }
    let text = std::str::from_utf8(input).map_err(|_| BadgeError::Unrecognised { reason: "neither a PNG nor UTF-8 text".into() })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        let baked = svg_credential(trimmed)?;
        return Ok((Container::Svg, classify_text(&baked)?));
    }
    Ok((Container::Plain, classify_text(text)?))
}

/// JSON (an object), a compact JWS, or, inside a baked badge, the address of a hosted assertion.
fn classify_text(text: &str) -> Result<Payload, BadgeError> {
    let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{feff}');
    if trimmed.starts_with('{') {
        return Ok(Payload::Json(trimmed.to_owned()));
    }
    if is_compact_jws(trimmed) {
        return Ok(Payload::Jws(trimmed.to_owned()));
    }
    if (trimmed.starts_with("https://") || trimmed.starts_with("http://")) && !trimmed.contains(char::is_whitespace) {
        return Err(BadgeError::HostedOnly { url: trimmed.chars().take(2048).collect() });
    }
    let start: String = trimmed.chars().take(20).collect();
    Err(BadgeError::Unrecognised { reason: format!("neither a JSON object nor a compact JWS (it starts with `{start}`)") })
}

/// Three non-empty base64url parts separated by dots (the signature of a JWS may not be empty; `alg: none` has one).
pub(crate) fn is_compact_jws(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The deepest nesting of `[` and `{` outside strings, stopping as soon as it passes `limit`.
pub(crate) fn check_depth(json: &str, limit: u32) -> Result<(), BadgeError> {
    let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(BadgeError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The text of the one `iTXt` chunk with the keyword `openbadgecredential` (3.0) or `openbadges` (2.0), or of a
/// `tEXt` chunk `openbadges` (as 1.x bakers wrote them). Chunks are walked by hand: no image is decoded, and a
/// compressed text is inflated through [`inflate_bounded`].
fn png_credential(png: &[u8], max_inflated: u64) -> Result<String, BadgeError> {
    let fail = |reason: &str| BadgeError::Png { reason: reason.to_owned() };
    let mut rest = &png[PNG_SIGNATURE.len()..];
    let mut found: Option<String> = None;
    loop {
        if rest.len() < 12 {
            return Err(fail("the file ends before its IEND chunk"));
        }
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = &rest[4..8];
        if length > rest.len() - 12 {
            return Err(fail("a chunk is longer than the file"));
        }
        let data = &rest[8..8 + length];
        match kind {
            b"IEND" => break,
            b"iTXt" | b"tEXt" => {
                if let Some(text) = baked_text(kind, data, max_inflated)? {
                    if found.is_some() {
                        return Err(fail("it holds more than one baked credential"));
                    }
                    found = Some(text);
                }
            }
            _ => {}
        }
        rest = &rest[12 + length..];
    }
    found.ok_or_else(|| fail("it holds no `openbadgecredential` or `openbadges` text chunk: the badge is not baked"))
}

/// A text chunk's text when its keyword is a baked badge's.
fn baked_text(kind: &[u8], data: &[u8], max_inflated: u64) -> Result<Option<String>, BadgeError> {
    let fail = |reason: &str| BadgeError::Png { reason: reason.to_owned() };
    let Some(nul) = data.iter().position(|&b| b == 0) else { return Ok(None) };
    let keyword = &data[..nul];
    let rest = &data[nul + 1..];
    let bytes = if kind == b"tEXt" {
        if keyword != b"openbadges" {
            return Ok(None);
        }
        rest.to_vec()
    } else {
        if keyword != b"openbadgecredential" && keyword != b"openbadges" {
            return Ok(None);
        }
        let [compressed, method, tail @ ..] = rest else { return Err(fail("an iTXt chunk ends inside its header")) };
        // The language tag and the translated keyword, each ended by a NUL.
        let language = tail.iter().position(|&b| b == 0).ok_or_else(|| fail("an iTXt chunk ends inside its language tag"))?;
        let tail = &tail[language + 1..];
        let translated = tail.iter().position(|&b| b == 0).ok_or_else(|| fail("an iTXt chunk ends inside its translated keyword"))?;
        let text = &tail[translated + 1..];
        match (compressed, method) {
            (0, _) => text.to_vec(),
            (1, 0) => inflate_bounded(text, max_inflated)?.0,
            _ => return Err(fail("an iTXt chunk is compressed with an unknown method")),
        }
    };
    String::from_utf8(bytes).map(Some).map_err(|_| fail("the baked credential is not UTF-8"))
}

/// Inflates zlib data, reading at most `limit + 1` bytes out of it: past `limit` it is refused without inflating the
/// rest. Also gives how many compressed bytes were read.
pub(crate) fn inflate_bounded(compressed: &[u8], limit: u64) -> Result<(Vec<u8>, u64), BadgeError> {
    let mut decoder = ZlibDecoder::new(compressed);
    let mut out = Vec::new();
    (&mut decoder)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| BadgeError::Png { reason: "a compressed iTXt chunk is not valid zlib data".into() })?;
    if out.len() as u64 > limit {
        return Err(BadgeError::InflatedTooLarge { limit });
    }
    Ok((out, decoder.total_in()))
}

/// The credential of a baked SVG: the `verify` attribute (a JWS) or the text of the one `<openbadges:credential>`
/// (3.0) or `<openbadges:assertion>` (2.0) element, from a scan that skips comments, CDATA sections and processing
/// instructions elsewhere. Entities are decoded outside CDATA.
fn svg_credential(svg: &str) -> Result<String, BadgeError> {
    let fail = |reason: &str| BadgeError::Svg { reason: reason.to_owned() };
    let mut found: Option<String> = None;
    let mut at = 0;
    while let Some(offset) = svg[at..].find('<') {
        let start = at + offset;
        let tail = &svg[start..];
        let skip_to = |end: &str| tail.find(end).map(|i| start + i + end.len()).ok_or_else(|| fail("the document ends inside markup"));
        if tail.starts_with("<!--") {
            at = skip_to("-->")?;
        } else if tail.starts_with("<![CDATA[") {
            at = skip_to("]]>")?;
        } else if let Some(name) = ["openbadges:credential", "openbadges:assertion"].into_iter().find(|n| starts_element(&tail[1..], n)) {
            if found.is_some() {
                return Err(fail("it holds more than one baked credential"));
            }
            let (text, end) = element_credential(svg, start, name)?;
            found = Some(text);
            at = end;
        } else {
            at = start + 1;
        }
    }
    found.ok_or_else(|| fail("it holds no `openbadges:credential` element: the badge is not baked"))
}

fn starts_element(tail: &str, name: &str) -> bool {
    tail.strip_prefix(name).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/'))
}

/// The element starting at `start`: its `verify` attribute, else its text; and where the scan goes on.
fn element_credential(svg: &str, start: usize, name: &str) -> Result<(String, usize), BadgeError> {
    let fail = |reason: &str| BadgeError::Svg { reason: reason.to_owned() };
    let tag_end = start + svg[start..].find('>').ok_or_else(|| fail("the credential element's tag is not closed"))?;
    let tag = &svg[start + 1 + name.len()..tag_end];
    let self_closing = tag.ends_with('/');
    if let Some(verify) = attribute(tag, "verify")? {
        let end = if self_closing { tag_end + 1 } else { closing(svg, tag_end + 1, name)?.1 };
        return Ok((decode_entities(&verify)?, end));
    }
    if self_closing {
        return Err(fail("the credential element is empty"));
    }
    let (content_end, end) = closing(svg, tag_end + 1, name)?;
    let content = &svg[tag_end + 1..content_end];
    let mut text = String::new();
    let mut rest = content;
    while let Some(i) = rest.find("<![CDATA[") {
        text.push_str(&decode_entities(&rest[..i])?);
        let after = &rest[i + 9..];
        let close = after.find("]]>").ok_or_else(|| fail("a CDATA section is not closed"))?;
        text.push_str(&after[..close]);
        rest = &after[close + 3..];
    }
    text.push_str(&decode_entities(rest)?);
    Ok((text, end))
}

/// Where `</name>` starts and ends, from `from`.
fn closing(svg: &str, from: usize, name: &str) -> Result<(usize, usize), BadgeError> {
    let close = format!("</{name}");
    let at = from + svg[from..].find(&close).ok_or_else(|| BadgeError::Svg { reason: format!("`<{name}>` is not closed") })?;
    let end = at + svg[at..].find('>').map_or(close.len(), |i| i + 1);
    Ok((at, end))
}

/// The value of attribute `name` in a tag's attribute text (`a="1" b='2'`).
fn attribute(tag: &str, name: &str) -> Result<Option<String>, BadgeError> {
    let fail = || BadgeError::Svg { reason: "the credential element's attributes are malformed".into() };
    let mut rest = tag.trim_end_matches('/');
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(None);
        }
        let eq = rest.find('=').ok_or_else(fail)?;
        let key = rest[..eq].trim();
        let value = rest[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'').ok_or_else(fail)?;
        let close = value[1..].find(quote).ok_or_else(fail)?;
        if key == name {
            return Ok(Some(value[1..1 + close].to_owned()));
        }
        rest = &value[close + 2..];
    }
}

/// XML's five named entities and character references.
fn decode_entities(text: &str) -> Result<String, BadgeError> {
    let fail = || BadgeError::Svg { reason: "an entity in the credential is malformed".into() };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').filter(|e| *e <= 10).ok_or_else(fail)?;
        let entity = &after[..end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => entity.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32).ok_or_else(fail)?
            }
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::ZlibEncoder};

    use super::*;

    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&[0; 4]);
        out
    }

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut out = PNG_SIGNATURE.to_vec();
        out.extend(chunk(b"IHDR", &[0; 13]));
        for c in chunks {
            out.extend_from_slice(c);
        }
        out.extend(chunk(b"IEND", &[]));
        out
    }

    fn itxt(keyword: &str, text: &[u8], compressed: bool) -> Vec<u8> {
        let mut data = keyword.as_bytes().to_vec();
        data.extend_from_slice(&[0, compressed as u8, 0, 0, 0]);
        if compressed {
            let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
            z.write_all(text).unwrap();
            data.extend(z.finish().unwrap());
        } else {
            data.extend_from_slice(text);
        }
        chunk(b"iTXt", &data)
    }

    #[test]
    fn detection_tells_json_jws_png_svg_and_hosted_apart() {
        let l = ReadLimits::STANDARD;
        assert_eq!(unwrap(b"\xef\xbb\xbf  {\"a\": 1}", l).unwrap(), (Container::Plain, Payload::Json("{\"a\": 1}".into())));
        assert_eq!(unwrap(b"eyJh.eyJi.c2ln\n", l).unwrap(), (Container::Plain, Payload::Jws("eyJh.eyJi.c2ln".into())));
        assert!(matches!(unwrap(b"eyJh.eyJi", l), Err(BadgeError::Unrecognised { .. })));
        assert!(matches!(unwrap(b"ey+h.eyJi.c2ln", l), Err(BadgeError::Unrecognised { .. })));
        assert!(matches!(unwrap(b"\xff\xfe", l), Err(BadgeError::Unrecognised { .. })));
        let baked = png(&[itxt("openbadgecredential", b"eyJh.eyJi.c2ln", false)]);
        assert_eq!(unwrap(&baked, l).unwrap(), (Container::Png, Payload::Jws("eyJh.eyJi.c2ln".into())));
        let compressed = png(&[itxt("openbadges", b"{\"x\": true}", true)]);
        assert_eq!(unwrap(&compressed, l).unwrap(), (Container::Png, Payload::Json("{\"x\": true}".into())));
        let hosted = png(&[itxt("openbadges", b"https://example.org/assertion/1", false)]);
        assert_eq!(unwrap(&hosted, l), Err(BadgeError::HostedOnly { url: "https://example.org/assertion/1".into() }));
        assert!(matches!(unwrap(&png(&[]), l), Err(BadgeError::Png { .. })));
        let twice = png(&[itxt("openbadges", b"{}", false), itxt("openbadgecredential", b"{}", false)]);
        assert!(matches!(unwrap(&twice, l), Err(BadgeError::Png { .. })));
        let other = png(&[itxt("Comment", b"{}", false)]);
        assert!(matches!(unwrap(&other, l), Err(BadgeError::Png { .. })));
    }

    #[test]
    fn truncated_and_lying_pngs_are_errors() {
        let baked = png(&[itxt("openbadgecredential", b"{}", false)]);
        for cut in 8..baked.len() {
            assert!(unwrap(&baked[..cut], ReadLimits::STANDARD).is_err(), "cut at {cut}");
        }
        let mut long = baked.clone();
        long[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(unwrap(&long, ReadLimits::STANDARD), Err(BadgeError::Png { .. })));
        let header_only = png(&[chunk(b"iTXt", b"openbadges\0\x01")]);
        assert!(matches!(unwrap(&header_only, ReadLimits::STANDARD), Err(BadgeError::Png { .. })));
    }

    #[test]
    fn an_itxt_that_inflates_past_the_limit_is_refused_after_reading_a_little_of_it() {
        let bomb = vec![b' '; 64 * 1024 * 1024];
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&bomb).unwrap();
        let compressed = z.finish().unwrap();
        assert!(compressed.len() < 200 * 1024);
        let limits = ReadLimits { max_inflated_bytes: 1024 * 1024, ..ReadLimits::STANDARD };
        assert_eq!(unwrap(&png(&[itxt("openbadgecredential", &bomb, true)]), limits), Err(BadgeError::InflatedTooLarge { limit: 1024 * 1024 }));
        // What the bounded reader consumed: about 1/64 of the compressed stream, not all of it.
        let mut decoder = ZlibDecoder::new(&compressed[..]);
        let mut out = Vec::new();
        (&mut decoder).take(1024 * 1024 + 1).read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 1024 * 1024 + 1);
        assert!(decoder.total_in() < compressed.len() as u64 / 8, "{} of {}", decoder.total_in(), compressed.len());
        assert_eq!(inflate_bounded(&compressed[..compressed.len() / 2], 1024).unwrap_err(), BadgeError::InflatedTooLarge { limit: 1024 });
        assert_eq!(inflate_bounded(b"not zlib", 1024).unwrap_err(), BadgeError::Png { reason: "a compressed iTXt chunk is not valid zlib data".into() });
    }

    #[test]
    fn an_input_past_the_limit_is_refused_before_reading() {
        let limits = ReadLimits { max_input_bytes: 4, ..ReadLimits::STANDARD };
        assert_eq!(unwrap(b"{\"a\":1}", limits), Err(BadgeError::TooLarge { limit: 4 }));
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert!(check_depth(r#"{"a": [[["[[[[[[\"{{{{"]]]}"#, 4).is_ok());
        assert_eq!(check_depth(r#"{"a": [[[1]]]}"#, 3), Err(BadgeError::TooDeep { limit: 3 }));
        assert!(check_depth(&"[".repeat(100_000), 64).is_err());
    }

    #[test]
    fn svg_gives_the_verify_attribute_or_the_text_and_skips_comments() {
        let attr = r#"<svg xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"><!-- <openbadges:credential verify="no.no.no"/> -->
            <openbadges:credential verify="eyJh.eyJi.c2ln"></openbadges:credential></svg>"#;
        assert_eq!(svg_credential(attr).unwrap(), "eyJh.eyJi.c2ln");
        let cdata = "<svg><openbadges:credential>\n<![CDATA[{\"a\": \"<b>\"}]]>\n</openbadges:credential></svg>";
        assert_eq!(svg_credential(cdata).unwrap().trim(), "{\"a\": \"<b>\"}");
        let entities = "<svg><openbadges:assertion>{&quot;a&quot;: &#x31;}</openbadges:assertion></svg>";
        assert_eq!(svg_credential(entities).unwrap(), "{\"a\": 1}");
        let selfclosing = "<svg><openbadges:credential verify='a.b.c'/></svg>";
        assert_eq!(svg_credential(selfclosing).unwrap(), "a.b.c");
        for broken in [
            "<svg></svg>",
            "<svg><openbadges:credential>{}",
            "<svg><openbadges:credential",
            "<svg><!-- <openbadges:credential>{}</openbadges:credential>",
            "<svg><openbadges:credential verify=x/></svg>",
            "<svg><openbadges:credential>&bogus;</openbadges:credential></svg>",
            "<svg><openbadges:credential>&#xD800;</openbadges:credential></svg>",
            "<svg><openbadges:credential>{}</openbadges:credential><openbadges:credential>{}</openbadges:credential></svg>",
        ] {
            assert!(svg_credential(broken).is_err(), "{broken}");
        }
        assert_eq!(svg_credential("<svg><openbadges:credentials>x</openbadges:credentials></svg>").unwrap_err(),
            BadgeError::Svg { reason: "it holds no `openbadges:credential` element: the badge is not baked".into() });
    }
}
