//! What a query asks, read before it is ranked: its intent (a failure or latency), whether it
//! denies failure ("no errors", "but still successful"), and the subjects it excludes ("not
//! database related", "other than redis"). A sentence model reads "not X" much as it reads "X",
//! so those words are taken out of the text that is embedded and matched, and count against the
//! templates they describe instead.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// What a query asks about, which decides the priors of ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// Something failed: explained failures first ([`crate::FAILURE_PRIOR`]).
    Failure,
    /// Something was slow: slow spans first, failures without a bonus (a failed connection
    /// attempt is not what "very slow database queries" asks for).
    Latency,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Failure => "failure",
            Intent::Latency => "latency",
        }
    }
}

/// Words of a question about latency. Tried first: the query's cosine with a few sentences of
/// each intent ("slow requests with high latency …" against "errors and exceptions …"). On the 89
/// queries of the two held-out corpora, all about failures, it read 18 as latency questions at
/// every margin that still caught "took more than 5 seconds"; these words read none, and catch
/// the latency questions tried (README, "Query intent").
static LATENCY_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(slow|slower|slowest|slowly|slowed|slowing|slows|sluggish|laggy|latency|latencies|p9\d|p50|response times?|(took|taking|takes?) (too |very |so )?(long|forever)|(took|taking|takes?) (many |several |a few |hundreds of |tens of |thousands of |\d+ )?(milliseconds|seconds|minutes|s|ms)|forever|hangs?|hanging|hung|stall(s|ed|ing)?|performance|degraded|long[- ]running|more than \d+ ?(s|ms|sec|seconds|minutes)|late|delayed|delays?|lag(s|ging|ged)?|(fall\w*|fell|lag\w*|runs?|running|gets?|getting|got) (far |way |further )?behind|backlog(s|ged)?|piling up|pile up|queued up)\b",
    )
    .expect("the latency pattern is valid")
});
/// Words that make a question about a failure even when it speaks of time ("calls hanging then
/// timing out"), or that use a latency word otherwise ("slow down", "hung up").
static FAILURE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(errors?|fail\w*|timeouts?|timed out|timing out|time out|refused|exceptions?|crash\w*|gave up|give up|rejected|unavailable|down|broken|denied|killed|abort\w*|abandoned|lost (the |their |its )?(packets?|connections?|messages?|data|writes?|requests?|events?|updates?)|(packets?|messages?|requests?|data|writes?|events?|updates?) (were |was |got |get |are |is )?lost|packet loss|unreachable|unresolv\w*|(not|never|cannot|can[’']t|couldn[’']t|don[’']t|doesn[’']t|didn[’']t|won[’']t) (resolve|connect|reach)\w*|{LATENCY_WORDS_OF_FAILURE})\b",
    ))
    .expect("the failure pattern is valid")
});

/// Failure words a query denies ("no error", "without any failures", "and then succeeded"): they
/// say the spans asked for did *not* fail.
static DENIED_FAILURE: LazyLock<Regex> =
    LazyLock::new(|| denial(r"errors?|failures?|exceptions?|timeouts?|crash(es)?", FAILING));

/// Denials of any failure at all ("no errors", "without any failures", "but still successful"),
/// not of one kind of failure ("not a timeout" asks for failures of another kind).
static DENIED_ANY_FAILURE: LazyLock<Regex> = LazyLock::new(|| denial(r"errors?|failures?|exceptions?", FAILING));

/// Verbs of failing, as a denial uses them ("not failing", "none of them fail", "nothing
/// errored").
const FAILING: &str = r"fail(s|ed|ing)?|error(ed|ing)( out)?|crash(es|ed|ing)?";

/// A denial of the failure words `failures` ("no errors", "nothing reports an error", "without
/// raising any exception") or of the verbs `failing` ("but not failing", "none of them fail"),
/// or a success after all ("but still successful", "then succeeded").
fn denial(failures: &str, failing: &str) -> Regex {
    Regex::new(&format!(
        r"(?i)\b(no|without( any)?|not an?|never an?|zero|free of) ({failures})\b|\b(nothing|nobody|no one|without) (\w+ ){{0,2}}(an? |any )?({failures})\b|\b(not|never) ({failing})\b|\b(nothing|none|nobody|no one) (\w+ ){{0,2}}({failing})\b|\b(but|then|and|still|yet) (succeed\w*|successful\w*|worked|completed|returned)\b"
    ))
    .expect("the denial pattern is valid")
}

/// Whether a query says the spans it asks for did not fail ("no errors", "but still
/// successful", "then succeeded"): such a search leaves out failed spans, and with one result per
/// trace, traces where any span failed (a healthy gateway span that waited 30 s on a database
/// that timed out is not a request that "succeeded anyway"). Denying one kind of failure ("not
/// a timeout") excludes that kind instead ([`Question::excluded`]).
pub fn denies_failure(query: &str) -> bool {
    DENIED_ANY_FAILURE.is_match(query)
}

/// Whether a query says in so many words that something failed ("errors", "timed out", "down",
/// "refused"), not counting failure words it denies.
pub fn asserts_failure(query: &str) -> bool {
    let query = SLOWED_DOWN.replace_all(query, "slowed");
    FAILURE_WORDS.is_match(&DENIED_FAILURE.replace_all(&query, " "))
}

/// "Slowed down", "slowing down": latency, though "down" alone is a failure word (and "slow
/// down", a vendor's request to back off, is one too).
static SLOWED_DOWN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bslow(ed|s|ing) down\b").expect("the slowed-down pattern is valid"));

/// What a query asks about: latency when it speaks of slowness and not of a failure (failure
/// words it denies, "no errors", do not count).
pub fn intent_of(query: &str) -> Intent {
    intent_given(query, asserts_failure(query))
}

/// Whether a query speaks of latency ([`LATENCY_WORDS`]), whatever else it asks: latency words
/// used for a failure ("told us to slow down", "the caller hung up") do not count.
pub fn mentions_latency(query: &str) -> bool {
    let query = SLOWED_DOWN.replace_all(query, "slowed");
    LATENCY_WORDS.is_match(&LATENCY_WORDS_OF_FAILURES.replace_all(&query, " "))
}

/// Latency words that speak of a failure: a vendor's "slow down", a "slow start", a caller that
/// "hung up" (failure words, [`FAILURE_WORDS`]).
const LATENCY_WORDS_OF_FAILURE: &str = r"slow (down|start)|h(a|u)ng up";
static LATENCY_WORDS_OF_FAILURES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)\b({LATENCY_WORDS_OF_FAILURE})\b")).expect("the pattern is valid"));

/// [`intent_of`], once whether the query asserts a failure is known.
fn intent_given(query: &str, asserts_failure: bool) -> Intent {
    if LATENCY_WORDS.is_match(query) && !asserts_failure {
        Intent::Latency
    } else {
        Intent::Failure
    }
}

/// Words of a question about failures the request did not report: told only in the logs, under
/// a request that answered success ("visible only in the logs while the request returned
/// success", "checkout succeeded for the shopper but … silently went wrong", "only a warning was
/// logged"). Two blind corpora asked this way, and got the failures that did reach the user.
static UNREPORTED_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(silent(ly)?|quiet(ly)?|unnoticed|unreported|swallowed)\b|\b(only|hidden|buried) (in|from|by|through) (the )?((application|app|service|server|its|their|our) )?(logs?|log (lines?|records?|messages?))\b|\bonly (an? )?(warning|error|log)( lines?| messages?)? (was |were |is |are |got |gets )?logged\b|\b(requests?|responses?|calls?|status|answers?|replies|reply|users?|shoppers?|customers?|callers?|clients?) (itself |themselves )?(still |nevertheless |anyway )?(returned|returns|was|were|is|are|got|gets|came back|comes back|looked|looks|showed|shows|answered)( with| as)? (an? )?(success(ful)?|200|ok|fine|normal|green)\b|\b(succeeded|succeeds|worked|went through) for the (users?|shoppers?|customers?|callers?|clients?|buyers?)\b",
    )
    .expect("the unreported pattern is valid")
});

/// Whether a query asks for failures the request did not report ([`UNREPORTED_WORDS`]), and
/// neither denies failure nor asks about latency.
pub fn asks_unreported(query: &str) -> bool {
    unreported_given(query, denies_failure(query), intent_of(query))
}

/// [`asks_unreported`], once whether the query denies failure and its intent are known.
fn unreported_given(query: &str, denies_failure: bool, intent: Intent) -> bool {
    !denies_failure && intent == Intent::Failure && UNREPORTED_WORDS.is_match(query)
}

/// A clause that excludes a subject: a negation that opens a clause ("…, not database
/// related", "…, not bugs", "but not the cache"; "…, and not" only before a cause: "…, and
/// not because of the currency service") or an exclusion anywhere ("except redis",
/// "other than the database", "apart from MongoDB", "instead of SQL"). A "not" inside a clause
/// ("did not finish", "does not exist") negates a verb, not a subject: it is not read.
static EXCLUSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:(?:^|[,;:(]|\bbut\b)\s*(?:not|never)\b|,\s*and\s+not\s+(?:because\s+of|due\s+to|caused\s+by)|\b(?:except(?:\s+for)?|excluding|other\s+than|apart\s+from|rather\s+than|instead\s+of|leaving\s+out|leave\s+out|setting\s+aside|disregarding)\b)\s+(?P<what>[^,;:.()]+)",
    )
    .expect("the exclusion pattern is valid")
});

/// A relative clause that excludes a subject: "problems that aren't network related", "errors
/// which are not caused by the database". Only with "related" or a cause after it: "that were
/// not retried" negates a verb.
static EXCLUSION_RELATIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:that|which)\s+(?:(?:are|is|were|was)\s+not|aren't|isn't|weren't|wasn't)\s+(?P<what>[^,;:.()]+?\s+related\b|(?:due\s+to|caused\s+by|because\s+of|coming\s+from)\s+[^,;:.()]+)",
    )
    .expect("the relative exclusion pattern is valid")
});

/// Words around an excluded subject that are not the subject ("not *the* database *related*").
static SUBJECT_FILLER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:(?:a|an|the|any|(?:anything|everything|something)\s+(?:to\s+do\s+with|related\s+to|about)|to\s+do\s+with|related\s+to|from|in|on|by|due\s+to|because\s+of|caused\s+by|about|plain|simple|regular|ordinary|normal|usual)\s+)+|(?:\s+(?:related|issues?|problems?|ones?|stuff|involved|side|at\s+all|either))+$",
    )
    .expect("the filler pattern is valid")
});

/// Spaces left before a comma (or at a clause's end) where an exclusion was taken out.
static SPACE_BEFORE_PUNCTUATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s+(?P<p>[,;:.)]|$)").expect("the spacing pattern is valid"));

/// A query as it is ranked, read once.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The text embedded and matched: the query without its exclusions (the whole query when
    /// nothing else would be left).
    pub text: String,
    /// Subjects the query excludes ("database" for "…, not database related"), each embedded
    /// to count against the templates that read like it.
    pub excluded: Vec<String>,
    /// What it asks about ([`intent_of`]).
    pub intent: Intent,
    /// It says in words that something failed ([`asserts_failure`]).
    pub asserts_failure: bool,
    /// It speaks of latency as well as failure ("added latency, lost packets or names that
    /// don't resolve"): a failure question that also wants spans slow for their operation.
    pub mentions_latency: bool,
    /// It denies any failure ([`denies_failure`]).
    pub denies_failure: bool,
    /// It asks for failures the request did not report ([`asks_unreported`]).
    pub unreported: bool,
}

impl Question {
    pub fn read(query: &str) -> Question {
        let asserts = asserts_failure(query);
        let (intent, denies) = (intent_given(query, asserts), denies_failure(query));
        let (text, excluded) = Self::exclusions(query);
        // Latency it excludes ("other than anything timing out or running slow") is not asked for.
        let mentions_latency = mentions_latency(&text);
        Question {
            text,
            excluded,
            intent,
            asserts_failure: asserts,
            mentions_latency,
            denies_failure: denies,
            unreported: unreported_given(query, denies, intent),
        }
    }

    /// The query without its exclusion clauses, and the subjects they exclude.
    fn exclusions(query: &str) -> (String, Vec<String>) {
        let mut excluded = Vec::new();
        let mut text = String::with_capacity(query.len());
        let mut last = 0;
        // Clauses of both shapes, in the order they come; one inside another is read once.
        let mut found: Vec<(Range<usize>, Range<usize>)> = [&*EXCLUSION, &*EXCLUSION_RELATIVE]
            .into_iter()
            .flat_map(|pattern| pattern.captures_iter(query))
            .map(|found| (found.get(0).expect("match").range(), found.name("what").expect("group").range()))
            .collect();
        found.sort_by_key(|(whole, _)| whole.start);
        for (whole, what) in found {
            if whole.start < last {
                continue;
            }
            // "not an error", "without any failures": a denied failure, read by `denies_failure`.
            if DENIED_ANY_FAILURE
                .find_iter(query)
                .any(|denied| denied.start() <= what.start && denied.end() >= what.start)
            {
                continue;
            }
            let subject = SUBJECT_FILLER.replace_all(query[what].trim(), "").trim().to_owned();
            if subject.is_empty() {
                continue;
            }
            excluded.push(subject);
            // Keep the clause's opening punctuation out as well: "a, not b" reads "a".
            text.push_str(&query[last..whole.start]);
            last = whole.end;
        }
        text.push_str(&query[last..]);
        let text = SPACE_BEFORE_PUNCTUATION.replace_all(text.trim(), "$p");
        let text = text.trim_end_matches([',', ';', ':', '(', ' ']).to_owned();
        if text.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
            return (query.trim().to_owned(), Vec::new());
        }
        (text, excluded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_questions_are_told_from_failure_questions() {
        for query in [
            "very slow database queries",
            "requests that hang for seconds",
            "which endpoints got slower",
            "p99 latency spike on checkout",
            "took more than 5 seconds",
            "queries taking forever",
            "sluggish responses from the payment service",
            "SQL reads taking many seconds although they normally finish in milliseconds",
            "several seconds of latency on a hop between two services, no error",
            "latency regression without any errors",
            "requests that hang for seconds and then succeed anyway",
            "banners take seconds to come back but nothing reports an error",
            "queued jobs handled minutes late",
            "consumers falling behind the producers",
            "report generation delayed",
            "checkout slowed down by a sluggish network to the shipping service",
            "each price conversion taking hundreds of milliseconds although none of them fail",
            "requests slow but not failing",
        ] {
            assert_eq!(intent_of(query), Intent::Latency, "{query}");
        }
        for query in [
            "latency regression without any errors",
            "pages slow to load but nothing reports an error",
            "slow checkouts without raising any exception",
            "requests slow but not failing",
            "each price conversion taking hundreds of milliseconds although none of them fail",
            "calls that never failed but took seconds",
        ] {
            assert!(denies_failure(query), "{query}");
        }
        for query in [
            "checkout errors",
            "nothing works, errors everywhere",
            "slow requests that then failed",
            "payments failing, not because the network failed",
        ] {
            assert!(!denies_failure(query), "{query}");
        }
        for query in [
            "database connection timeout errors",
            "calls hanging then timing out",
            "a vendor told us to slow down and back off",
            "caller hung up mid-request and the work was abandoned",
            "requests stuck waiting for a free database session until they gave up",
            "no instances available for the route service",
            "slow requests that then failed with a timeout error",
            "a write stuck behind someone else's uncommitted change to the same row",
            "network trouble between services: added latency, lost packets or names that don't resolve",
        ] {
            assert_eq!(intent_of(query), Intent::Failure, "{query}");
        }
        for query in [
            "cart store unreachable from the cart service",
            "lost packets between the frontend and the catalog",
            "names that don’t resolve",
            "the cache could not connect",
        ] {
            assert!(asserts_failure(query), "{query}");
        }
        // Time lost is latency.
        assert_eq!(intent_of("requests that lost seconds on a slow cache"), Intent::Latency);
    }

    #[test]
    fn failure_questions_that_also_ask_for_latency_are_told() {
        // Failures and slowness both asked for: slow spans get the slowness prior too.
        for query in [
            "network trouble between services: added latency, lost packets or names that don't resolve",
            "calls hanging then timing out",
        ] {
            let question = Question::read(query);
            assert!(question.intent == Intent::Failure && question.mentions_latency, "{query}");
        }
        // Latency a query excludes is not asked for; a failure question without it asks none.
        for query in [
            "database trouble other than anything timing out or running slow",
            "checkout errors",
            "a vendor told us to slow down and back off",
            "caller hung up mid-request and the work was abandoned",
        ] {
            assert!(!Question::read(query).mentions_latency, "{query}");
        }
    }

    #[test]
    fn questions_about_failures_the_request_did_not_report_are_told() {
        for query in [
            "problem visible only in the logs while the request returned success",
            "checkout succeeded for the shopper but work done after the order silently went wrong",
            "booking turned down, only a warning was logged",
            "room booking refused even though the HTTP response was 200",
            "errors swallowed by the payment service",
            "errors logged while the status looked fine",
            "problems visible only in application logs while the request itself returned success",
            "failures hidden in the logs, leaving out anything to do with advertising",
        ] {
            assert!(asks_unreported(query), "{query}");
        }
        for query in [
            "database connection timeout errors",
            "service-to-service HTTP calls unusually slow but still successful",
            "requests that hang for seconds and then succeed anyway",
            "bookings still succeed but very late",
            "users cannot log in with their usual credentials",
            "the request returned a server error",
        ] {
            assert!(!asks_unreported(query), "{query}");
        }
    }

    #[test]
    fn excluded_subjects_are_read_out_of_the_text() {
        let read = |query: &str| {
            let question = Question::read(query);
            (question.text, question.excluded)
        };
        assert_eq!(
            read("waiting on another service until the caller gave up, not database related"),
            ("waiting on another service until the caller gave up".to_owned(), vec!["database".to_owned()])
        );
        assert_eq!(
            read("the system said no on purpose: intended refusals, not bugs"),
            ("the system said no on purpose: intended refusals".to_owned(), vec!["bugs".to_owned()])
        );
        assert_eq!(
            read("timeouts of any dependency other than the redis cache"),
            ("timeouts of any dependency".to_owned(), vec!["redis cache".to_owned()])
        );
        assert_eq!(
            read("connection errors except for MongoDB ones, in checkout"),
            ("connection errors, in checkout".to_owned(), vec!["MongoDB".to_owned()])
        );
        // A "not" inside a clause negates its verb: nothing is excluded.
        for query in [
            "RPCs that did not finish within what the caller allowed",
            "the station, trip or order the user asked about does not exist",
            "load balancer had not a single live replica to send the call to",
            "could not discover where a backend service is running",
            "service-to-service calls unusually slow but still successful",
        ] {
            assert_eq!(read(query), (query.to_owned(), Vec::new()), "{query}");
        }
        // Denied failures are read by `denies_failure`, not excluded as subjects.
        assert_eq!(read("slow checkout, not an error"), ("slow checkout, not an error".to_owned(), Vec::new()));
        assert!(denies_failure("slow checkout, not an error"));
        // Denying one kind of failure excludes that kind; the query still asks for failures.
        assert_eq!(
            read("a call to another service could not be placed at all, not a timeout"),
            ("a call to another service could not be placed at all".to_owned(), vec!["timeout".to_owned()])
        );
        assert!(!denies_failure("a call to another service could not be placed at all, not a timeout"));
        assert_eq!(
            read("the app told the user no, but not because of a business rule").1,
            vec!["business rule".to_owned()]
        );
        assert_eq!(read("calls that gave up waiting, apart from plain HTTP ones").1, vec!["HTTP".to_owned()]);
        assert_eq!(
            read("pages slow but still succeeding, and not because of the currency service"),
            ("pages slow but still succeeding".to_owned(), vec!["currency service".to_owned()])
        );
        assert!(read("logins failing, and not only for admins").1.is_empty());
        assert!(read("payments timing out, and never retried").1.is_empty());
        assert_eq!(
            read("failures hidden in the logs, leaving out anything to do with advertising"),
            ("failures hidden in the logs".to_owned(), vec!["advertising".to_owned()])
        );
        assert_eq!(
            read("product catalog problems that aren't network related"),
            ("product catalog problems".to_owned(), vec!["network".to_owned()])
        );
        assert_eq!(
            read("timeouts which are not caused by the database, in checkout"),
            ("timeouts, in checkout".to_owned(), vec!["database".to_owned()])
        );
        // A relative clause that negates a verb excludes nothing.
        let retried = "messages that were not retried after the broker restarted";
        assert_eq!(read(retried), (retried.to_owned(), Vec::new()));
        assert!(asserts_failure("document store down for the contacts and food features"));
        assert!(asserts_failure("calls that timed out"));
        assert!(!asserts_failure("two passengers wanted the same seat"));
        assert!(!asserts_failure("latency regression without any errors"), "a denied failure is not asserted");
        // Nothing else left: the query stands whole.
        assert_eq!(read("not redis"), ("not redis".to_owned(), Vec::new()));
    }
}
