//! Words of a text and BM25 ranking, shared by the backends so that lexical matching reads the
//! same words everywhere: SQLite's FTS5 (`unicode61` tokenizer) and the PostgreSQL backend, which
//! ranks template candidates itself with the formula FTS5 uses.

/// The words of `text` as full-text search sees them: maximal runs of letters and digits,
/// lowercased. `dial tcp 10.2.3.4:5432: i/o timeout` → dial, tcp, 10, 2, 3, 4, 5432, i, o, timeout.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).map(str::to_lowercase)
}

/// English function words, left out of full-text queries: in a natural-language query
/// ("requests that failed because the cache was full") they match almost any text by chance.
/// Words that carry meaning in telemetry ("not", "no", "out", "down", "off") are kept.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been",
    "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from", "had", "has", "have",
    "having", "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "my",
    "of", "on", "or", "our", "ours", "she", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "us", "very", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// The distinct words of a query, in order of first appearance, without [`STOPWORDS`] (unless
/// the query holds nothing else).
pub fn query_words(query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for word in words(query) {
        if !seen.contains(&word) {
            seen.push(word);
        }
    }
    if seen.iter().any(|word| !STOPWORDS.contains(&word.as_str())) {
        seen.retain(|word| !STOPWORDS.contains(&word.as_str()));
    }
    seen
}

/// BM25 parameters as in SQLite FTS5.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Statistics of the collection a document is ranked in.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// Documents in the collection.
    pub documents: u64,
    /// Mean words per document.
    pub mean_length: f64,
}

/// The BM25 score of a document for query words, as FTS5's `bm25()` computes it (negated there):
/// `document_frequency[i]` is how many documents hold `query[i]`. Higher is better; 0 when no
/// query word is in the document.
pub fn bm25(query: &[String], document: &str, document_frequency: &[u64], collection: Collection) -> f64 {
    let document_words: Vec<String> = words(document).collect();
    let length = document_words.len() as f64;
    let mean_length = if collection.mean_length > 0.0 { collection.mean_length } else { 1.0 };
    let documents = collection.documents as f64;
    query
        .iter()
        .zip(document_frequency)
        .map(|(word, &frequency)| {
            let occurrences = document_words.iter().filter(|w| *w == word).count() as f64;
            if occurrences == 0.0 {
                return 0.0;
            }
            let frequency = frequency as f64;
            // FTS5 floors a non-positive idf (a word in over half the documents) at 1e-6.
            let idf = ((documents - frequency + 0.5) / (frequency + 0.5)).ln().max(1e-6);
            idf * occurrences * (K1 + 1.0) / (occurrences + K1 * (1.0 - B + B * length / mean_length))
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_alphanumeric_runs_lowercased() {
        let found: Vec<String> = words("dial tcp 10.2.3.4:5432: I/O timeout, HikariPool-1").collect();
        assert_eq!(found, ["dial", "tcp", "10", "2", "3", "4", "5432", "i", "o", "timeout", "hikaripool", "1"]);
        assert_eq!(query_words("timeout Timeout db"), ["timeout", "db"]);
        assert_eq!(query_words("requests to the cache that timed out"), ["requests", "cache", "timed", "out"]);
        assert_eq!(query_words("what is this"), ["what", "is", "this"]);
        assert!(query_words(" -- ").is_empty());
    }

    #[test]
    fn bm25_prefers_rare_words_and_short_documents() {
        let collection = Collection { documents: 100, mean_length: 6.0 };
        let query = query_words("hikaripool timeout");
        // "timeout" is in 60 documents (idf floored), "hikaripool" in 2.
        let frequency = [2, 60];
        let rare = bm25(&query, "HikariPool connection not available", &frequency, collection);
        let common = bm25(&query, "timeout after read", &frequency, collection);
        assert!(rare > 3.0 && common < 1e-3, "{rare} {common}");
        let short = bm25(&query, "hikaripool down", &frequency, collection);
        let long = bm25(&query, "hikaripool a b c d e f g h i j k", &frequency, collection);
        assert!(short > long);
        assert_eq!(bm25(&query, "nothing here", &frequency, collection), 0.0);
    }
}
