//! Several semtrace nodes on one store (PostgreSQL): each records a heartbeat with its own state
//! ([`heartbeat`]), and `/api/v1/cluster` lists them ([`cluster`]). A store only this process
//! writes (SQLite) has no cluster: no heartbeat runs, and the list says so.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::{ApiError, QueryState};

/// How often a node records its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node silent for longer is listed as not alive.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(10);

/// Records this node's heartbeat every [`HEARTBEAT`] until `stop` turns true: its queue, spool,
/// circuit breaker and uptime, for the other nodes' `/api/v1/cluster`.
pub async fn heartbeat(state: QueryState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        match state.store.heartbeat(&own_state(&state)).await {
            Ok(()) => failing = false,
            // Said once per stretch of failures: an unreachable store is health's to report.
            Err(err) if !failing => {
                failing = true;
                tracing::warn!(error = %err, "cannot record this node's heartbeat; retrying");
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep(HEARTBEAT) => {}
        }
    }
}

/// What a node tells the others of itself.
fn own_state(state: &QueryState) -> serde_json::Value {
    let pipeline = state.pipeline.as_ref();
    let spool = pipeline.and_then(|pipeline| pipeline.spool_status());
    json!({
        "queue_depth": pipeline.map(|pipeline| pipeline.queue_depth()),
        "queue_capacity": pipeline.map(|pipeline| pipeline.queue_capacity()),
        "circuit_breaker": pipeline.map(|pipeline| pipeline.breaker_state().as_str()),
        "spool_records": spool.map(|spool| spool.records),
        "spool_bytes": spool.map(|spool| spool.bytes),
        "templates_indexed": state.semantic.as_ref().map(|semantic| semantic.indexed_templates()),
        "uptime_seconds": state.started.elapsed().as_secs(),
    })
}

/// `GET /api/v1/cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterDto {
    /// Whether the store is shared by nodes (PostgreSQL); false for the embedded store.
    pub shared: bool,
    /// This node's name, when shared.
    pub node: Option<String>,
    /// Nodes that recorded a heartbeat within [`ALIVE_WITHIN`].
    pub alive: usize,
    pub nodes: Vec<NodeDto>,
}

#[derive(Debug, Serialize)]
pub struct NodeDto {
    pub name: String,
    pub version: String,
    /// Unix nanoseconds.
    pub started: i64,
    pub heartbeat: i64,
    pub silent_seconds: f64,
    pub alive: bool,
    /// What the node reported of itself: its queue, spool, breaker, templates indexed, uptime.
    pub state: serde_json::Value,
}

pub(crate) async fn cluster(State(state): State<QueryState>) -> Result<Json<ClusterDto>, ApiError> {
    let Some(nodes) = state.store.cluster_nodes().await? else {
        return Ok(Json(ClusterDto { shared: false, node: None, alive: 0, nodes: Vec::new() }));
    };
    let nodes: Vec<NodeDto> = nodes
        .into_iter()
        .map(|node| NodeDto {
            alive: node.silent_seconds <= ALIVE_WITHIN.as_secs_f64(),
            name: node.name,
            version: node.version,
            started: node.started_ns,
            heartbeat: node.heartbeat_ns,
            silent_seconds: node.silent_seconds,
            state: node.state,
        })
        .collect();
    Ok(Json(ClusterDto {
        shared: true,
        node: state.store.node_name().map(str::to_owned),
        alive: nodes.iter().filter(|node| node.alive).count(),
        nodes,
    }))
}
