//! `GET /api/v1/entities?kind=&prefix=&limit=`: the entities stored spans name (users, orders,
//! hosts, IPs, URLs, routes, tables, pods, namespaces, emails), with how many traces name each
//! and how many resources (service instances) carry it; `entity=kind:value` on search and error
//! search filters by one.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use semtrace_store::entity::EntityKind;
use serde::Deserialize;

use crate::{ApiError, QueryState};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntitiesParams {
    kind: Option<String>,
    prefix: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn entities(
    State(state): State<QueryState>,
    params: Result<Query<EntitiesParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let kind = match params.kind.as_deref().map(str::trim).filter(|kind| !kind.is_empty()) {
        None => None,
        Some(text) => Some(EntityKind::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
            let kinds: Vec<&str> = EntityKind::ALL.iter().map(|kind| kind.as_str()).collect();
            ApiError::BadRequest(format!("kind={text:?} is not an entity kind: pass one of {}", kinds.join(", ")))
        })?),
    };
    let limit = match params.limit.unwrap_or(DEFAULT_LIMIT) {
        0 => return Err(ApiError::BadRequest("limit must be at least 1".into())),
        n if n > MAX_LIMIT => return Err(ApiError::BadRequest(format!("limit={n} is over the maximum {MAX_LIMIT}"))),
        n => n,
    };
    let prefix = params.prefix.unwrap_or_default();
    let found = state.store.entities(kind, &prefix, limit).await?;
    let entities: Vec<serde_json::Value> = found
        .into_iter()
        .map(|entity| {
            serde_json::json!({
                "kind": entity.kind.as_str(),
                "value": entity.value,
                "entity": format!("{}:{}", entity.kind.as_str(), entity.value),
                "traces": entity.traces,
                "resources": entity.resources,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "entities": entities })))
}
