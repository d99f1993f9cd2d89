//! Who may do what: bearer tokens, each with a role and a tenant.
//!
//! A token is 32 random bytes ([`new_token`]); semtrace keeps only its SHA-256 digest (config
//! `auth.tokens`, or the file `auth.token_file`). A fast hash is enough for secrets this long: no
//! dictionary reaches them, and a digest leaked with a config file does not let anyone in. A
//! presented token is hashed and compared with every stored digest in constant time.
//!
//! Each listener asks [`Auth::check`] with what its endpoint needs ([`Access`]): OTLP needs
//! `ingest`, the query API, UI data and Jaeger API need `read`, `/metrics` (which counts every
//! tenant) needs `admin`; `admin` may do everything. With no tokens configured, auth is off: every
//! caller acts as an admin, of the tenant `X-Scope-OrgID` names (else [`DEFAULT_TENANT`]), which is
//! how Tempo and Jaeger take the tenant behind a trusted gateway. semtrace refuses to serve a
//! non-loopback address that way unless told `--insecure` (see the server).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The tenant of data sent or read without a tenant (auth off and no `X-Scope-OrgID`).
pub const DEFAULT_TENANT: &str = "default";

/// A token whose tenant is this acts for the tenant its requests name in `X-Scope-OrgID` (a
/// gateway or collector that serves several tenants).
pub const ANY_TENANT: &str = "*";

/// The header that names a tenant (Tempo, Loki, Mimir, Jaeger's multi-tenancy).
pub const TENANT_HEADER: &str = "x-scope-orgid";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Send spans and log records (OTLP).
    Ingest,
    /// Read: the query API, the UI's data, the Jaeger API.
    Read,
    /// Everything, and `/metrics`.
    Admin,
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Ingest,
    Read,
    Admin,
}

impl Role {
    pub fn grants(self, need: Access) -> bool {
        matches!((self, need), (Role::Admin, _) | (Role::Ingest, Access::Ingest) | (Role::Read, Access::Read))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Access::Ingest => "ingest",
            Access::Read => "read",
            Access::Admin => "admin",
        }
    }
}

/// Who a request comes from, once checked: the token's name and role, and the tenant the request
/// acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (`anonymous` with auth off).
    pub name: Arc<str>,
    pub role: Role,
    pub tenant: Arc<str>,
}

/// A token as configured: its digest, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Names the token in logs and errors (who sent what); not a secret.
    pub name: String,
    /// SHA-256 of the token, 64 hex digits (`semtrace token` prints it).
    pub sha256: String,
    pub role: Role,
    /// The tenant its requests act for; `*`: the one `X-Scope-OrgID` names.
    #[serde(default = "default_tenant")]
    pub tenant: String,
}

fn default_tenant() -> String {
    DEFAULT_TENANT.to_owned()
}

/// A configuration of tokens semtrace cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("auth token `{name}`: sha256 must be 64 hex digits (the SHA-256 of the token, as `semtrace token` prints it), got {length} characters")]
    BadDigest { name: String, length: usize },
    #[error("auth token `{name}`: {reason}")]
    BadTenant { name: String, reason: String },
    #[error("auth tokens `{first}` and `{second}` have the same digest: one token, two entries")]
    Duplicate { first: String, second: String },
}

/// Why a request was turned away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token, or one semtrace does not know: 401 / UNAUTHENTICATED.
    #[error("{0}")]
    Unauthenticated(String),
    /// A known token whose role does not allow this: 403 / PERMISSION_DENIED.
    #[error("{0}")]
    Forbidden(String),
    /// A tenant name that is not one: 400 / INVALID_ARGUMENT.
    #[error("{0}")]
    BadTenant(String),
}

/// The configured tokens.
#[derive(Debug)]
pub struct Tokens {
    entries: Vec<([u8; 32], Principal)>,
}

impl Tokens {
    pub fn new(entries: &[TokenEntry]) -> Result<Tokens, ConfigError> {
        let mut parsed: Vec<([u8; 32], Principal)> = Vec::with_capacity(entries.len());
        for entry in entries {
            let digest: [u8; 32] = hex::decode(entry.sha256.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| ConfigError::BadDigest { name: entry.name.clone(), length: entry.sha256.len() })?;
            if entry.tenant != ANY_TENANT {
                check_tenant(&entry.tenant)
                    .map_err(|reason| ConfigError::BadTenant { name: entry.name.clone(), reason })?;
            }
            if let Some((_, first)) = parsed.iter().find(|(known, _)| *known == digest) {
                return Err(ConfigError::Duplicate { first: first.name.to_string(), second: entry.name.clone() });
            }
            let principal =
                Principal { name: entry.name.as_str().into(), role: entry.role, tenant: entry.tenant.as_str().into() };
            parsed.push((digest, principal));
        }
        Ok(Tokens { entries: parsed })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The token's entry: its digest compared with every stored one, in constant time each, and
    /// all of them whatever matches.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (stored, principal) in &self.entries {
            if constant_time_eq::constant_time_eq_32(stored, &digest) {
                found = Some(principal);
            }
        }
        found
    }
}

/// The listeners' gate: tokens when configured, else off.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Option<Arc<Tokens>>,
}

impl Auth {
    /// No tokens: every caller is let in (loopback only, unless the operator says otherwise).
    pub fn off() -> Auth {
        Auth { tokens: None }
    }

    /// Tokens required; an empty set lets nobody in.
    pub fn with_tokens(tokens: Tokens) -> Auth {
        Auth { tokens: Some(Arc::new(tokens)) }
    }

    pub fn enabled(&self) -> bool {
        self.tokens.is_some()
    }

    /// Checks a request's headers (HTTP, or gRPC metadata, which travels as headers) for `need`:
    /// `Authorization: Bearer <token>`, and `X-Scope-OrgID` where the tenant may be named.
    pub fn check(&self, headers: &http::HeaderMap, need: Access) -> Result<Principal, Denied> {
        let named = named_tenant(headers)?;
        let Some(tokens) = &self.tokens else {
            return Ok(Principal {
                name: "anonymous".into(),
                role: Role::Admin,
                tenant: named.unwrap_or(DEFAULT_TENANT).into(),
            });
        };
        let token = bearer(headers).ok_or_else(|| {
            Denied::Unauthenticated(
                "authentication required: send `Authorization: Bearer <token>` (tokens are set in auth.tokens)".into(),
            )
        })?;
        let principal = tokens
            .authenticate(token)
            .ok_or_else(|| Denied::Unauthenticated("the bearer token is not one semtrace knows".into()))?;
        if !principal.role.grants(need) {
            return Err(Denied::Forbidden(format!(
                "token `{}` has role {}; this needs role {} (or admin)",
                principal.name,
                principal.role.as_str(),
                need.as_str()
            )));
        }
        let tenant = match (&*principal.tenant, named) {
            (ANY_TENANT, named) => named.unwrap_or(DEFAULT_TENANT).into(),
            (own, Some(named)) if named != own => {
                return Err(Denied::Forbidden(format!(
                    "token `{}` belongs to tenant `{own}`; it cannot act for tenant `{named}` (X-Scope-OrgID)",
                    principal.name
                )))
            }
            _ => principal.tenant.clone(),
        };
        Ok(Principal { name: principal.name.clone(), role: principal.role, tenant })
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme in any case, as RFC 9110 allows).
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn named_tenant(headers: &http::HeaderMap) -> Result<Option<&str>, Denied> {
    let Some(value) = headers.get(TENANT_HEADER) else { return Ok(None) };
    let tenant = value.to_str().map_err(|_| Denied::BadTenant("X-Scope-OrgID is not text".into()))?.trim();
    check_tenant(tenant).map_err(Denied::BadTenant)?;
    Ok(Some(tenant))
}

/// A tenant is 1–64 of `A–Z a–z 0–9 _ - .` (the characters Tempo and Mimir allow, less `/`).
pub fn check_tenant(tenant: &str) -> Result<(), String> {
    let valid = (1..=64).contains(&tenant.len())
        && tenant.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.'))
        && tenant != "."
        && tenant != "..";
    if valid {
        Ok(())
    } else {
        Err(format!("tenant `{}` is not a tenant name: 1–64 of A–Z a–z 0–9 _ - .", tenant.escape_debug()))
    }
}

/// A new random token and its SHA-256 digest (hex), for `semtrace token`.
pub fn new_token() -> (String, String) {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random source");
    let token = format!("semtrace_{}", hex::encode(bytes));
    let digest = digest(&token);
    (token, digest)
}

/// SHA-256 of a token, as 64 hex digits.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, token: &str, role: Role, tenant: &str) -> TokenEntry {
        TokenEntry { name: name.into(), sha256: digest(token), role, tenant: tenant.into() }
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs.iter().map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap())).collect()
    }

    fn auth() -> Auth {
        Auth::with_tokens(
            Tokens::new(&[
                entry("collector", "t-ingest", Role::Ingest, "acme"),
                entry("grafana", "t-read", Role::Read, "acme"),
                entry("ops", "t-admin", Role::Admin, "*"),
            ])
            .unwrap(),
        )
    }

    #[test]
    fn a_token_lets_in_what_its_role_allows_for_its_tenant() {
        let auth = auth();
        let ingest = auth.check(&headers(&[("authorization", "Bearer t-ingest")]), Access::Ingest).unwrap();
        assert_eq!((&*ingest.name, ingest.role, &*ingest.tenant), ("collector", Role::Ingest, "acme"));
        assert!(matches!(
            auth.check(&headers(&[("authorization", "Bearer t-ingest")]), Access::Read),
            Err(Denied::Forbidden(message)) if message.contains("role ingest")
        ));
        assert!(matches!(
            auth.check(&headers(&[("authorization", "Bearer t-read")]), Access::Ingest),
            Err(Denied::Forbidden(_))
        ));
        assert!(
            auth.check(&headers(&[("authorization", "bearer t-read")]), Access::Read).is_ok(),
            "scheme in any case"
        );
        assert!(matches!(
            auth.check(&headers(&[("authorization", "Bearer t-read")]), Access::Admin),
            Err(Denied::Forbidden(_))
        ));
        let admin = auth.check(&headers(&[("authorization", "Bearer t-admin")]), Access::Admin).unwrap();
        assert_eq!(&*admin.tenant, DEFAULT_TENANT, "an any-tenant token without X-Scope-OrgID");
    }

    #[test]
    fn no_token_a_wrong_one_or_another_scheme_is_unauthenticated() {
        let auth = auth();
        for pairs in [
            &[][..],
            &[("authorization", "Bearer nope")][..],
            &[("authorization", "Basic dC1yZWFkOg==")][..],
            &[("authorization", "Bearer ")][..],
            &[("authorization", "t-read")][..],
        ] {
            assert!(matches!(auth.check(&headers(pairs), Access::Read), Err(Denied::Unauthenticated(_))), "{pairs:?}");
        }
    }

    #[test]
    fn x_scope_orgid_names_the_tenant_only_where_the_token_allows_it() {
        let auth = auth();
        let as_other = headers(&[("authorization", "Bearer t-read"), ("x-scope-orgid", "globex")]);
        assert!(matches!(auth.check(&as_other, Access::Read), Err(Denied::Forbidden(m)) if m.contains("globex")));
        let as_own = headers(&[("authorization", "Bearer t-read"), ("x-scope-orgid", "acme")]);
        assert_eq!(&*auth.check(&as_own, Access::Read).unwrap().tenant, "acme");
        let gateway = headers(&[("authorization", "Bearer t-admin"), ("x-scope-orgid", "globex")]);
        assert_eq!(&*auth.check(&gateway, Access::Read).unwrap().tenant, "globex");
        let bad = headers(&[("authorization", "Bearer t-admin"), ("x-scope-orgid", "../etc")]);
        assert!(matches!(auth.check(&bad, Access::Read), Err(Denied::BadTenant(_))));
        // Auth off: the header names the tenant, as behind a trusted gateway.
        let off = Auth::off().check(&headers(&[("x-scope-orgid", "globex")]), Access::Admin).unwrap();
        assert_eq!((&*off.tenant, off.role), ("globex", Role::Admin));
        assert_eq!(&*Auth::off().check(&headers(&[]), Access::Ingest).unwrap().tenant, DEFAULT_TENANT);
    }

    #[test]
    fn bad_configurations_are_refused_with_the_token_named() {
        let short = TokenEntry { name: "x".into(), sha256: "abc".into(), role: Role::Read, tenant: "a".into() };
        assert!(Tokens::new(&[short]).unwrap_err().to_string().contains("`x`"));
        let bad_tenant = entry("y", "t", Role::Read, "a b");
        assert!(matches!(Tokens::new(&[bad_tenant]), Err(ConfigError::BadTenant { .. })));
        let twice = [entry("a", "same", Role::Read, "t"), entry("b", "same", Role::Admin, "t")];
        assert!(matches!(Tokens::new(&twice), Err(ConfigError::Duplicate { .. })));
    }

    #[test]
    fn new_tokens_are_long_random_and_match_their_digest() {
        let (token, digest) = new_token();
        let (other, _) = new_token();
        assert_ne!(token, other);
        assert_eq!(token.len(), "semtrace_".len() + 64);
        let tokens =
            Tokens::new(&[TokenEntry { name: "n".into(), sha256: digest, role: Role::Read, tenant: "t".into() }])
                .unwrap();
        assert!(tokens.authenticate(&token).is_some());
        assert!(tokens.authenticate(&other).is_none());
    }
}
