//! Both stores rank full-text template matches alike: SQLite's FTS5 `bm25()` and the BM25 that
//! the PostgreSQL backend computes itself (`semtrace_store::text::bm25`) give the same templates,
//! in the same order, with the same scores, for the labelled corpus's queries. Hybrid search
//! blends this score into its ranking, so a difference would make the two backends answer
//! differently.

use std::collections::HashMap;

use semtrace_store::Store;
use semtrace_store_postgres::{PostgresOptions, PostgresStore};
use semtrace_store_sqlite::{SqliteOptions, SqliteStore};

/// Template id → text, for a store whose templates are not embedded yet.
async fn texts(store: &dyn Store) -> HashMap<i64, String> {
    store.pending_templates(100_000).await.unwrap().into_iter().map(|template| (template.id, template.text)).collect()
}

/// Matches as (text, score), best first; equal scores in text order (ids differ between stores).
async fn matches(store: &dyn Store, texts: &HashMap<i64, String>, query: &str) -> Vec<(String, f64)> {
    let mut found: Vec<(String, f64)> = store
        .match_templates(query, 25)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, score)| (texts[&id].clone(), score))
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fts5_and_the_postgres_bm25_rank_template_matches_alike() {
    let corpus = semtrace_testkit::corpus::build(7, 400);
    let limits = semtrace_receiver::ReceiverLimits::default();
    let spans: Vec<_> = corpus
        .requests
        .iter()
        .flat_map(|request| semtrace_receiver::convert_request(request.clone(), &limits).accepted)
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(SqliteOptions::new(dir.path())).unwrap();
    let url = semtrace_testkit::postgres::fresh_database().await;
    let postgres = PostgresStore::open(PostgresOptions::new(url)).await.unwrap();
    for chunk in spans.chunks(2000) {
        sqlite.write(chunk).await.unwrap();
        postgres.write(chunk).await.unwrap();
    }
    let (sqlite_texts, postgres_texts) = (texts(&sqlite).await, texts(&postgres).await);
    assert!(sqlite_texts.len() > 50, "a corpus of many templates: {}", sqlite_texts.len());
    let mut sqlite_sorted: Vec<&String> = sqlite_texts.values().collect();
    let mut postgres_sorted: Vec<&String> = postgres_texts.values().collect();
    sqlite_sorted.sort();
    postgres_sorted.sort();
    assert_eq!(sqlite_sorted, postgres_sorted, "the same templates in both stores");

    let mut compared = 0;
    for query in corpus.queries.iter().map(|query| query.text).chain(["deadlock", "HikariPool timeout", "404"]) {
        let (in_sqlite, in_postgres) =
            (matches(&sqlite, &sqlite_texts, query).await, matches(&postgres, &postgres_texts, query).await);
        assert_eq!(in_sqlite.len(), in_postgres.len(), "query {query:?}: as many matches");
        // Templates tied at the last score may be cut at the limit differently (ids break ties,
        // and each store numbers its templates): compare what ranks above that score, and the
        // score of the rest.
        let last = |found: &[(String, f64)]| found.last().map_or(f64::NEG_INFINITY, |(_, score)| *score);
        let cut = last(&in_sqlite).max(last(&in_postgres)) + 1e-9;
        let above =
            |found: &[(String, f64)]| found.iter().filter(|(_, score)| *score > cut).cloned().collect::<Vec<_>>();
        let (a_above, b_above) = (above(&in_sqlite), above(&in_postgres));
        let names = |found: &[(String, f64)]| found.iter().map(|(text, _)| text.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a_above), names(&b_above), "query {query:?}: the same templates in the same order");
        for ((text, a), (_, b)) in in_sqlite.iter().zip(&in_postgres) {
            assert!((a - b).abs() <= 1e-6 * a.abs().max(1.0), "query {query:?}, {text:?}: sqlite {a} postgres {b}");
        }
        compared += a_above.len();
    }
    assert!(compared > 100, "the queries matched templates: {compared}");
}
