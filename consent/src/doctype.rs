//! Doctypes: the kinds of data a collection holds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of school data; a collection is one child's data of one doctype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Doctype {
    #[serde(rename = "edu.grades")]
    Grades,
    #[serde(rename = "edu.attendance")]
    Attendance,
    #[serde(rename = "edu.homework")]
    Homework,
    #[serde(rename = "edu.timetable")]
    Timetable,
    #[serde(rename = "edu.report-cards")]
    ReportCards,
    #[serde(rename = "edu.certificates")]
    Certificates,
    #[serde(rename = "edu.competencies")]
    Competencies,
    #[serde(rename = "edu.documents")]
    Documents,
    #[serde(rename = "edu.followup")]
    Followup,
    #[serde(rename = "health.pai")]
    HealthPai,
    /// Learning activities as a platform reports them (an xAPI statement kept whole).
    #[serde(rename = "edu.activity")]
    Activity,
    /// The classes, courses and school years a child is enrolled in (OneRoster).
    #[serde(rename = "edu.enrollments")]
    Enrollments,
}

/// The error for a doctype this server does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown doctype `{0}` (known: edu.grades, edu.attendance, edu.homework, edu.timetable, edu.report-cards, edu.certificates, edu.competencies, edu.documents, edu.followup, health.pai, edu.activity, edu.enrollments)")]
pub struct UnknownDoctype(pub String);

impl Doctype {
    pub const ALL: [Doctype; 12] = [
        Doctype::Grades,
        Doctype::Attendance,
        Doctype::Homework,
        Doctype::Timetable,
        Doctype::ReportCards,
        Doctype::Certificates,
        Doctype::Competencies,
        Doctype::Documents,
        Doctype::Followup,
        Doctype::HealthPai,
        Doctype::Activity,
        Doctype::Enrollments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Doctype::Grades => "edu.grades",
            Doctype::Attendance => "edu.attendance",
            Doctype::Homework => "edu.homework",
            Doctype::Timetable => "edu.timetable",
            Doctype::ReportCards => "edu.report-cards",
            Doctype::Certificates => "edu.certificates",
            Doctype::Competencies => "edu.competencies",
            Doctype::Documents => "edu.documents",
            Doctype::Followup => "edu.followup",
            Doctype::HealthPai => "health.pai",
            Doctype::Activity => "edu.activity",
            Doctype::Enrollments => "edu.enrollments",
        }
    }

    /// Health data is a special category (GDPR art. 9).
    pub fn is_health(self) -> bool {
        matches!(self, Doctype::HealthPai)
    }
}

impl fmt::Display for Doctype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Doctype {
    type Err = UnknownDoctype;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Doctype::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDoctype(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_doctype_round_trips_through_its_name() {
        for d in Doctype::ALL {
            assert_eq!(d.as_str().parse::<Doctype>().unwrap(), d);
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{d}\""));
        }
        assert!("edu.gradez".parse::<Doctype>().is_err());
    }
}
