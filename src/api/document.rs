//! The statuses every operation can answer whatever its handler does, added to the OpenAPI document where a
//! handler's own list leaves them out: what the extractors, the gate and the body limits answer before a handler
//! runs. Schemathesis (`tests/api_fuzz.rs`) holds the server to the document, so the document must say them.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

/// Adds to every operation the error statuses its shape implies, each with the API's error body:
/// 400 for a path, query or body that does not parse; 413 and 415 for a body too large or of another type;
/// 401 where credentials are required; 403 and 404 on a family's routes (refused and logged; a family that does not
/// exist or is another's, not logged there).
pub fn complete_responses(document: &mut OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        let family_route = path.starts_with("/api/v1/families/{family}");
        let operations = [(&mut item.get, false), (&mut item.put, true), (&mut item.post, true), (&mut item.delete, true), (&mut item.patch, true)];
        for (operation, changes) in operations {
            if let Some(operation) = operation {
                complete(operation, family_route, changes);
            }
        }
    }
}

fn complete(operation: &mut Operation, family_route: bool, changes_state: bool) {
    let parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let path_parameters = operation.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
    let json_body = match &operation.request_body {
        Some(RefOr::T(body)) => Some(body.content.contains_key("application/json")),
        Some(RefOr::Ref(_)) => Some(false),
        None => None,
    };
    // Each alternative as `{scheme: scopes}`; `{}` is the alternative of no credentials.
    let alternatives: Vec<serde_json::Map<String, serde_json::Value>> = operation
        .security
        .iter()
        .flatten()
        .filter_map(|r| serde_json::to_value(r).ok()?.as_object().cloned())
        .collect();
    let credentials = !alternatives.is_empty() && alternatives.iter().all(|o| !o.is_empty());
    let cookie = alternatives.iter().any(|o| o.contains_key("session") || o.contains_key("dpo_session"));
    if parameters || json_body.is_some() {
        add(operation, "400", "a malformed path, query or body (`invalid_request`, `invalid_json`, `unknown_field`)");
    }
    if json_body.is_some() {
        add(operation, "413", "a body larger than the server accepts (`payload_too_large`)");
    }
    if json_body == Some(true) {
        add(operation, "415", "a body that is not `application/json` (`unsupported_media_type`)");
    }
    if credentials {
        add(operation, "401", "no, unknown or expired credentials (`unauthorized`, `invalid_token`, `token_expired`)");
    }
    if family_route && credentials {
        add(operation, "403", "refused; logged");
    }
    if cookie && changes_state {
        add(operation, "403", "a session's request without its CSRF token (`csrf`)");
    }
    if family_route || path_parameters {
        add(operation, "404", "no such family or item, or another family's (not logged in that family's ledger)");
    }
}

fn add(operation: &mut Operation, status: &str, description: &str) {
    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
        let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build();
        RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
    });
}
