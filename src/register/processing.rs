//! The record of processing activities (GDPR art. 30), generated from the grants: per service, its purposes, legal
//! bases, categories of data and of persons, retention, and how many grants are active, revoked and expired.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use cartable_consent::lifecycle::AgeStage;
use cartable_consent::{GrantState, Grantee, MemberId, ServiceId};
use cartable_sdk::{PersonCategories, ProcessingActivity, ProcessingRecord};
use cartable_vault::{Error, Vault};
use time::OffsetDateTime;

use super::Reader;

#[derive(Default)]
struct Activity {
    purposes: BTreeSet<String>,
    legal_bases: BTreeSet<&'static str>,
    doctypes: BTreeSet<&'static str>,
    /// Each child once, in the category they are in now.
    persons: HashSet<(MemberId, Option<AgeStage>)>,
    retention: Option<(u32, u32)>,
    active: u64,
    revoked: u64,
    expired: u64,
    other: u64,
}

/// The record for the reader's remit (a service's DPO: their service only), each family's grants read under a
/// permit for its register, decided and logged.
pub async fn record(vault: &Vault, reader: Reader) -> Result<ProcessingRecord, Error> {
    let families = match reader {
        Reader::Dpo(dpo) => vault.dpo_families(dpo).await?,
        Reader::Operator => vault.list_families().await?,
    };
    let mut activities: BTreeMap<ServiceId, Activity> = BTreeMap::new();
    for family in families {
        let permit = match reader.permit(vault, family).await {
            Ok(permit) => permit,
            Err(Error::FamilyNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        for (grant, stage) in vault.grants_with_stages(&permit).await? {
            let Grantee::Service(service) = grant.grantee else { continue };
            let a = activities.entry(service).or_default();
            a.purposes.insert(grant.purpose.trim().to_owned());
            a.legal_bases.insert(grant.legal_basis.as_str());
            a.doctypes.extend(grant.doctypes.iter().map(|d| d.as_str()));
            a.persons.insert((grant.child, stage));
            let (min, max) = a.retention.unwrap_or((grant.duration_days, grant.duration_days));
            a.retention = Some((min.min(grant.duration_days), max.max(grant.duration_days)));
            match grant.state {
                GrantState::Active => a.active += 1,
                GrantState::Revoked => a.revoked += 1,
                GrantState::Expired => a.expired += 1,
                GrantState::Requested | GrantState::AwaitingConfirmation | GrantState::Denied => a.other += 1,
            }
        }
    }
    let mut out = Vec::with_capacity(activities.len());
    for (service, a) in activities {
        let service_name = vault.service(service).await?.map(|(name, _)| name).unwrap_or_default();
        let mut persons = PersonCategories::default();
        for (_, stage) in &a.persons {
            match stage {
                Some(AgeStage::UnderConsentAge) => persons.minors_under_consent_age += 1,
                Some(AgeStage::ConsentAge) => persons.minors_over_consent_age += 1,
                Some(AgeStage::Adult) => persons.adults += 1,
                None => {}
            }
        }
        let (min, max) = a.retention.unwrap_or_default();
        out.push(ProcessingActivity {
            service_id: cartable_sdk::ServiceId(service.as_uuid()),
            service_name,
            purposes: a.purposes.into_iter().collect(),
            legal_bases: a.legal_bases.into_iter().map(str::to_owned).collect(),
            doctypes: a.doctypes.into_iter().map(str::to_owned).collect(),
            persons,
            retention_days_min: min,
            retention_days_max: max,
            grants_active: a.active,
            grants_revoked: a.revoked,
            grants_expired: a.expired,
            grants_other: a.other,
        });
    }
    Ok(ProcessingRecord { generated_at: OffsetDateTime::now_utc(), activities: out })
}

/// The record as CSV: one line per service, lists separated by ` | ` (purposes may contain spaces and commas).
pub fn to_csv(record: &ProcessingRecord) -> Result<Vec<u8>, Error> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        service_id: String,
        service_name: &'a str,
        purposes: String,
        legal_bases: String,
        doctypes: String,
        minors_under_consent_age: u64,
        minors_over_consent_age: u64,
        adults: u64,
        retention_days_min: u32,
        retention_days_max: u32,
        grants_active: u64,
        grants_revoked: u64,
        grants_expired: u64,
        grants_other: u64,
    }
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    for a in &record.activities {
        writer
            .serialize(Line {
                service_id: a.service_id.to_string(),
                service_name: &a.service_name,
                purposes: a.purposes.join(" | "),
                legal_bases: a.legal_bases.join(" | "),
                doctypes: a.doctypes.join(" | "),
                minors_under_consent_age: a.persons.minors_under_consent_age,
                minors_over_consent_age: a.persons.minors_over_consent_age,
                adults: a.persons.adults,
                retention_days_min: a.retention_days_min,
                retention_days_max: a.retention_days_max,
                grants_active: a.grants_active,
                grants_revoked: a.grants_revoked,
                grants_expired: a.grants_expired,
                grants_other: a.grants_other,
            })
            .map_err(|e| Error::Io(e.to_string()))?;
    }
    writer.into_inner().map_err(|e| Error::Io(e.to_string()))
}
