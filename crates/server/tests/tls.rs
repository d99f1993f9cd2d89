//! TLS on every listener, with client certificates on OTLP: a CA and certificates made here with
//! rcgen, the OpenTelemetry Python SDK sending over TLS with its client certificate (and refused
//! without one), the query API read over TLS.

use crate::common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::common::start_server;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

/// PEM files of a CA, a server certificate for localhost and 127.0.0.1, and a client certificate.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "semtrace test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let mut client = CertificateParams::new(vec!["collector".to_string()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client.distinguished_name.push(rcgen::DnType::CommonName, "collector");
    let client_key = KeyPair::generate().unwrap();
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// The Python SDK's exporters (gRPC and HTTP) sending to `grpc` and `http` with `env`.
fn sdk_export(grpc: &str, http: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let script = common::workspace_root().join("tests/interop/otel_sdk_export.py");
    std::process::Command::new(common::python())
        .arg(script)
        .arg(grpc)
        .arg(http)
        .envs(env.iter().map(|(key, value)| (*key, value.as_os_str())))
        // requests lets these override the SDK's own CA (OTEL_EXPORTER_OTLP_CERTIFICATE): a
        // session's `verify` loses to the environment's bundle.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .expect("python runs")
}

/// GET `path` over TLS, trusting `ca`; the status and the JSON body.
async fn get_tls(addr: std::net::SocketAddr, ca: &Path, path: &str) -> (u16, Value) {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    // Chunked or not: the JSON object is between the first `{` and the last `}`.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(start), Some(end)) => serde_json::from_str(&body[start..=end]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_speaks_tls_and_otlp_asks_for_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (cert, key, ca) = (pki.server_cert.clone(), pki.server_key.clone(), pki.ca.clone());
    let server = start_server(&dir.path().join("data"), |config| {
        config.semantic.enabled = false;
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
        config.tls.client_ca_file = Some(ca);
    })
    .await;
    let grpc = format!("https://localhost:{}", server.server.otlp_grpc_addr.port());
    let http = format!("https://localhost:{}", server.server.otlp_http_addr.port());

    // No client certificate: both exporters fail the handshake.
    let refused = sdk_export(
        &grpc,
        &http,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.ca), ("OTEL_EXPORTER_OTLP_TIMEOUT", Path::new("2"))],
    );
    assert!(!refused.status.success(), "mTLS lets in a client without a certificate");

    // The SDK's own TLS settings: the CA, its client certificate and key.
    let sent = sdk_export(
        &grpc,
        &http,
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.ca),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &pki.client_cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &pki.client_key),
        ],
    );
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let sent: Value = serde_json::from_slice(&sent.stdout).unwrap();

    // The query API over TLS (no client certificate: browsers have none).
    for protocol in ["grpc", "http"] {
        let trace_id = sent[protocol][0]["trace_id"].as_str().unwrap();
        let (status, trace) = get_tls(server.server.http_addr, &pki.ca, &format!("/api/v1/traces/{trace_id}")).await;
        assert_eq!(status, 200, "{protocol}: {trace}");
        assert_eq!(trace["spans"].as_array().map(Vec::len), Some(2), "{protocol}: {trace}");
    }
    // Plain HTTP to a TLS listener gets no answer.
    let plain = reqwest::get(format!("http://{}/api/v1/health", server.server.http_addr)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}
