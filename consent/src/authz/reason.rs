//! Why a decision came out as it did, typed: the HTTP layer and the vault match on these, never on policy-id text.

use std::fmt;

use crate::{Doctype, GrantId, MemberId};

/// One reason behind a decision: a policy that determined it, or why nothing permitted.
///
/// Its text form (`Display`) is the policy's id as receipts record it: `base.guardian-minor`, `grant.<uuid>`,
/// `forbid.health.pai`, `forbid.<child>.health.pai`, `default-deny`, `token.outside-grant`, …
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// A base policy (`base_policies.cedar`), by its id.
    Base(String),
    /// A grant's policy.
    Grant(GrantId),
    /// A prohibition: the family's over the minors (`adult` is `None`), or an adult child's own.
    Prohibition { doctype: Doctype, adult: Option<MemberId> },
    /// No policy permitted.
    DefaultDeny,
    /// The record or collection is of a child who is not in the family.
    ResourceOutsideFamily,
    /// The member asking is not in the family.
    PrincipalOutsideFamily,
    /// A service's access token used outside the one grant it is bound to.
    Token(TokenRule),
    /// The decision could not be evaluated (it then denies: an error could have hidden a prohibition).
    Error(String),
}

/// The rules an access token is held to before and after Cedar decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenRule {
    /// Outside its grant's child, doctypes or actions.
    OutsideGrant,
    /// Allowed, but not by the token's own grant (a revoked grant's token stays dead).
    GrantNotInForce,
}

impl Reason {
    /// The reason a policy id stands for.
    pub(crate) fn from_policy_id(id: &str) -> Reason {
        if let Some(grant) = id.strip_prefix("grant.").and_then(|g| g.parse().ok()) {
            return Reason::Grant(grant);
        }
        if let Some(rest) = id.strip_prefix("forbid.") {
            if let Ok(doctype) = rest.parse() {
                return Reason::Prohibition { doctype, adult: None };
            }
            if let Some((child, doctype)) = rest.split_once('.')
                && let (Ok(adult), Ok(doctype)) = (child.parse(), doctype.parse())
            {
                return Reason::Prohibition { doctype, adult: Some(adult) };
            }
        }
        Reason::Base(id.to_owned())
    }

    /// A prohibition overrides a grant here.
    pub fn is_prohibition(&self) -> bool {
        matches!(self, Reason::Prohibition { .. })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Base(id) => f.write_str(id),
            Reason::Grant(grant) => write!(f, "grant.{grant}"),
            Reason::Prohibition { doctype, adult: None } => write!(f, "forbid.{doctype}"),
            Reason::Prohibition { doctype, adult: Some(child) } => write!(f, "forbid.{child}.{doctype}"),
            Reason::DefaultDeny => f.write_str(super::DEFAULT_DENY),
            Reason::ResourceOutsideFamily => f.write_str(super::OUTSIDE_FAMILY),
            Reason::PrincipalOutsideFamily => f.write_str(super::PRINCIPAL_OUTSIDE_FAMILY),
            Reason::Token(TokenRule::OutsideGrant) => f.write_str("token.outside-grant"),
            Reason::Token(TokenRule::GrantNotInForce) => f.write_str("token.grant-not-in-force"),
            Reason::Error(message) => f.write_str(message),
        }
    }
}

// Comparing with the text form (`Display`, the one definition of it) is for tests and logs, where an allocation is
// no matter.
#[allow(clippy::cmp_owned)]
impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.to_string() == other
    }
}

#[allow(clippy::cmp_owned)]
impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.to_string() == *other
    }
}

#[allow(clippy::cmp_owned)]
impl PartialEq<String> for Reason {
    fn eq(&self, other: &String) -> bool {
        self.to_string() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_reads_back_from_its_policy_id() {
        let grant = GrantId::new();
        let child = MemberId::new();
        for reason in [
            Reason::Base("base.guardian-minor".to_owned()),
            Reason::Grant(grant),
            Reason::Prohibition { doctype: Doctype::HealthPai, adult: None },
            Reason::Prohibition { doctype: Doctype::HealthPai, adult: Some(child) },
            Reason::Prohibition { doctype: Doctype::Grades, adult: Some(child) },
        ] {
            assert_eq!(Reason::from_policy_id(&reason.to_string()), reason);
        }
        assert_eq!(super::super::policies::forbid_id(Doctype::HealthPai, crate::ForbidScope::Adult(child)), Reason::Prohibition { doctype: Doctype::HealthPai, adult: Some(child) }.to_string());
    }
}
