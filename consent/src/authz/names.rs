//! How Cartable's values are named in Cedar: entity types, entity ids and datetimes.

use std::fmt::Write as _;

use cedar_policy::{EntityId, EntityTypeName, EntityUid};
use time::{OffsetDateTime, UtcOffset};

use crate::{Action, Doctype, MemberId};

pub(crate) const FAMILY: &str = "Family";
pub(crate) const GUARDIAN: &str = "Guardian";
pub(crate) const CHILD: &str = "Child";
pub(crate) const SERVICE: &str = "Service";
pub(crate) const DPO: &str = "Dpo";
pub(crate) const OPERATOR: &str = "Operator";
pub(crate) const COLLECTION: &str = "Collection";
pub(crate) const RECORD: &str = "Record";
pub(crate) const REGISTER: &str = "Register";
pub(crate) const ACTION: &str = "Action";

/// The operator is one entity: whoever holds the master key at the console.
pub(crate) const OPERATOR_ID: &str = "console";

/// A collection is one child's data of one doctype: `<child uuid>/<doctype>`.
pub(crate) fn collection_id(child: MemberId, doctype: Doctype) -> String {
    format!("{child}/{doctype}")
}

/// A datetime in the form Cedar's `datetime()` reads, in UTC, to the millisecond.
///
/// Sub-millisecond parts are dropped (rounded down): `floor(now) < floor(end)` implies
/// `now < end`, so truncation can only deny, never allow, within the last millisecond.
/// `None` for years Cedar cannot write (outside 0000–9999).
pub(crate) fn cedar_datetime(at: OffsetDateTime) -> Option<String> {
    let at = at.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    let mut s = String::with_capacity(24);
    // INVARIANT: writing to a String cannot fail.
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    );
    Some(s)
}

/// The entity type names and action ids, parsed once.
pub(crate) struct Names {
    pub family: EntityTypeName,
    pub guardian: EntityTypeName,
    pub child: EntityTypeName,
    pub service: EntityTypeName,
    pub dpo: EntityTypeName,
    pub operator: EntityTypeName,
    pub collection: EntityTypeName,
    pub register: EntityTypeName,
    /// Indexed like `Action::ALL`.
    actions: [EntityUid; 6],
}

impl Names {
    pub fn new() -> Self {
        let ty = |name: &str| {
            name.parse::<EntityTypeName>()
                .unwrap_or_else(|e| panic!("`{name}` is a constant entity type name: {e}"))
        };
        let action = ty(ACTION);
        Names {
            family: ty(FAMILY),
            guardian: ty(GUARDIAN),
            child: ty(CHILD),
            service: ty(SERVICE),
            dpo: ty(DPO),
            operator: ty(OPERATOR),
            collection: ty(COLLECTION),
            register: ty(REGISTER),
            actions: Action::ALL.map(|a| uid(&action, a.as_str())),
        }
    }

    pub fn action(&self, action: Action) -> &EntityUid {
        let index = match action {
            Action::Read => 0,
            Action::List => 1,
            Action::Search => 2,
            Action::Write => 3,
            Action::Export => 4,
            Action::Manage => 5,
        };
        &self.actions[index]
    }
}

pub(crate) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn action_uids_follow_action_all() {
        let names = Names::new();
        for a in Action::ALL {
            assert_eq!(names.action(a).id().unescaped(), a.as_str());
        }
    }

    #[test]
    fn datetimes_are_utc_millis() {
        assert_eq!(
            cedar_datetime(datetime!(2026-03-10 01:30:05.123_999 +01:00)).as_deref(),
            Some("2026-03-10T00:30:05.123Z")
        );
        assert_eq!(cedar_datetime(datetime!(-0001-01-01 00:00 UTC)), None);
    }
}
