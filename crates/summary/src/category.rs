//! Error categories: well-known failure signatures across languages and libraries, named in
//! plain words. The model reads the words, so a query phrased one way finds an error printed
//! another (`ENOSPC` and "not enough space on the disk" are both "disk full").

use std::sync::LazyLock;

use regex::Regex;

/// Categories the summary builds on (`name_the_dependency`), named once.
pub(crate) const POOL_EXHAUSTED: &str = "connection pool exhausted, no free connection";
pub(crate) const CONNECTION_FAILURE: &str = "connection failure, could not connect";
/// A connection that was open and then reset or closed by the other side (`ECONNRESET`, a broken
/// pipe, an unexpected EOF): filed as a connection failure, worded apart from one that never
/// connected, so that "dropped the TCP session mid-transfer" finds it.
pub(crate) const CONNECTION_DROPPED: &str =
    "connection failure, connection reset or dropped by the other side mid-request";
/// A connection nobody took (`ECONNREFUSED`): nothing listens at that address, because the
/// service is down, restarting or elsewhere. Worded apart so that "nothing listening", "the
/// service was down while it restarted" and "pointed at the wrong port" find it.
pub(crate) const CONNECTION_REFUSED: &str = "connection failure, connection refused, nothing listening there: the service is down or restarting, or the address or port is wrong";
pub(crate) const DNS_FAILURE: &str = "DNS failure, hostname could not be resolved";
/// The ways a dependency can go unreached: named after the dependency when the span says what
/// it called ("database unavailable").
pub(crate) const UNREACHED: [&str; 4] = [CONNECTION_FAILURE, CONNECTION_REFUSED, CONNECTION_DROPPED, DNS_FAILURE];
/// [`POOL_EXHAUSTED`] where the span says what the pool connects to: people ask for "database
/// connections", not for "a pool".
pub(crate) const DATABASE_POOL_EXHAUSTED: &str = "database connection pool exhausted, no free connection";
pub(crate) const CACHE_POOL_EXHAUSTED: &str = "cache connection pool exhausted, no free connection";
/// What could not be reached, named from the span's attributes (`name_the_dependency`).
pub(crate) const CACHE_UNAVAILABLE: &str = "cache unavailable, the cache or key-value store could not be reached";
pub(crate) const DATABASE_UNAVAILABLE: &str = "database unavailable, the database server could not be reached";
pub(crate) const BROKER_UNAVAILABLE: &str = "message broker unavailable, the broker could not be reached";
/// Timeouts named after what did not answer in time (`name_the_dependency`), so that an HTTP
/// read timeout and a database timeout embed apart.
pub(crate) const TIMEOUT: &str = "timeout, took too long";
/// A query the database itself stopped for running past its time limit (not a client's timeout).
pub(crate) const QUERY_TIME_LIMIT: &str = "query cancelled for running too long, over the database's time limit";
pub(crate) const CALL_TIMEOUT: &str = "request to a downstream service timed out, waited too long for it";
pub(crate) const DATABASE_TIMEOUT: &str = "database timed out, the database server did not answer in time";
pub(crate) const CACHE_TIMEOUT: &str = "cache command timed out, the cache did not answer in time";
pub(crate) const BROKER_TIMEOUT: &str = "message broker timed out, the broker did not answer in time";
/// A mail server that refused or did not take the message (also named after a mail dependency).
pub(crate) const EMAIL_DELIVERY: &str = "email delivery failure, the mail server refused the message";
pub(crate) const SERVICE_DISCOVERY: &str =
    "service discovery failure, no available instance or replica of the service, the load balancer had nowhere to send the request";
const LOOKUP_EMPTY: &str = "lookup found nothing, no matching record, empty or missing result";
const SCHEMA_MISMATCH: &str =
    "database schema out of sync with the code, unknown table or column, a migration not applied";
const RESOURCE_NOT_FOUND: &str = "resource not found";

/// (specific, generic): when an error falls in both, only the specific category is named, so
/// the generic one's words do not dilute it ("Column not found" is a schema problem, not a
/// missing resource).
const SUBSUMES: &[(&str, &str)] = &[
    (SCHEMA_MISMATCH, RESOURCE_NOT_FOUND),
    (SCHEMA_MISMATCH, LOOKUP_EMPTY),
    (RESOURCE_NOT_FOUND, LOOKUP_EMPTY),
    (SERVICE_DISCOVERY, RESOURCE_NOT_FOUND),
    (SERVICE_DISCOVERY, "dependency unavailable"),
    // A pool that ran dry answers "no such element" (Apache Commons Pool's `NoSuchElementException:
    // Timeout waiting for idle object`): nothing was looked up.
    (POOL_EXHAUSTED, LOOKUP_EMPTY),
    // "dial tcp …: connect: connection refused" says more than that it could not connect.
    (CONNECTION_REFUSED, CONNECTION_FAILURE),
    // Words of authorization say more than the refusal or failure around them ("NotAuthorizedError:
    // not allowed to destroy?", "TopicAuthorizationException" on a publish).
    (AUTH, BUSINESS_RULE),
    (AUTH, PUBLISH_FAILURE),
    // A replayed idempotency key is a client's request with a duplicate key, but people ask
    // for it by name.
    (IDEMPOTENCY, "invalid input, validation failed"),
    (IDEMPOTENCY, "duplicate key, record already exists"),
    // "exceeded maximum number of attempts" is not about size.
    (RETRIES, TOO_LARGE),
    // A clock off by more than allowed makes tokens and signatures look invalid or expired.
    (CLOCK_SKEW, "signature verification failed, request not authentic"),
    (CLOCK_SKEW, AUTH),
    (CLOCK_SKEW, "invalid input, validation failed"),
    (CLOCK_SKEW, TOO_LARGE),
    (REBALANCE, PUBLISH_FAILURE),
    // Credentials refused while connecting: the connection was made, the login was not (and
    // PostgreSQL's "no pg_hba.conf entry …, SSL off" is about access, not TLS).
    (AUTH, CONNECTION_FAILURE),
    (AUTH, TLS),
    // A resolver that found no host, a server SQL Server could not find: nothing was looked up.
    (DNS_FAILURE, RESOURCE_NOT_FOUND),
    (CONNECTION_FAILURE, RESOURCE_NOT_FOUND),
    // A request cancelled because it ran out of time timed out ("canceled due to the configured
    // HttpClient.Timeout").
    (TIMEOUT, CANCELLED),
    // SIGFPE dumps core: it is a division by zero.
    (DIVISION_BY_ZERO, CRASH),
    (QUEUE_FULL, RATE_LIMITED),
    (MISSING_CONFIG, RESOURCE_NOT_FOUND),
    (MISSING_CONFIG, INVALID_INPUT),
    (SIGNATURE, INVALID_INPUT),
    // A message moved to a dead-letter queue after its attempts ran out is asked for by where it
    // went.
    (DEAD_LETTER, RETRIES),
    // A Mongo client that found no primary found no server it could use: it is not a registry's
    // failure, nor a missing resource ("primary not found in replica set").
    (PRIMARY_UNAVAILABLE, SERVICE_DISCOVERY),
    (PRIMARY_UNAVAILABLE, RESOURCE_NOT_FOUND),
];
const TLS: &str = "TLS certificate or handshake failure";
const NULL_REFERENCE: &str = "null reference, value was never set";
const CRASH: &str = "crash";
const RATE_LIMITED: &str = "rate limited, throttled, too many requests, slow down and back off";
const CANCELLED: &str = "request cancelled by the caller";
const DIVISION_BY_ZERO: &str = "division by zero";
const QUEUE_FULL: &str = "worker pool or queue full, new work rejected";
const MISSING_CONFIG: &str = "missing configuration, a setting or environment variable is not set";
const INVALID_INPUT: &str = "invalid input, validation failed";
const SIGNATURE: &str = "signature verification failed, request not authentic";
const DEAD_LETTER: &str = "message sent to a dead-letter queue after failed processing";
const PRIMARY_UNAVAILABLE: &str = "database primary unavailable, replica set failover or election";
const WRITE_REJECTED: &str = "write rejected, read-only, cannot write or store";
const IDEMPOTENCY: &str = "idempotency key conflict, request replayed with other parameters";
const AUTH: &str = "authentication or permission failure";
const BUSINESS_RULE: &str = "request refused by a business rule, operation not allowed in the current state";
const PUBLISH_FAILURE: &str = "message publish failure";
const RETRIES: &str = "retries exhausted, gave up after repeated attempts";
const TOO_LARGE: &str = "message or payload too large, size limit exceeded";
const CLOCK_SKEW: &str = "clock skew, times differ between hosts";
const REBALANCE: &str = "consumer group rebalance, offset commit failed";

/// (category in plain words, case-insensitive signatures).
const CATEGORIES: &[(&str, &str)] = &[
    (
        TIMEOUT,
        r"timed? ?out|timeout|deadline[ _]?exceeded|deadline has elapsed|\bETIMEDOUT\b|context deadline|took too long|(did|was) not (complete|finish|respond|answer|return|received?)d? (with)?in|not received within|exceeded (its|the|their) \S* ?(time )?budget|(time )?budget (was )?(exceeded|elapsed)|TimeLimitExceeded",
    ),
    (
        QUERY_TIME_LIMIT,
        r"statement cancell?ed|cancell?ing statement due to statement timeout|statement timeout|exceeded (the )?time ?limit|max(imum)?[_ ]statement[_ ]execution[_ ]time|max_execution_time|query execution was interrupted|QueryTimeoutException|MySQLTimeoutException|query.{0,20}(cancell?ed|killed|interrupted)|statement.{0,60}timeout.{0,40}cancell?ed",
    ),
    (
        POOL_EXHAUSTED,
        r"pool.{0,20}exhaust|too many (client )?connections|too many clients|remaining connection slots|QueuePool limit|obtain(ing)? a connection|acquir\w*.{0,20}connection|pool.{0,20}(timeout|timed out|wait|acquire)|acquire timed out|EmptyPool|no more connections|Connection is not available, request timed out|ConnectionPoolTimeout|(waiting|wait) for (a )?connection from (the )?pool|unable to provide a connection|ResourceRequest timed out|no (available|free|idle) connections? in (the )?pool|Connection ?Acquire ?Time(d ?)?out|(get|borrow|obtain)\w* an? (resource|connection|object) from (the )?pool|waiting for (an )?idle object|checkout a connection|all \d+ (\w+ )?connections .{0,30}\b(busy|in use)|timed out in (bb8|deadpool|r2d2)|waiting for an open connection|waiting for a slot to become available",
    ),
    (CONNECTION_REFUSED, r"connection refused|\bECONNREFUSED\b|actively refused"),
    (
        CONNECTION_FAILURE,
        r"connection is not available|could not connect|unable to connect|failed to connect|no route to host|\bEHOSTUNREACH\b|network is unreachable|dial tcp|error occurred while sending the request|error occurred while establishing a connection|was not found or was not accessible|upstream connect error|communications link failure|waiting to connect|server selection (error|timed? ?out)|ServerSelectionTimeout|ServerSelectionError|waiting for a server that matches|MongoSocketOpenException|exception opening socket|NoBrokersAvailable|no brokers? (available|are up|could be reached)",
    ),
    (
        CONNECTION_DROPPED,
        r"\bECONNRESET\b|connection reset|reset by peer|broken pipe|unexpected EOF|\bECONNABORTED\b|\bEPIPE\b|socket hang up|connection (was )?(closed|aborted|lost|dropped)|closed the connection|prematurely closed|server has gone away|lost connection",
    ),
    (
        DNS_FAILURE,
        r"\bENOTFOUND\b|\bEAI_AGAIN\b|UnknownHost|UnresolvedAddress|no such host|name or service not known|getaddrinfo|name resolution|NXDOMAIN|could not resolve (host|hostname|address|name|the host)|resolve host|DNS (resolution|lookup|query) failed|domain name not found|\bhost(name)? (could )?not (be )?found|specified hostname",
    ),
    (TLS, r"certificate|x509|\bssl|\btls(\b|v\d|_)|handshake|PKIX|CERT_"),
    (
        "out of memory",
        r"out of memory|OutOfMemory|bad_alloc|heap space|heap limit|MemoryError|cannot allocate memory|\bENOMEM\b|OOM ?Kill|GC overhead|memory limit|memory size of .{0,40}exhausted|insufficient memory|memory exhausted|exit code 137|\bSIGKILL\b|signal 9\b|memory allocation of \d+ bytes failed|cannot allocate \d+ bytes",
    ),
    (
        "disk full, no storage space left",
        r"no space left|ephemeral.storage|\bENOSPC\b|disk (is )?full|volume (is )?full|not enough space on the disk|disk quota|DiskFull|insufficient storage|the table .{1,60} is full",
    ),
    (
        NULL_REFERENCE,
        r"NullPointer|null reference|found nil|unwrapping an Optional|NullReference|NoneType|nil pointer|nil map|of undefined|of null|undefined is not|is not an object|null object|AttributeError|\bon null\b|for nil\b|undefined method|NoMethodError|Received undefined|\bis null\b|was null\b|unwrap\(\)` on a `None`|on a `None` value|null pointer dereference|construction from null|SEGV on unknown address 0x0+\b|address points to the zero page",
    ),
    (
        "deadlock or lock conflict between transactions",
        r"deadlock|lock wait timeout|LockNotAvailable|(could not|cannot|unable to) obtain lock|lock not available|could not serialize|LockAcquisition|CannotAcquireLock|serialization failure|lock timeout",
    ),
    (
        "duplicate key, record already exists",
        r"duplicate|unique constraint|UNIQUE constraint|already exists|E11000|ALREADY_EXISTS|unique_constraint|UniqueViolation",
    ),
    (
        RATE_LIMITED,
        r"\b429\b|rate.?limit|too many requests|throttl|RESOURCE_EXHAUSTED|SlowDown|quota exceeded|ProvisionedThroughputExceeded|RequestLimitExceeded",
    ),
    (
        "expired credentials, token or session no longer valid",
        r"token.{0,20}expired|expired.{0,20}(token|signature|credential|session)|ExpiredSignature|TokenExpired|session (has )?expired|credentials? (have |has )?expired",
    ),
    (
        AUTH,
        r"\b401\b|\b403\b|unauthori[sz]ed|unauthenticated|token.{0,20}expired|expired.{0,20}token|jwt|invalid token|forbidden|permission denied|access denied|invalid credentials|PERMISSION_DENIED|not authenticated|authentication (failed|unsuccessful|required)|AuthenticationError|invalid login|invalid[-_ ](api[-_ ])?key|incorrect api key|bad credentials|wrong password|password authentication failed|AuthorizationException|not authori[sz]ed|NotAuthori[sz]ed|access is denied|AccessDenied|PermissionDenied|SASL auth|WRONGPASS|NOAUTH|pg_hba\.conf|invalid_authorization_specification|\b28P01\b",
    ),
    (
        "circuit breaker open, tripped after failures, calls to the downstream dependency cut off and failed fast",
        r"circuit.{0,20}open|breaker.{0,20}open|open.{0,10}(circuit|breaker)|BrokenCircuit|CallNotPermitted|short-?circuited|RedLight|\bfuse\b.{0,30}\b(blown|melted)\b",
    ),
    (
        "dependency unavailable",
        r"\b50[234]\b|service unavailable|UNAVAILABLE|circuit.{0,20}open|BrokenCircuit|bad gateway|no healthy upstream|upstream",
    ),
    (WRITE_REJECTED, r"READONLY|read[- ]only|MISCONF"),
    (
        "payment declined",
        r"card.?declined|insufficient.?funds|not enough (balance|funds)|authori[sz]ation refused|do_not_honor|declined|payment[ _-]?(\w+ )?(has |was )?(failed|refused)|CardException|security code is incorrect|card (number )?is (invalid|incorrect|expired)",
    ),
    (
        CRASH,
        r"\bpanic\b|segmentation|application_start_failure|Kernel pid terminated|SIGSEGV|SIGABRT|fatal error|core dumped|panicked at|AccessViolation|Back-off restarting failed container|CrashLoopBackOff|exited on signal|GenServer .{0,60} terminating",
    ),
    (
        "foreign key violation, referenced record missing",
        r"foreign key|ForeignKeyViolation|REFERENCE constraint|parent key not found|child record found",
    ),
    // A template's or a script's syntax error is not a query's: only SQL's wording counts.
    (
        "SQL syntax error, malformed query",
        r#"syntax error at or near|syntax error at end of input|error in your SQL syntax|SQL ?syntax|SQLSyntaxError|Incorrect syntax near|\b42601\b|\b42000\b|ORA-009(00|33|36)|near "[^"]{0,40}": syntax error|SQLITE_ERROR.{0,40}syntax|syntax error.{0,60}\b(SQL|query|statement|SELECT|INSERT|UPDATE|DELETE|FROM|WHERE)\b"#,
    ),
    (
        SCHEMA_MISMATCH,
        r"UndefinedColumn|UndefinedTable|no such (table|column)|Unknown column|column .{0,60} does not exist|relation .{0,80} does not exist|Invalid (column|object) name|column not found|table .{0,60}doesn't exist|42703|42P01|42S02|42S22|PendingMigration|migrations? (are )?pending|has pending (model )?changes|add a new migration|schema (mismatch|version)|FlywayValidateException|migrations? (have )?failed validation",
    ),
    (
        "stack overflow, runaway recursion",
        r"StackOverflow|stack overflow|RecursionError|maximum recursion depth|Maximum call stack|stack exceeds|stack level too deep|nesting level",
    ),
    (
        "index out of range, no element at that position of the list or array",
        r"IndexError|IndexOutOfBounds|out_of_range|_M_range_check|index out of range|out of bounds|ArgumentOutOfRange|Undefined (array key|offset|index)",
    ),
    (
        DIVISION_BY_ZERO,
        r"Floating point exception|\bSIGFPE\b|divi(de|sion) by zero|DivideByZero|ZeroDivision|/ by zero|ArithmeticError|/ 0\b",
    ),
    (
        "malformed data, parsing or deserialization failed",
        r"JSONDecodeError|JsonParse|JsonProcessing|JsonException|SerializationException|unexpected token|Unexpected end of JSON|cannot (deserialize|unmarshal)|failed to (parse|decode|deserialize|unmarshal)|json: cannot|InvalidFormat|parse error|FormatException|not in a correct format|ParseException|could not be parsed|(cannot|unable to|could not) parse|invalid syntax|For input string|Invalid (date|time value)|UnicodeDecodeError|can't decode byte|invalid character .{1,10} looking for|MalformedCSV|Unclosed quoted field|expected \d+ (columns|fields|values),? (but )?(found|got) \d+",
    ),
    (
        INVALID_INPUT,
        r"\b(400|422)\b|ValidationError|validation failed|IllegalArgument|ValueError|ArgumentException|invalid (argument|input|parameter|request|format)|INVALID_ARGUMENT|bad request|malformed|ConstraintViolationException|must be a well-formed|InvalidArgument|must be between",
    ),
    (
        CANCELLED,
        r"context canceled|CancelledError|TaskCanceled|OperationCanceled|(?-i:\bCANCELLED\b)|operation was cancell?ed|(?-i:status: Cancelled, message)|AbortError|operation was aborted|client closed (the )?(request|connection)|request aborted|ClientAbort|ClientDisconnect|client (has )?disconnected|client went away|ERR_CANCELED|CanceledError",
    ),
    ("too many open files, out of file descriptors", r"\bEMFILE\b|\bENFILE\b|too many open files|file descriptors?"),
    (
        QUEUE_FULL,
        r"RejectedExecution|TaskRejected|BufferOverflow|buffer (is )?full|BulkheadFull|bulkhead|(thread|worker|executor) ?pool.{0,30}(full|exhausted|busy|saturated)|queue (is )?full|queue capacity|rejected.execution|no available capacity|no (available|free|idle) (worker|thread)s?|max(imum)? concurren|blocked on submit|ErrPoolOverload|listen queue",
    ),
    (
        CLOCK_SKEW,
        r"clock.{0,20}(skew|drift)|\bNTP\b|clock offset|NotBeforeError|jwt not active|NotYetValid|Signature expired|is now earlier than|time.?skew|TooSkewed|request time and the current time|timestamp outside the tolerance|issued in the future|iat.{0,20}future|time (is )?out of sync|ImmatureSignature|token is not yet valid|clock moved backwards",
    ),
    (
        TOO_LARGE,
        r"(message|payload|record|request|entity|body|file|batch|event|document|object|item|upload|frame|header)s? (is |was |are )?too large|TooLarge|MessageSize|\b413\b|payload size|exceeds? (the )?(max|maximum|limit|size)|larger than (the )?(max|allowed|\d)|must be (shorter|smaller) than|max[._ ]?(request|message)[._ ]?size|size limit",
    ),
    (
        REBALANCE,
        r"rebalanc|CommitFailed|generation id|commit (cannot be completed|failed)|offset commit|partitions? (revoked|lost|reassigned)|not (a )?member of (the )?group|UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION|max\.poll\.interval",
    ),
    (IDEMPOTENCY, r"idempoten"),
    (
        RETRIES,
        r"max(imum)? ?retries|retries exhausted|max(imum)?[_ ](number of )?attempts|retry limit|too many retries|after \d+ (attempts|retries|tries)|MaxRetry|RetryError|gave up after|giving up after ([2-9]|\d{2,}) attempt",
    ),
    (
        "concurrent modification, optimistic lock conflict: the record was edited by another writer at the same time",
        r"optimistic ?lock|StaleObject|(modified|changed|updated) by another|StaleState|version[ _]conflict|ConcurrentModification|Collection was modified|changed size during iteration|concurrent update|\b409\b|row was updated or deleted by another|precondition failed|\b412\b|StaleData|DbUpdateConcurrency|expected to (affect|update) 1 row|0 were matched|StaleEntry|has been modified; please apply|stale (struct|entity|record|object|version)",
    ),
    (
        SERVICE_DISCOVERY,
        r"no instances? available|no (healthy |available |live )?(instances?|endpoints?|servers?|replicas?) (available|found|registered)|no (healthy|available|live|passing|ready) (instances?|endpoints?|servers?|replicas?|upstreams?|hosts?|pods?|backends?)|produced zero addresses|no addresses (available|resolved)|load ?balancer does not (contain|have)|does not have (an )?available server|no servers? available for|(could not|cannot|unable to|failed to) (find|locate|discover|resolve) (an? )?(instance|service instance|endpoint)|service instance|EndpointNotFound|no endpoints|ServiceUnavailable.{0,30}discovery|eureka|consul.{0,40}(no|not|fail)|service registry|not registered (in|with) (the )?(registry|discovery|consul|eureka)|any known server|DiscoveryTimeout|discovery .{0,30}(timed out|failed)|no node registered|nacos",
    ),
    (
        BUSINESS_RULE,
        r"wrong (state|status)|invalid (state|status)|illegal ?state|not allowed|not permitted|already (been )?(paid|cancell?ed|used|taken|booked|sold|reserved|processed|completed|shipped|checked in|collected|refunded|closed|submitted|confirmed|in use)|cannot be (cancell?ed|modified|changed|refunded|paid|updated|deleted)|(state|status) (is|was) not|state transition|(order|ticket|seat|account|booking|payment)('s)? (status|state) (is|was)|business rule|rule violation|insufficient (stock|inventory|balance|seats)|out of stock|sold out|no (seats?|tickets?) (left|available|remaining)|not applicable|NotApplicable|(cannot|can't|can not) \w+( \w+)? while\b",
    ),
    (
        LOOKUP_EMPTY,
        r"(\b|_)(result|results|list|data|record|records|info|detail|details|response|entity|item|items|set)(\s|_)?(is|was|are|were) (null|nil|none|empty)|(?-i:[a-z](Result|Results|List|Data|Record|Records|Info|Detail|Details|Response|Entity|Item|Items|Set))(\s|_)?(is|was|are|were) (null|nil|none|empty)|found nothing|nothing (was )?found|no (matching )?(results?|records?|data|rows?|entries|entry|items?|matches)( were| was)? (found|returned)|returned (nothing|no rows|no results|an empty|empty|null)|empty result|EmptyResult|NoSuchElement|Sequence contains no (matching )?elements?|EntityNotFound|no rows in (the )?result|NoResultsError|expected at least one result|ObjectNotFound|no such (record|entity|row|item|user|order|account)",
    ),
    (
        RESOURCE_NOT_FOUND,
        r"\b404\b|not found|no route found|NoSuchKey|NoSuchBucket|FileNotFound|\bENOENT\b|no such file|NOT_FOUND|RecordNotFound|(couldn't|could not|cannot) find",
    ),
    (
        MISSING_CONFIG,
        r"KeyError: '?(?-i:[A-Z][A-Z0-9_]{2,})|key not found: .?(?-i:[A-Z][A-Z0-9_]{2,})|environment variable|\benv(ironment)? var|has not been initiali[sz]ed|not configured|missing (required )?(config|configuration|setting|env)|ConfigurationError|ImproperlyConfigured|resolve placeholder|unsupported protocol scheme|Missing\w*KeyException|no [\w ]{1,40} (has been|was) (specified|configured|set)\b|OptionsValidationException|configuration (property|key|value|setting|entry) .{0,60}not found|not found in (the )?configuration|missing `?\w+`? for '?\w+'? environment|Failed to configure a DataSource",
    ),
    (
        PRIMARY_UNAVAILABLE,
        r"not primary|NotWritablePrimary|WritableServerSelector|writable primary|targetServerType: primary|tablet_type:PRIMARY|NotPrimary|not master|NotMaster|no primary|ReplicaSetNoPrimary|PrimarySteppedDown|ReplStateChange|\belection\b|primary not found|in a read-only transaction|ReadOnlySqlTransaction|running with the --read-only option",
    ),
    (
        "cluster unavailable, not enough live nodes, replicas or shards",
        r"NoHostAvailable|no hosts? available|not enough replicas|achieve consistency|UnavailableException|no_shard_available|all shards failed|search_phase_execution_exception|cluster_block|ClusterBlock|cluster (is )?(red|unavailable|down)|NoNodeAvailable|no (alive|available|live) nodes|master_not_discovered|etcdserver: no leader",
    ),
    (
        EMAIL_DELIVERY,
        r"\bSMTP|EENVELOPE|\bEAUTH\b|mail (server|relay)|(mail|recipient|sender).{0,40}rejected|rejected.{0,40}(mail|recipient)|MailDelivery|(send|deliver) (mail|e-?mail)",
    ),
    (
        SIGNATURE,
        r"signature (is )?(invalid|mismatch)|invalid signature|SignatureVerification|InvalidSignature|InvalidWebhookSignature|no signatures found|signature.{0,30}(does not match|doesn't match|verification failed|validation failed)",
    ),
    (
        DEAD_LETTER,
        r"dead[- ]?letter|\bDLQ\b|\bDead set\b|\bDLT\b|poison|R-FAULT|parking ?lot|moved to .{0,30}(error|failed) queue",
    ),
    (
        PUBLISH_FAILURE,
        r"(kafka|rabbit|amqp|broker|nats|pubsub|sqs|sns).{0,80}(fail|error|timed out|not the leader)|failed to (produce|publish|send message)|NotLeader|unroutable|message nacked|NackError|message\(s\) NACKed|Message production error|UnknownTopicOrPartition",
    ),
];

/// The signatures, one regex each, matched on bytes with ASCII classes and case. As one
/// `RegexSet` with Unicode classes they made an automaton the lazy DFA gave up on, and the
/// PikeVM it fell back to took 2–4 ms a failed span (`semtrace-bench categories` times it);
/// each alone is found by its literals and a small DFA. Signatures are English words and
/// library names.
static SIGNATURES: LazyLock<Vec<regex::bytes::Regex>> =
    LazyLock::new(|| CATEGORIES.iter().map(|(_, pattern)| signature(pattern)).collect());

/// A signature as [`categorize`] matches it: on bytes, ASCII classes, any case.
fn signature(pattern: &str) -> regex::bytes::Regex {
    regex::bytes::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .unicode(false)
        .build()
        .expect("signature patterns are valid")
}

/// What signatures must not read: decimals and versions ("after 412.331 seconds" is no HTTP 412),
/// and urllib3's "Max retries exceeded with url", which wraps a connection error however many
/// retries were allowed (zero by default).
static NOT_SIGNATURES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b\d+(\.\d+)+\b|max retries exceeded with url").expect("the pattern is valid"));

/// The categories an error text falls in, in the table's order (at most three).
pub fn categorize(error_text: &str) -> Vec<&'static str> {
    let read = NOT_SIGNATURES.replace_all(error_text, "#");
    // The signatures' classes are ASCII: a non-ASCII letter or digit reads as a letter (so "502µs"
    // is no HTTP 502, as with Unicode classes), anything else as a space, one byte a character
    // (so `.{0,80}` still counts characters).
    let read = if read.is_ascii() {
        read
    } else {
        std::borrow::Cow::Owned(
            read.chars()
                .map(|c| {
                    if c.is_ascii() {
                        c
                    } else if c.is_alphanumeric() {
                        'x'
                    } else {
                        ' '
                    }
                })
                .collect::<String>(),
        )
    };
    let matched: Vec<&'static str> = SIGNATURES
        .iter()
        .zip(CATEGORIES)
        .filter(|(signature, _)| signature.is_match(read.as_bytes()))
        .map(|(_, (name, _))| *name)
        .collect();
    // "[getOrder][Order Lookup Failed][orderResult is null]": a lookup that found nothing, not
    // a null dereference, unless a runtime says it dereferenced one (issue 17's own example is
    // `[getThing][Get Thing Failed][thingListResult is null]`).
    let lookup_not_null = matched.contains(&LOOKUP_EMPTY)
        && matched.contains(&NULL_REFERENCE)
        && !NULL_DEREFERENCE.is_match(read.as_bytes());
    matched
        .iter()
        .copied()
        .filter(|name| !SUBSUMES.iter().any(|(specific, generic)| generic == name && matched.contains(specific)))
        .filter(|name| !(lookup_not_null && *name == NULL_REFERENCE))
        .take(3)
        .collect()
}

/// A runtime's own words for dereferencing a missing value: with them, a null "result" is a
/// null reference, not a lookup that found nothing.
static NULL_DEREFERENCE: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    signature(
        r"NullPointer|NullReference|TypeError|nil pointer|NoneType|AttributeError|undefined method|NoMethodError|SIGSEGV|segmentation|unwrap\(\)|of (null|undefined)",
    )
});

/// A category's short name, the words before its first comma ("timeout" for "timeout, took too
/// long"): how people pick and read it.
pub fn category_label(name: &str) -> &str {
    name.split_once(',').map_or(name, |(label, _)| label).trim()
}

/// Categories that say how something failed but not what: a failure is filed under one of
/// them only when it names nothing more specific ("database timed out" before "timeout").
const GENERIC: &[&str] = &[
    // A pool that timed out handing out a connection ran dry: it is filed as exhausted, not as
    // a timeout.
    POOL_EXHAUSTED,
    TIMEOUT,
    CONNECTION_FAILURE,
    CONNECTION_REFUSED,
    CONNECTION_DROPPED,
    "dependency unavailable",
    CRASH,
    AUTH,
];

/// Categories named after the dependency that failed (`name_the_dependency`): more than a
/// generic one, less than a signature of the failure itself ("query cancelled for running too
/// long" before "database timed out").
const NAMED: &[&str] = &[
    DATABASE_POOL_EXHAUSTED,
    CACHE_POOL_EXHAUSTED,
    CACHE_UNAVAILABLE,
    DATABASE_UNAVAILABLE,
    BROKER_UNAVAILABLE,
    CALL_TIMEOUT,
    DATABASE_TIMEOUT,
    CACHE_TIMEOUT,
    BROKER_TIMEOUT,
];

/// A category named after the dependency that outranks a failure's own signature: the
/// publish-failure signature also matches a broker that timed out or was unreachable.
const NAMED_OVER_SPECIFIC: &[(&str, &str)] =
    &[(BROKER_TIMEOUT, PUBLISH_FAILURE), (BROKER_UNAVAILABLE, PUBLISH_FAILURE)];

/// Whether a category names the failure itself, not only how it failed ([`GENERIC`]) or what
/// failed ([`NAMED`]).
pub(crate) fn is_specific(name: &str) -> bool {
    !GENERIC.contains(&name) && !NAMED.contains(&name)
}

/// The category a failure is filed under, among those its text names (in their order): the
/// first signature of the failure itself, else the first named after its dependency, else the
/// generic one first in [`GENERIC`]'s order.
pub fn primary_category(names: &[&'static str]) -> Option<&'static str> {
    let first = names.iter().copied().find(|name| is_specific(name));
    // A broker that timed out or could not be reached says more than "the publish failed".
    if let Some(named) = first.and_then(|first| {
        NAMED_OVER_SPECIFIC
            .iter()
            .find(|(named, specific)| *specific == first && names.contains(named))
            .map(|(named, _)| *named)
    }) {
        return Some(named);
    }
    first
        .or_else(|| names.iter().copied().find(|name| NAMED.contains(name)))
        .or_else(|| GENERIC.iter().copied().find(|generic| names.contains(generic)))
        .or_else(|| names.first().copied())
}

/// The category a template's text files its failure under (its short name), if the text names
/// any: the primary one ([`primary_category`]) of its `Category:` sentence.
pub fn category_of_template(template: &str) -> Option<&'static str> {
    primary_category(&categories_of(template)).map(category_label)
}

/// Every category's full name (its short name, a comma, and words saying it again), in the
/// taxonomy's order: what a category's embedding is made from.
pub fn category_names() -> Vec<&'static str> {
    names().collect()
}

/// Every category's short name ([`category_label`]), in the taxonomy's order, once each.
pub fn category_labels() -> Vec<&'static str> {
    let mut labels: Vec<&'static str> = Vec::new();
    for label in names().map(category_label) {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// Every category a summary can name.
fn names() -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().map(|(name, _)| *name).chain(NAMED.iter().copied())
}

/// The categories a summary or template names in its `Category:` sentence, in its order.
/// Only known names count: a sentence cut short by the template's length limit yields the
/// categories it still names whole.
pub fn categories_of(summary: &str) -> Vec<&'static str> {
    let Some(start) = summary.rfind(SENTENCE) else { return Vec::new() };
    let listed = &summary[start + SENTENCE.len()..];
    let listed = listed.split_once(". ").map_or(listed, |(sentence, _)| sentence).trim_end_matches('.');
    listed.split(SEPARATOR).filter_map(|said| names().find(|name| *name == said)).collect()
}

/// How a summary introduces its categories, and what separates them.
pub(crate) const SENTENCE: &str = " Category: ";
pub(crate) const SEPARATOR: &str = "; ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_unique_and_readable() {
        let labels = category_labels();
        // Only a connection failure is worded three ways (could not connect; refused; dropped once
        // open).
        let shared: Vec<&str> = names()
            .filter(|name| names().filter(|other| category_label(other) == category_label(name)).count() > 1)
            .collect();
        assert_eq!(shared, vec![CONNECTION_REFUSED, CONNECTION_FAILURE, CONNECTION_DROPPED], "{labels:?}");
        // A name holds neither the separator nor a sentence's end: `categories_of` reads the
        // `Category:` sentence back by them.
        assert!(names().all(|name| !name.contains(SEPARATOR) && !name.contains(". ")), "{labels:?}");
        assert_eq!(category_label(TIMEOUT), "timeout");
        assert_eq!(category_label(DATABASE_TIMEOUT), "database timed out");
        assert!(labels.iter().all(|label| !label.is_empty() && label.len() < 72), "{labels:?}");
    }

    #[test]
    fn a_dns_resolution_failure_is_filed_as_one() {
        let said = categorize("DNS resolution failed for catalog.svc:50051: C-ares status is not ARES_SUCCESS");
        assert_eq!(primary_category(&said), Some(DNS_FAILURE), "{said:?}");
    }

    #[test]
    fn names_well_known_failures_in_plain_words() {
        let cases = [
            (
                "dial tcp 10.2.3.4:5432: i/o timeout",
                vec!["timeout, took too long", "connection failure, could not connect"],
            ),
            // A decimal is no HTTP status ("412.331 seconds").
            ("WARNING: [pool www] child 31882 exited on signal 11 (SIGSEGV) after 412.331045 seconds from start", vec!["crash"]),
            // urllib3's "Max retries exceeded with url" wraps the connection error.
            (
                "HTTPSConnectionPool(host='api.partner.io', port=443): Max retries exceeded with url: /v1/orders (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))",
                vec![CONNECTION_REFUSED],
            ),
            // Words of authorization say more than a refusal or a failed publish around them.
            ("Pundit::NotAuthorizedError: not allowed to destroy? this Invoice", vec![AUTH]),
            ("org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [payments]", vec![AUTH]),
            // A TLS socket that hung up is no TLS failure.
            ("Error: socket hang up at TLSSocket.socketOnEnd { code: 'ECONNRESET' }", vec![CONNECTION_DROPPED]),
            // Dropped once open, not refused: worded apart.
            ("read tcp 10.1.2.3:38588->10.1.9.9:8000: read: connection reset by peer", vec![CONNECTION_DROPPED]),
            // A duration glued to a non-ASCII unit is no status code.
            ("connection reset by peer after 502µs", vec![CONNECTION_DROPPED]),
            ("java.net.ConnectException: Connection refused", vec![CONNECTION_REFUSED]),
            ("ENOSPC: no space left on device, write", vec!["disk full, no storage space left"]),
            ("There is not enough space on the disk.", vec!["disk full, no storage space left"]),
            (
                "TypeError: Cannot read properties of undefined (reading 'price')",
                vec!["null reference, value was never set"],
            ),
            ("java.lang.OutOfMemoryError: Java heap space", vec!["out of memory"]),
            (
                "READONLY You can't write against a read only replica.",
                vec!["write rejected, read-only, cannot write or store"],
            ),
            ("getaddrinfo ENOTFOUND api.partner.example", vec!["DNS failure, hostname could not be resolved"]),
            (
                "jwt.exceptions.ExpiredSignatureError: Signature has expired",
                vec!["expired credentials, token or session no longer valid", "authentication or permission failure"],
            ),
            ("EOPENBREAKER: Breaker is open", vec!["circuit breaker open, tripped after failures, calls to the downstream dependency cut off and failed fast"]),
            // A client-side balancer or resolver with nowhere to send the call: Envoy, gRPC, Consul.
            ("14 UNAVAILABLE: no healthy upstream", vec![super::SERVICE_DISCOVERY]),
            ("name resolver error: produced zero addresses", vec![super::SERVICE_DISCOVERY]),
            ("no passing instances of orders registered in consul", vec![super::SERVICE_DISCOVERY]),
            (
                "insert or update on table \"orders\" violates foreign key constraint \"orders_customer_id_fkey\"",
                vec!["foreign key violation, referenced record missing"],
            ),
            ("ERROR: column \"emial\" does not exist (SQLSTATE 42703)", vec![SCHEMA_MISMATCH]),
            ("ERROR: syntax error at or near \"FORM\" (SQLSTATE 42601)", vec!["SQL syntax error, malformed query"]),
            ("java.lang.StackOverflowError", vec!["stack overflow, runaway recursion"]),
            (
                "panic: runtime error: index out of range [5] with length 3",
                vec!["crash", "index out of range, no element at that position of the list or array"],
            ),
            ("ZeroDivisionError: division by zero", vec!["division by zero"]),
            (
                "json: cannot unmarshal string into Go struct field Order.total of type float64",
                vec!["malformed data, parsing or deserialization failed"],
            ),
            ("ValueError: invalid literal for int() with base 10: 'abc'", vec!["invalid input, validation failed"]),
            ("rpc error: code = Canceled desc = context canceled", vec!["request cancelled by the caller"]),
            ("accept4: too many open files", vec!["too many open files, out of file descriptors"]),
            (
                "Concurrent::RejectedExecutionError: no executor available for Concurrent::ThreadPoolExecutor",
                vec!["worker pool or queue full, new work rejected"],
            ),
            (
                "RequestTimeTooSkewed: The difference between the request time and the current time is too large.",
                vec!["clock skew, times differ between hosts"],
            ),
            (
                "The message is 3529494 bytes when serialized which is larger than 1048576",
                vec!["message or payload too large, size limit exceeded"],
            ),
            (
                "CommitFailedException: Commit cannot be completed since the group has already rebalanced",
                vec!["consumer group rebalance, offset commit failed"],
            ),
            ("Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes)", vec!["out of memory"]),
            ("SQLSTATE[42S22]: Column not found: 1054 Unknown column 'orders.tier'", vec![SCHEMA_MISMATCH]),
            ("NoSuchKey: The specified key does not exist.", vec!["resource not found"]),
            (
                "FileNotFoundException: /tmp/invoices/INV-1.pdf (Too many open files)",
                vec!["too many open files, out of file descriptors", "resource not found"],
            ),
            (
                "KeyError: 'PARTNER_FEED_TOKEN'",
                vec!["missing configuration, a setting or environment variable is not set"],
            ),
            (
                "MongoServerError: not primary and secondaryOk=false",
                vec!["database primary unavailable, replica set failover or election"],
            ),
            (
                "replica set election in progress, try again",
                vec!["database primary unavailable, replica set failover or election"],
            ),
            (
                "gocql: no hosts available in the pool",
                vec!["cluster unavailable, not enough live nodes, replicas or shards"],
            ),
            (
                "EENVELOPE: Can't send mail - all recipients were rejected: 550 5.1.1 Recipient address rejected",
                vec!["email delivery failure, the mail server refused the message"],
            ),
            (
                "No signatures found matching the expected signature for payload",
                vec!["signature verification failed, request not authentic"],
            ),
            // Where the message went says more than that its attempts ran out.
            ("record moved to the dead-letter topic orders.DLT after 3 attempts", vec![DEAD_LETTER]),
            ("Sidekiq: ImportCatalogJob jid=9d0a moved to the Dead set after failing all attempts", vec![DEAD_LETTER]),
            // Credentials refused while connecting are no connection failure, nor TLS.
            (
                "failed to connect to `host=pg-main.internal user=orders database=orders`: failed SASL auth (FATAL: password authentication failed for user \"orders\" (SQLSTATE 28P01))",
                vec![AUTH],
            ),
            ("FATAL 28000 (invalid_authorization_specification) no pg_hba.conf entry for host \"10.0.4.17\", SSL off", vec![AUTH]),
            ("StackExchange.Redis.RedisServerException: WRONGPASS invalid username-password pair", vec![AUTH]),
            ("resolve: Host not found (authoritative) [asio.netdb:1]", vec![DNS_FAILURE]),
            ("Floating point exception (core dumped)  ./fee_calc --batch 2024-05-12", vec![DIVISION_BY_ZERO]),
            (
                "TaskCanceledException: The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.",
                vec![TIMEOUT],
            ),
            // A write a read-only replica refused is a rejected write; the failover that sent it
            // there is named too.
            ("ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)", vec![WRITE_REJECTED, PRIMARY_UNAVAILABLE]),
            ("Warning  Failed  pod/payments-api-5f6b7c8d9-zt4qn  Failed to pull image", Vec::new()),
            ("PaymentFailedException: payment processing failed", vec!["payment declined"]),
            ("Call to a member function getTranslation() on null", vec!["null reference, value was never set"]),
            ("everything is fine", vec![]),
        ];
        for (text, want) in cases {
            assert_eq!(categorize(text), want, "{text}");
        }
    }

    #[test]
    fn libraries_own_words_for_common_failures() {
        let primary = |text: &str| primary_category(&categorize(text)).map(category_label);
        for (text, want) in [
            // A pool that timed out handing out a connection ran dry.
            (
                "org.apache.http.conn.ConnectionPoolTimeoutException: Timeout waiting for connection from pool",
                "connection pool exhausted",
            ),
            ("TimeoutError: ResourceRequest timed out", "connection pool exhausted"),
            ("thread 'main' panicked at src/main.rs:4:5:\nexplicit panic", "crash"),
            ("called `Option::unwrap()` on a `None` value", "null reference"),
            ("memory allocation of 4294967296 bytes failed", "out of memory"),
            (
                "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist on disk",
                "write rejected",
            ),
            ("Stripe\\Exception\\CardException: Your card's security code is incorrect.", "payment declined"),
            ("FATAL: password authentication failed for user \"app\"", "authentication or permission failure"),
            ("UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0", "malformed data"),
            ("render failed: deadline has elapsed", "timeout"),
            // Library messages seen in the labelled set's misfiles (README, "Error categories").
            ("Grpc.Core.RpcException: Status(StatusCode=\"DeadlineExceeded\", Detail=\"\")", "timeout"),
            ("Timeout occurred while waiting for a slot to become available", "connection pool exhausted"),
            ("status: Cancelled, message: \"the client went\", details: []", "request cancelled by the caller"),
            ("fetching quotes: operation was canceled", "request cancelled by the caller"),
            // A business state that reads "cancelled" is no caller's cancellation.
            ("refund not allowed: order status: cancelled", "request refused by a business rule"),
            // One attempt is no retry (go-retryablehttp with RetryMax 0 wraps the error so).
            (
                "GET http://stock:8080/items giving up after 1 attempt(s): dial tcp: connection refused",
                "connection failure",
            ),
            ("too many goroutines blocked on submit or Nonblocking is set", "worker pool or queue full"),
            ("POST https://ledger.internal/v1/entries giving up after 4 attempt(s)", "retries exhausted"),
            ("RuntimeError: dictionary changed size during iteration", "concurrent modification"),
            ("[getThing][Get Thing Failed][thingListResult is null]", "lookup found nothing"),
            // A runtime's own null dereference stays one; "offset" is no "set".
            ("TypeError: data is null", "null reference"),
            ("ArgumentNullException: offset is null", "null reference"),
            // "… lookup failed" wraps a cause: it is no lookup that found nothing.
            (
                "station lookup failed, serving offices without station ids: AxiosError: timeout of 3000ms exceeded",
                "timeout",
            ),
            (
                "System.InvalidOperationException: Section 'Redis:Endpoint' not found in configuration.",
                "missing configuration",
            ),
            ("No suitable servers found: [primary not found in replica set rs0]", "database primary unavailable"),
            (
                "Server selection timeout: No available servers. Topology: { Type: ReplicaSetNoPrimary }",
                "database primary unavailable",
            ),
            ("pika.exceptions.NackError: 2 message(s) NACKed", "message publish failure"),
        ] {
            assert_eq!(primary(text), Some(want), "{text}");
        }
        // A broker that timed out (named after the dependency by the summary) outranks the
        // publish-failure signature; a publish failure alone stays one.
        let publish = "message publish failure";
        assert_eq!(primary_category(&[TIMEOUT, publish, BROKER_TIMEOUT]), Some(BROKER_TIMEOUT));
        assert_eq!(primary_category(&[publish, CONNECTION_FAILURE, BROKER_UNAVAILABLE]), Some(BROKER_UNAVAILABLE));
        assert_eq!(primary_category(&[publish, TIMEOUT]), Some(publish));
    }

    #[test]
    fn reads_back_the_categories_a_summary_names() {
        assert_eq!(
            categories_of("a failed: no space left. Category: disk full, no storage space left. took 2 ms."),
            vec!["disk full, no storage space left"]
        );
        // The last Category sentence is the summary's own; a message quoting the word is not.
        assert_eq!(
            categories_of("a failed: Category: crash. Category: crash; out of memory. very slow."),
            vec!["crash", "out of memory"]
        );
        // A sentence cut by the length limit keeps the names it holds whole.
        assert_eq!(categories_of("a failed. Category: crash; out of mem"), vec!["crash"]);
        assert_eq!(categories_of("a client span GET /x. took 3 ms."), Vec::<&str>::new());
        assert_eq!(categories_of("x. Category: something else."), Vec::<&str>::new());
    }
}
