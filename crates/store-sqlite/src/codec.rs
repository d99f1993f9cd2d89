//! Spans to rows and back.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use semtrace_model::{Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, TraceId};
pub(crate) use semtrace_store::row::SpanRow;
use semtrace_store::row::StoredAttributes;
use semtrace_store::{compact, encoding};

/// A JSON column read back in its stored form (`semtrace_store::encoding`).
fn from_json<T>(
    text: &str,
    column: usize,
    decode: impl FnOnce(&str) -> Result<T, serde_json::Error>,
) -> rusqlite::Result<T> {
    decode(text)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(err)))
}

/// A span's attributes column: the compact form (`semtrace_store::compact`, a BLOB) of spans
/// written since that form, or the JSON of spans written before it (TEXT): both are read.
pub(crate) fn attributes_from_column(
    value: rusqlite::types::ValueRef<'_>,
    column: usize,
) -> rusqlite::Result<semtrace_model::Attributes> {
    use rusqlite::types::{Type, ValueRef};
    match value {
        ValueRef::Blob(bytes) => compact::attributes_from_compact(bytes)
            .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, Type::Blob, Box::new(err))),
        ValueRef::Text(text) => {
            let text = std::str::from_utf8(text)
                .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, Type::Text, Box::new(err)))?;
            from_json(text, column, encoding::attributes_from_json)
        }
        other => Err(rusqlite::Error::InvalidColumnType(column, "attributes".into(), other.data_type())),
    }
}

/// A span's attributes as bound to the attributes column.
pub(crate) fn attributes_column(attributes: &StoredAttributes) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    ToSqlOutput::Borrowed(match attributes {
        StoredAttributes::Compact(bytes) => ValueRef::Blob(bytes),
        StoredAttributes::Json(text) => ValueRef::Text(text.as_bytes()),
    })
}

fn id_from_blob<T>(
    bytes: &[u8],
    column: usize,
    parse: impl FnOnce(&[u8]) -> Result<T, semtrace_model::IdError>,
) -> rusqlite::Result<T> {
    parse(bytes)
        .map_err(|err| rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, Box::new(err)))
}

/// A span's (`s`, joined to its operation `o`) own name: kept on the span only when its
/// operation's is the masked form (`semtrace_store::row::operation_name`).
pub(crate) const SPAN_NAME: &str = "coalesce(s.name, o.name)";

/// Selects the spans (`s`) of the trace whose number (`traces.id`, see `trace_keys`) is
/// parameter 1.
pub(crate) const OF_TRACE: &str = "s.trace_no = ?1";

/// Reads every span of a trace by its number, sharing decoded resources and scopes between spans.
pub(crate) fn read_trace(connection: &Connection, trace_no: i64) -> rusqlite::Result<Vec<Span>> {
    let spans = read_spans(connection, OF_TRACE, [trace_no])?;
    Ok(spans.into_iter().map(|(span, _)| span).collect())
}

/// Reads the spans `condition` (over `spans s`) selects, each with its template id.
pub(crate) fn read_spans<P: rusqlite::Params>(
    connection: &Connection,
    condition: &str,
    params: P,
) -> rusqlite::Result<Vec<(Span, Option<i64>)>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT s.span_id, s.parent_span_id, {SPAN_NAME}, o.kind, s.start_ns, s.end_ns, s.status_code,
                s.status_message, s.trace_state, s.flags, s.attributes, s.events, s.links,
                s.dropped_attributes, s.dropped_events, s.dropped_links,
                s.resource_id, r.body, s.scope_id, c.body, s.trace_id, s.template_id
         FROM spans s
         JOIN operations o ON o.id = s.operation_id
         JOIN resources r ON r.id = s.resource_id
         JOIN scopes c ON c.id = s.scope_id
         WHERE {condition}"
    ))?;
    let mut resources: HashMap<i64, Arc<Resource>> = HashMap::new();
    let mut scopes: HashMap<i64, Arc<Scope>> = HashMap::new();
    let mut rows = statement.query(params)?;
    let mut spans = Vec::new();
    while let Some(row) = rows.next()? {
        let resource_id: i64 = row.get(16)?;
        let resource = match resources.get(&resource_id) {
            Some(resource) => resource.clone(),
            None => {
                let resource: Arc<Resource> =
                    Arc::new(from_json(row.get_ref(17)?.as_str()?, 17, encoding::resource_from_json)?);
                resources.insert(resource_id, resource.clone());
                resource
            }
        };
        let scope_id: i64 = row.get(18)?;
        let scope = match scopes.get(&scope_id) {
            Some(scope) => scope.clone(),
            None => {
                let scope: Arc<Scope> = Arc::new(from_json(row.get_ref(19)?.as_str()?, 19, encoding::scope_from_json)?);
                scopes.insert(scope_id, scope.clone());
                scope
            }
        };
        let parent: Option<Vec<u8>> = row.get(1)?;
        let events: Option<String> = row.get(11)?;
        let links: Option<String> = row.get(12)?;
        let trace_id = id_from_blob(row.get_ref(20)?.as_blob()?, 20, TraceId::from_slice)?;
        let template_id: Option<i64> = row.get(21)?;
        spans.push((
            Span {
                trace_id,
                span_id: id_from_blob(row.get_ref(0)?.as_blob()?, 0, SpanId::from_slice)?,
                parent_span_id: parent.map(|bytes| id_from_blob(&bytes, 1, SpanId::from_slice)).transpose()?,
                name: row.get(2)?,
                kind: SpanKind::from_otlp(row.get(3)?),
                start_time_unix_nano: row.get::<_, i64>(4)? as u64,
                end_time_unix_nano: row.get::<_, i64>(5)? as u64,
                status: Status { code: StatusCode::from_otlp(row.get(6)?), message: row.get(7)? },
                trace_state: row.get(8)?,
                flags: row.get(9)?,
                attributes: attributes_from_column(row.get_ref(10)?, 10)?,
                events: events
                    .map(|text| from_json(&text, 11, encoding::events_from_json))
                    .transpose()?
                    .unwrap_or_default(),
                links: links
                    .map(|text| from_json(&text, 12, encoding::links_from_json))
                    .transpose()?
                    .unwrap_or_default(),
                dropped_attributes_count: row.get(13)?,
                dropped_events_count: row.get(14)?,
                dropped_links_count: row.get(15)?,
                resource,
                scope,
            },
            template_id,
        ));
    }
    Ok(spans)
}
