//! The web UI: a page, a script and a style sheet built from `ui/` (Preact, bundled by esbuild)
//! into `crates/query/ui/` and embedded here, so the binary serves it offline and building it
//! needs no Node. Pages are addressed by path (`/search?q=…`, `/trace/{id}`, `/errors`); each
//! of them is the same page, which reads the address.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &[u8] = include_bytes!("../ui/index.html");
const SCRIPT: &[u8] = include_bytes!("../ui/app.js");
const STYLE: &[u8] = include_bytes!("../ui/app.css");

/// The UI's routes; they take no state.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/search", get(page))
        .route("/errors", get(page))
        .route("/trace/{id}", get(page))
        .route("/ui/{file}", get(asset))
}

/// The files' ETags, hashed once: index, script, style.
static ETAGS: std::sync::LazyLock<[String; 3]> =
    std::sync::LazyLock::new(|| [INDEX, SCRIPT, STYLE].map(|body| format!("\"{:016x}\"", fnv1a(body))));

async fn page(headers: HeaderMap) -> Response {
    serve(&headers, INDEX, &ETAGS[0], "text/html; charset=utf-8")
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match file.as_str() {
        "app.js" => serve(&headers, SCRIPT, &ETAGS[1], "text/javascript; charset=utf-8"),
        "app.css" => serve(&headers, STYLE, &ETAGS[2], "text/css; charset=utf-8"),
        _ => (StatusCode::NOT_FOUND, "no such UI file").into_response(),
    }
}

/// A file with an ETag of its contents; revalidated on every load (`no-cache`), so a new
/// binary's UI is picked up at once and an unchanged one costs a 304.
fn serve(headers: &HeaderMap, body: &'static [u8], etag: &str, content_type: &'static str) -> Response {
    if headers.get(header::IF_NONE_MATCH).is_some_and(|given| given.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.to_owned())]).into_response();
    }
    let mut response = body.into_response();
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, value);
    }
    response
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
