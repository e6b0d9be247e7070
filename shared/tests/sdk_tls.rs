//! The functions' HTTPS client for AWS calls, against a TLS server on 127.0.0.1 whose
//! certificate a local test authority issued: an SDK client trusting that authority reaches it,
//! and the client with the Amazon Trust Services roots (what the functions deploy with) refuses
//! it during the handshake, before a byte of the request is sent.
#![cfg(all(feature = "sdk", feature = "dynamodb"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::sdk::{amazon_https_client, https_client_trusting};
use argus::testing::peer_sdk_config_with;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A certificate authority made for this test, and a server certificate it issued for
/// 127.0.0.1.
struct LocalAuthority {
    authority_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn local_authority() -> LocalAuthority {
    let authority_key = rcgen::KeyPair::generate().unwrap();
    let mut authority = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    authority.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    authority
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Argus test authority");
    authority.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let authority_certificate = authority.self_signed(&authority_key).unwrap();
    let issuer = rcgen::Issuer::new(authority, authority_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let server_certificate = server.signed_by(&server_key, &issuer).unwrap();
    LocalAuthority {
        authority_pem: authority_certificate.pem(),
        server_chain: vec![server_certificate.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
    }
}

/// What the server saw, connection by connection.
#[derive(Debug)]
enum Seen {
    /// A request it answered: its head.
    Request(String),
    /// A handshake that failed, with rustls' reason.
    FailedHandshake(String),
}

/// A DynamoDB-shaped HTTPS server on 127.0.0.1: every request is answered as ListTables with
/// no tables. It stops when the returned task is aborted or dropped with the test's runtime.
async fn tls_server(
    authority: &LocalAuthority,
) -> (
    String,
    mpsc::UnboundedReceiver<Seen>,
    tokio::task::JoinHandle<()>,
) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        authority.server_chain.clone(),
        authority.server_key.clone_key(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}", listener.local_addr().unwrap());
    let (recorder, seen) = mpsc::unbounded_channel();
    let server = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, recorder) = (acceptor.clone(), recorder.clone());
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(stream).await {
                    Ok(tls) => tls,
                    Err(error) => {
                        let _ = recorder.send(Seen::FailedHandshake(error.to_string()));
                        return;
                    }
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The SDK's request is small: its head and its `{}` body arrive together.
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let head = String::from_utf8_lossy(&request).into_owned();
                let _ = recorder.send(Seen::Request(head));
                let body = br#"{"TableNames":[]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (endpoint, seen, server)
}

async fn list_tables(
    endpoint: &str,
    client: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> Result<Vec<String>, String> {
    let config =
        aws_sdk_dynamodb::config::Builder::from(&peer_sdk_config_with(endpoint, client).await)
            .retry_config(RetryConfig::disabled())
            .build();
    aws_sdk_dynamodb::Client::from_conf(config)
        .list_tables()
        .send()
        .await
        .map(|output| output.table_names().to_vec())
        .map_err(|error| {
            format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&error)
            )
        })
}

/// The server's next report; the wait is bounded so that a server that saw nothing fails the
/// test instead of hanging it.
async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the server reports every connection")
        .expect("the server is running")
}

#[tokio::test]
async fn the_amazon_roots_refuse_a_server_another_authority_certified() {
    let authority = local_authority();
    let (endpoint, mut seen, server) = tls_server(&authority).await;

    // The same client, trusting the test's authority, reaches the server: the server and the
    // request are sound, so a refusal below is the trust store's.
    let trusted = https_client_trusting(authority.authority_pem.as_bytes()).unwrap();
    let tables = list_tables(&endpoint, trusted).await.unwrap();
    assert!(tables.is_empty(), "{tables:?}");
    match next(&mut seen).await {
        Seen::Request(head) => assert!(head.contains("DynamoDB_20120810.ListTables"), "{head}"),
        other => panic!("{other:?}"),
    }

    let error = list_tables(&endpoint, amazon_https_client().unwrap())
        .await
        .unwrap_err();
    assert!(
        error.contains("certificate") || error.contains("UnknownIssuer"),
        "the failure names the certificate: {error}"
    );
    match next(&mut seen).await {
        Seen::FailedHandshake(reason) => {
            assert!(
                reason.contains("alert"),
                "the client sent an alert: {reason}"
            )
        }
        other => panic!("no request may get through a refused handshake: {other:?}"),
    }
    server.abort();
    assert!(
        seen.try_recv().is_err(),
        "one connection, refused, and nothing after it"
    );
}
