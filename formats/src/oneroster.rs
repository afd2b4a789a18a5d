//! OneRoster 1.1 / 1.2 CSV sets (a school information system's export): `manifest.csv` first, then the files it
//! says are there. The enrollments of the pupils the caller maps become `edu.enrollments` bodies (class, course,
//! school, terms, teachers, dates), and their results, when the set has them, `edu.grades` bodies.
//!
//! Pupils are matched only through the caller's mapping of `sourcedId`s, never guessed from a name; rows about
//! anyone else are read and dropped (a teacher's name is kept only for the classes of the mapped pupils). Real
//! exports are untidy, so: a byte-order mark, CRLF, extra, vendor `ext_*` and `metadata.*` columns, header names in
//! any case, blank values, dates with or without a time, and `tobedeleted` rows are all taken as they come; a row
//! that cannot be read (wrong number of fields, a required value missing, a date that is not one) is a [`Problem`]
//! naming its file, line and column, and the rest of the set is read.
//!
//! Classes carry no day or hour in OneRoster, so they are not timetable slots: a class's periods and room are in its
//! enrollment's body.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde_json::{Map, Value, json};

use crate::RecordBody;

/// The doctype of an enrollment.
pub const ENROLLMENTS_DOCTYPE: &str = "edu.enrollments";
/// The doctype of a result.
pub const GRADES_DOCTYPE: &str = "edu.grades";

/// How much a set may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// The most bytes one row may span (a 10 MB field is refused, not kept).
    pub max_row_bytes: usize,
    /// The most rows one file may have.
    pub max_rows: u64,
}

impl ReadLimits {
    /// 64 KiB a row, a million rows a file.
    pub const STANDARD: ReadLimits = ReadLimits { max_row_bytes: 64 * 1024, max_rows: 1_000_000 };
}

/// A row that could not be taken: where, which rule, and why (ids only, never a pupil's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// The line (from 1; the header is line 1).
    pub line: u64,
    pub column: Option<String>,
    pub rule: &'static str,
    pub message: String,
}

/// Why the set could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OneRosterError {
    #[error("there is no manifest.csv: a OneRoster CSV set starts with it")]
    NoManifest,
    #[error("manifest.csv gives OneRoster version `{0}`; versions 1.1 and 1.2 are read")]
    Version(String),
    #[error("manifest.csv gives no `oneroster.version`")]
    NoVersion,
    #[error("{file} is in the manifest but not in the set")]
    MissingFile { file: String },
    #[error("{file} has no `{column}` column")]
    MissingColumn { file: String, column: String },
    #[error("{file} line {line}: {message}")]
    Unreadable { file: String, line: u64, message: String },
    #[error("{file} line {line} is larger than {limit} bytes")]
    RowTooLarge { file: String, line: u64, limit: usize },
    #[error("{file} has more than {limit} rows")]
    TooManyRows { file: String, limit: u64 },
    #[error("{file} cannot be read ({kind})")]
    Io { file: String, kind: std::io::ErrorKind },
}

/// What a set gave for the mapped pupils: each body with the pupil it is about, and the rows that were refused.
#[derive(Debug, Clone)]
pub struct Roster<C> {
    pub records: Vec<(C, RecordBody)>,
    /// By file and line.
    pub problems: Vec<Problem>,
}

/// One row: its line and its values by lower-cased column name.
struct Row {
    line: u64,
    values: HashMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.values.get(column).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// One file read whole into rows (after its header), the rows that could not be read as problems.
fn read_file(file: &str, input: Box<dyn Read + '_>, required: &[&str], limits: ReadLimits, problems: &mut Vec<Problem>) -> Result<Vec<Row>, OneRosterError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_reader(input);
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut line = 0u64;
    loop {
        let read = reader.read_byte_record(&mut record).map_err(|e| match e.kind() {
            csv::ErrorKind::Io(io) => OneRosterError::Io { file: file.to_owned(), kind: io.kind() },
            _ => OneRosterError::Unreadable { file: file.to_owned(), line: line + 1, message: "not CSV".to_owned() },
        })?;
        if !read {
            break;
        }
        line = record.position().map_or(line + 1, |p| p.line());
        if record.as_slice().len() > limits.max_row_bytes {
            return Err(OneRosterError::RowTooLarge { file: file.to_owned(), line, limit: limits.max_row_bytes });
        }
        if rows.len() as u64 >= limits.max_rows {
            return Err(OneRosterError::TooManyRows { file: file.to_owned(), limit: limits.max_rows });
        }
        let Ok(fields) = record.iter().map(|f| std::str::from_utf8(f).map(str::to_owned)).collect::<Result<Vec<String>, _>>() else {
            return Err(OneRosterError::Unreadable { file: file.to_owned(), line, message: "not UTF-8".to_owned() });
        };
        let Some(names) = &header else {
            let names: Vec<String> = fields.iter().map(|f| f.trim_start_matches('\u{feff}').trim().to_ascii_lowercase()).collect();
            for column in required {
                if !names.iter().any(|n| n == column) {
                    return Err(OneRosterError::MissingColumn { file: file.to_owned(), column: (*column).to_owned() });
                }
            }
            header = Some(names);
            continue;
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() != names.len() {
            let message = format!("{} fields where the header names {}", fields.len(), names.len());
            problems.push(Problem { file: file.to_owned(), line, column: None, rule: "row.field-count", message });
            continue;
        }
        let values: HashMap<String, String> = names.iter().cloned().zip(fields.into_iter().map(|f| f.trim().to_owned())).collect();
        let row = Row { line, values };
        if row.get("status").is_some_and(|s| s.eq_ignore_ascii_case("tobedeleted")) {
            continue;
        }
        if let Some(column) = required.iter().find(|c| row.get(c).is_none()) {
            problems.push(Problem { file: file.to_owned(), line, column: Some((*column).to_owned()), rule: "value.required", message: format!("`{column}` is blank") });
            continue;
        }
        rows.push(row);
    }
    if header.is_none() {
        return Err(OneRosterError::Unreadable { file: file.to_owned(), line: 1, message: "no header line".to_owned() });
    }
    Ok(rows)
}

/// A date as OneRoster writes it (`2017-05-06`, with a time after a space or a `T`, or not), as `YYYY-MM-DD`.
fn date(value: &str) -> Option<String> {
    let day = value.get(..10)?;
    let rest = &value[10..];
    let bytes = day.as_bytes();
    let shaped = bytes.iter().enumerate().all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() });
    let (month, dom): (u8, u8) = (day[5..7].parse().ok()?, day[8..10].parse().ok()?);
    let valid = shaped && (1..=12).contains(&month) && (1..=31).contains(&dom) && (rest.is_empty() || rest.starts_with([' ', 'T']));
    valid.then(|| day.to_owned())
}

/// A date column of a row: absent, or a date; anything else is a problem and the column is left out.
fn date_of(row: &Row, file: &str, column: &str, problems: &mut Vec<Problem>) -> Option<String> {
    let value = row.get(column)?;
    let day = date(value);
    if day.is_none() {
        problems.push(Problem { file: file.to_owned(), line: row.line, column: Some(column.to_owned()), rule: "date.format", message: format!("`{column}` is not a date (YYYY-MM-DD)") });
    }
    day
}

/// A list column (`"1,2"` in one field), its items trimmed.
fn list(value: Option<&str>) -> Vec<String> {
    value.map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

/// Opens a file of a set by its name (`users.csv`): its bytes, or `None` when the set has no such file.
pub type Open<'a> = dyn FnMut(&str) -> std::io::Result<Option<Box<dyn Read>>> + 'a;

/// Reads a OneRoster CSV set through `open` (a file's name, e.g. `users.csv`, to its bytes, or `None` when the set
/// has no such file), keeping what is about the pupils `children` maps (`sourcedId` to the caller's child).
pub fn read_set<C: Clone>(
    open: &mut Open<'_>,
    children: &HashMap<String, C>,
    limits: ReadLimits,
) -> Result<Roster<C>, OneRosterError> {
    let mut problems = Vec::new();
    let mut file = |name: &str, required: &[&str], problems: &mut Vec<Problem>| -> Result<Option<Vec<Row>>, OneRosterError> {
        match open(name).map_err(|e| OneRosterError::Io { file: name.to_owned(), kind: e.kind() })? {
            Some(input) => read_file(name, input, required, limits, problems).map(Some),
            None => Ok(None),
        }
    };
    let manifest = file("manifest.csv", &["propertyname", "value"], &mut problems)?.ok_or(OneRosterError::NoManifest)?;
    let property = |name: &str| manifest.iter().find(|r| r.get("propertyname").is_some_and(|p| p.eq_ignore_ascii_case(name))).and_then(|r| r.get("value")).map(str::to_owned);
    match property("oneroster.version").as_deref() {
        Some("1.1" | "1.2") => {}
        Some(other) => return Err(OneRosterError::Version(other.chars().take(16).collect())),
        None => return Err(OneRosterError::NoVersion),
    }
    let present = |entity: &str| property(&format!("file.{entity}")).is_some_and(|v| !v.eq_ignore_ascii_case("absent"));
    let mut needed = |entity: &str, required: &[&str], problems: &mut Vec<Problem>| -> Result<Vec<Row>, OneRosterError> {
        if !present(entity) {
            return Ok(Vec::new());
        }
        let name = format!("{entity}.csv");
        file(&name, required, problems)?.ok_or(OneRosterError::MissingFile { file: name })
    };

    let orgs: HashMap<String, String> =
        needed("orgs", &["sourcedid", "name"], &mut problems)?.into_iter().filter_map(|r| Some((r.get("sourcedid")?.to_owned(), r.get("name")?.to_owned()))).collect();
    let mut sessions = HashMap::new();
    for row in needed("academicSessions", &["sourcedid", "title"], &mut problems)? {
        let file = "academicSessions.csv";
        let mut session = Map::new();
        session.insert("title".into(), json!(row.get("title")));
        if let Some(kind) = row.get("type") {
            session.insert("type".into(), json!(kind));
        }
        for (column, key) in [("startdate", "start"), ("enddate", "end")] {
            if let Some(day) = date_of(&row, file, column, &mut problems) {
                session.insert(key.into(), json!(day));
            }
        }
        if let Some(year) = row.get("schoolyear") {
            session.insert("school_year".into(), json!(year));
        }
        sessions.insert(row.get("sourcedid").unwrap_or_default().to_owned(), Value::Object(session));
    }
    let courses: HashMap<String, (String, Option<String>)> = needed("courses", &["sourcedid", "title"], &mut problems)?
        .into_iter()
        .filter_map(|r| Some((r.get("sourcedid")?.to_owned(), (r.get("title")?.to_owned(), r.get("coursecode").map(str::to_owned)))))
        .collect();
    let classes: HashMap<String, Row> = needed("classes", &["sourcedid", "title"], &mut problems)?.into_iter().filter_map(|r| Some((r.get("sourcedid")?.to_owned(), r))).collect();

    // Users: the mapped pupils must be there; teachers' names are kept (for the classes, below), nobody else's.
    let mut teachers: HashMap<String, String> = HashMap::new();
    let mut pupils_seen = HashSet::new();
    for row in needed("users", &["sourcedid", "role"], &mut problems)? {
        let id = row.get("sourcedid").unwrap_or_default();
        if children.contains_key(id) {
            pupils_seen.insert(id.to_owned());
        } else if row.get("role").is_some_and(|r| r.eq_ignore_ascii_case("teacher")) {
            let name = [row.get("givenname"), row.get("familyname")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            if !name.is_empty() {
                teachers.insert(id.to_owned(), name);
            }
        }
    }
    let enrollments = needed("enrollments", &["sourcedid", "classsourcedid", "usersourcedid", "role"], &mut problems)?;
    let mut class_teachers: HashMap<String, Vec<String>> = HashMap::new();
    for row in &enrollments {
        if row.get("role").is_some_and(|r| r.eq_ignore_ascii_case("teacher"))
            && let Some(name) = teachers.get(row.get("usersourcedid").unwrap_or_default())
        {
            class_teachers.entry(row.get("classsourcedid").unwrap_or_default().to_owned()).or_default().push(name.clone());
        }
    }

    let mut records = Vec::new();
    for row in &enrollments {
        let user = row.get("usersourcedid").unwrap_or_default();
        let Some(child) = children.get(user) else { continue };
        let file = "enrollments.csv";
        let class_id = row.get("classsourcedid").unwrap_or_default();
        let Some(class) = classes.get(class_id) else {
            problems.push(Problem { file: file.to_owned(), line: row.line, column: Some("classSourcedId".to_owned()), rule: "reference.missing", message: format!("class `{class_id}` is not in classes.csv") });
            continue;
        };
        let mut body = Map::new();
        body.insert("class".into(), json!(class.get("title")));
        if let Some(code) = class.get("classcode") {
            body.insert("class_code".into(), json!(code));
        }
        if let Some((title, code)) = class.get("coursesourcedid").and_then(|c| courses.get(c)) {
            body.insert("course".into(), json!(title));
            if let Some(code) = code {
                body.insert("course_code".into(), json!(code));
            }
        }
        let school = row.get("schoolsourcedid").or(class.get("schoolsourcedid")).and_then(|s| orgs.get(s));
        if let Some(school) = school {
            body.insert("school".into(), json!(school));
        }
        body.insert("role".into(), json!(row.get("role").unwrap_or_default().to_ascii_lowercase()));
        for (column, key) in [("begindate", "begin_date"), ("enddate", "end_date")] {
            if let Some(day) = date_of(row, file, column, &mut problems) {
                body.insert(key.into(), json!(day));
            }
        }
        let terms: Vec<Value> = list(class.get("termsourcedids")).iter().filter_map(|t| sessions.get(t).cloned()).collect();
        if !terms.is_empty() {
            body.insert("terms".into(), Value::Array(terms));
        }
        let periods = list(class.get("periods"));
        if !periods.is_empty() {
            body.insert("periods".into(), json!(periods));
        }
        if let Some(room) = class.get("location") {
            body.insert("room".into(), json!(room));
        }
        if let Some(names) = class_teachers.get(class_id) {
            body.insert("teachers".into(), json!(names));
        }
        let id = row.get("sourcedid").unwrap_or_default();
        body.insert("sourced_id".into(), json!(id));
        records.push((child.clone(), RecordBody { doctype: ENROLLMENTS_DOCTYPE, dedupe_key: format!("oneroster:enrollment:{id}"), body: Value::Object(body) }));
    }

    // Results, when the set has them: the mapped pupils' scores on the line items of their classes.
    let line_items: HashMap<String, Row> = needed("lineItems", &["sourcedid", "title", "classsourcedid"], &mut problems)?.into_iter().filter_map(|r| Some((r.get("sourcedid")?.to_owned(), r))).collect();
    for row in needed("results", &["sourcedid", "lineitemsourcedid", "studentsourcedid"], &mut problems)? {
        let Some(child) = children.get(row.get("studentsourcedid").unwrap_or_default()) else { continue };
        let file = "results.csv";
        let item_id = row.get("lineitemsourcedid").unwrap_or_default();
        let Some(item) = line_items.get(item_id) else {
            problems.push(Problem { file: file.to_owned(), line: row.line, column: Some("lineItemSourcedId".to_owned()), rule: "reference.missing", message: format!("line item `{item_id}` is not in lineItems.csv") });
            continue;
        };
        let mut body = Map::new();
        let class = item.get("classsourcedid").and_then(|c| classes.get(c));
        body.insert("subject".into(), json!(class.and_then(|c| c.get("title")).or(item.get("title"))));
        body.insert("title".into(), json!(item.get("title")));
        let score = row.get("score");
        let (min, max) = (item.get("resultvaluemin").and_then(|v| v.parse::<f64>().ok()), item.get("resultvaluemax").and_then(|v| v.parse::<f64>().ok()));
        match (score.and_then(|s| s.replace(',', ".").parse::<f64>().ok()), max) {
            (Some(grade), Some(max)) if min.is_none_or(|m| m == 0.0) && max > 0.0 => {
                body.insert("grade".into(), json!(grade));
                body.insert("out_of".into(), json!(max));
            }
            _ => {
                if let Some(score) = score {
                    body.insert("score".into(), json!(score));
                }
            }
        }
        if let Some(day) = date_of(&row, file, "scoredate", &mut problems).or_else(|| date_of(item, "lineItems.csv", "assigndate", &mut problems)) {
            body.insert("date".into(), json!(day));
        }
        if let Some(comment) = row.get("comment") {
            body.insert("comment".into(), json!(comment));
        }
        let id = row.get("sourcedid").unwrap_or_default();
        records.push((child.clone(), RecordBody { doctype: GRADES_DOCTYPE, dedupe_key: format!("oneroster:result:{id}"), body: Value::Object(body) }));
    }
    for id in children.keys().filter(|id| !pupils_seen.contains(*id)) {
        problems.push(Problem { file: "users.csv".to_owned(), line: 0, column: Some("sourcedId".to_owned()), rule: "mapping.unknown", message: format!("no user `{id}` in users.csv") });
    }
    // By file and line, whichever step found them.
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(Roster { records, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(files: &[(&str, &str)]) -> impl FnMut(&str) -> std::io::Result<Option<Box<dyn Read>>> {
        let files: HashMap<String, Vec<u8>> = files.iter().map(|(n, t)| ((*n).to_owned(), t.as_bytes().to_vec())).collect();
        move |name| Ok(files.get(name).map(|b| Box::new(std::io::Cursor::new(b.clone())) as Box<dyn Read>))
    }

    const MANIFEST: &str = "\u{feff}propertyName,value\r\nmanifest.version,1.0\r\noneroster.version,1.2\r\nfile.orgs,bulk\r\nfile.classes,bulk\r\nfile.users,bulk\r\nfile.enrollments,bulk\r\nfile.academicSessions,bulk\r\nfile.courses,absent\r\nfile.lineItems,bulk\r\nfile.results,bulk\r\n";

    #[test]
    fn the_mapped_pupil_gets_enrollments_and_results_and_nobody_else_anything() {
        let mut open = set(&[
            ("manifest.csv", MANIFEST),
            ("orgs.csv", "sourcedId,name,type\nsch1,Collège Jean Moulin,school\n"),
            ("academicSessions.csv", "sourcedId,title,type,startDate,endDate,schoolYear\nt1,Trimestre 1,term,2026-09-01,2026-11-30 00:00:00,2027\n"),
            ("classes.csv", "SourcedId,Title,classCode,schoolSourcedId,termSourcedIds,periods,location,ext_vendor_x,metadata.foo\nc1,Mathématiques 5e B,M5B,sch1,t1,\"1,2\",B12,x,y\n"),
            ("users.csv", "sourcedId,role,givenName,familyName\nleo,student,Léo,Martin\nother,student,Autre,Élève\nprof,teacher,Anne,Durand\n"),
            ("enrollments.csv", "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role,beginDate\ne1,c1,sch1,leo,student,2026-09-01T08:00:00Z\ne2,c1,sch1,other,student,2026-09-01\ne3,c1,sch1,prof,teacher,\ne4,c1,sch1,leo,student,01/09/2026\ne5,c1,sch1,leo,student\n"),
            ("lineItems.csv", "sourcedId,title,classSourcedId,resultValueMin,resultValueMax,assignDate\nl1,Contrôle fractions,c1,0,20,2026-10-01\n"),
            ("results.csv", "sourcedId,lineItemSourcedId,studentSourcedId,score,scoreDate,comment\nr1,l1,leo,15.5,2026-10-02,Bien\nr2,l1,other,9,2026-10-02,\nr3,missing,leo,12,,\n"),
        ]);
        let children: HashMap<String, u8> = [("leo".to_owned(), 7)].into();
        let roster = read_set(&mut open, &children, ReadLimits::STANDARD).unwrap();
        let enrollment = &roster.records[0].1;
        assert_eq!((roster.records[0].0, enrollment.doctype, enrollment.dedupe_key.as_str()), (7, ENROLLMENTS_DOCTYPE, "oneroster:enrollment:e1"));
        assert_eq!(enrollment.body["class"], "Mathématiques 5e B");
        assert_eq!(enrollment.body["school"], "Collège Jean Moulin");
        assert_eq!(enrollment.body["begin_date"], "2026-09-01");
        assert_eq!(enrollment.body["terms"][0], json!({"title": "Trimestre 1", "type": "term", "start": "2026-09-01", "end": "2026-11-30", "school_year": "2027"}));
        assert_eq!(enrollment.body["periods"], json!(["1", "2"]));
        assert_eq!(enrollment.body["teachers"], json!(["Anne Durand"]));
        let grades: Vec<_> = roster.records.iter().filter(|(_, r)| r.doctype == GRADES_DOCTYPE).collect();
        assert_eq!(grades.len(), 1);
        assert_eq!(grades[0].1.body, json!({"subject": "Mathématiques 5e B", "title": "Contrôle fractions", "grade": 15.5, "out_of": 20.0, "date": "2026-10-02", "comment": "Bien"}));
        let all = serde_json::to_string(&roster.records.iter().map(|(_, r)| &r.body).collect::<Vec<_>>()).unwrap();
        assert!(!all.contains("other") && !all.contains("Autre") && !all.contains("e2"), "another pupil's data: {all}");
        let rules: Vec<_> = roster.problems.iter().map(|p| (p.file.as_str(), p.line, p.rule)).collect();
        assert_eq!(rules, [("enrollments.csv", 5, "date.format"), ("enrollments.csv", 6, "row.field-count"), ("results.csv", 4, "reference.missing")], "{:?}", roster.problems);
        // e4 is kept with its bad date left out; e5 (a field short) is not.
        assert_eq!(roster.records.iter().filter(|(_, r)| r.doctype == ENROLLMENTS_DOCTYPE).count(), 2);
    }

    #[test]
    fn a_set_that_cannot_be_read_says_why() {
        let children: HashMap<String, u8> = HashMap::new();
        let err = |files: &[(&str, &str)]| read_set(&mut set(files), &children, ReadLimits::STANDARD).unwrap_err().to_string();
        assert!(err(&[]).contains("no manifest.csv"));
        assert!(err(&[("manifest.csv", "propertyName,value\noneroster.version,2.0\n")]).contains("version `2.0`"));
        assert!(err(&[("manifest.csv", "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n")]).contains("users.csv is in the manifest but not in the set"));
        assert!(err(&[("manifest.csv", "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n"), ("users.csv", "sourcedId,name\n")]).contains("no `role` column"));
        let big = format!("sourcedId,role\nu1,\"{}\"\n", "x".repeat(10 * 1024 * 1024));
        assert!(err(&[("manifest.csv", "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n"), ("users.csv", &big)]).contains("larger than"));
        let mut invalid = set(&[("manifest.csv", "propertyName,value\noneroster.version,1.1\nfile.users,bulk\n")]);
        let mut open = move |name: &str| -> std::io::Result<Option<Box<dyn Read>>> {
            if name == "users.csv" { Ok(Some(Box::new(std::io::Cursor::new(b"sourcedId,role\nu1,\xff\xfe\n".to_vec())))) } else { invalid(name) }
        };
        assert!(read_set(&mut open, &children, ReadLimits::STANDARD).unwrap_err().to_string().contains("not UTF-8"));
    }

    #[test]
    fn dates_are_taken_with_or_without_a_time() {
        assert_eq!(date("2017-05-06"), Some("2017-05-06".into()));
        assert_eq!(date("2017-05-06 08:01:05"), Some("2017-05-06".into()));
        assert_eq!(date("2017-05-06T08:01:05.123Z"), Some("2017-05-06".into()));
        for bad in ["06/05/2017", "2017-13-01", "2017-05-06x", "2017-5-6", "é"] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }
}
