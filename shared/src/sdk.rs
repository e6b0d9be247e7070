//! The AWS SDK configuration every Lambda function loads at init: the default chains (inside
//! Lambda, the execution role's credentials straight from the environment), with one HTTPS
//! client whose trust store holds the five Amazon Trust Services roots that AWS service
//! endpoints chain to.
//!
//! The SDK's default client trusts the platform's whole CA bundle, and every SDK client built
//! from the configuration parses that bundle again when it is constructed: on an init path with
//! three or four clients that parsing was most of the cold start (see BENCHMARKS.md). Five
//! roots parse in microseconds, and a smaller trust store also means that only certificates
//! issued for AWS are accepted on the functions' AWS calls. `ARGUS_TLS_ROOTS=system` goes back
//! to the platform's bundle, for a network that re-signs TLS through its own CA.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector, proxy::ProxyConfig};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The variable that chooses the trust store: `amazon` (the default) or `system`.
pub const TLS_ROOTS_ENV: &str = "ARGUS_TLS_ROOTS";

/// Amazon Root CA 1 to 4 and Starfield Services Root Certificate Authority - G2, as PEM.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// Which certificate authorities the functions' AWS calls trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustRoots {
    /// The five Amazon Trust Services roots (embedded in the binary).
    #[default]
    AmazonTrustServices,
    /// The platform's CA bundle, as the SDK loads it by default.
    System,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdkSetupError {
    #[error("{TLS_ROOTS_ENV} must be `amazon` or `system`, not `{0}`")]
    InvalidTrustRoots(String),
    #[error("the TLS trust store cannot be built: {0}")]
    TrustStore(String),
}

impl SdkSetupError {
    /// Stable name for the Lambda's `errorType` when init fails.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidTrustRoots(_) => "InvalidSettings",
            Self::TrustStore(_) => "TlsSetupFailed",
        }
    }
}

impl TrustRoots {
    /// Reads `ARGUS_TLS_ROOTS` through `lookup`; unset or blank means the Amazon roots.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SdkSetupError> {
        match lookup(TLS_ROOTS_ENV).as_deref().map(str::trim) {
            None | Some("") | Some("amazon") => Ok(Self::AmazonTrustServices),
            Some("system") => Ok(Self::System),
            Some(other) => Err(SdkSetupError::InvalidTrustRoots(
                crate::signal::cap_text(other, 40).to_string(),
            )),
        }
    }
}

/// The HTTPS client for the Amazon roots: the SDK's default client (rustls on aws-lc, proxy
/// settings from the environment, the SDK's timeouts and sleep) with a different trust store.
pub fn amazon_https_client() -> Result<SharedHttpClient, SdkSetupError> {
    https_client_trusting(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
}

/// The same client trusting only the certificate authorities in `roots_pem` (PEM): what the
/// TLS tests build with a local authority to show that the client works where it is trusted.
pub fn https_client_trusting(roots_pem: &[u8]) -> Result<SharedHttpClient, SdkSetupError> {
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(roots_pem))
        .build()
        .map_err(|error| SdkSetupError::TrustStore(error.to_string()))?;
    let client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = Connector::builder()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    Ok(SharedHttpClient::new(WithoutEagerConnector(client)))
}

/// The SDK's client builds (and drops) a whole TLS connector when each SDK client is
/// constructed, only so that the platform's CA bundle is loaded at init rather than on the
/// first call. With five embedded roots there is nothing to preload: connectors are built on
/// first use per timeout setting, as the SDK's client does anyway, and one SDK client costs no
/// TLS setup at construction.
#[derive(Debug)]
struct WithoutEagerConnector(SharedHttpClient);

impl HttpClient for WithoutEagerConnector {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The SDK configuration for a Lambda function: the default chains, with the HTTPS client for
/// `roots` (each function's settings read `ARGUS_TLS_ROOTS`). `environment` is the process
/// environment (a parameter so that tests need not change it).
pub async fn load(
    roots: TrustRoots,
    environment: impl Fn(&str) -> Option<String>,
) -> Result<SdkConfig, SdkSetupError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if lambda_role_credentials_in_environment(&environment) {
        // The default chain would find these first too; building it (profile files, SSO, web
        // identity, container and instance-metadata providers) costs init time for providers
        // Lambda never reaches.
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    let loader = match roots {
        TrustRoots::AmazonTrustServices => loader.http_client(
            amazon_https_client()
                .inspect_err(|error| tracing::error!(%error, "the TLS trust store is broken"))?,
        ),
        TrustRoots::System => loader,
    };
    Ok(loader.load().await)
}

/// Lambda puts the execution role's credentials in the environment of every function (SnapStart
/// functions get a container endpoint instead, and keep the default chain).
fn lambda_role_credentials_in_environment(environment: impl Fn(&str) -> Option<String>) -> bool {
    [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ]
    .iter()
    .all(|name| environment(name).is_some_and(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(value: Option<&str>) -> impl Fn(&str) -> Option<String> {
        let value = value.map(str::to_string);
        move |name| (name == TLS_ROOTS_ENV).then(|| value.clone()).flatten()
    }

    #[test]
    fn the_amazon_roots_are_the_default_and_system_is_the_way_back() {
        assert_eq!(
            TrustRoots::from_env(lookup(None)).unwrap(),
            TrustRoots::AmazonTrustServices
        );
        assert_eq!(
            TrustRoots::from_env(lookup(Some(" "))).unwrap(),
            TrustRoots::AmazonTrustServices
        );
        assert_eq!(
            TrustRoots::from_env(lookup(Some("amazon"))).unwrap(),
            TrustRoots::AmazonTrustServices
        );
        assert_eq!(
            TrustRoots::from_env(lookup(Some("system"))).unwrap(),
            TrustRoots::System
        );
    }

    #[test]
    fn an_unknown_trust_store_is_refused_at_init_naming_the_variable() {
        let error = TrustRoots::from_env(lookup(Some("mozilla"))).unwrap_err();
        assert_eq!(error.error_type(), "InvalidSettings");
        let message = error.to_string();
        assert!(message.contains(TLS_ROOTS_ENV), "{message}");
        assert!(message.contains("mozilla"), "{message}");
    }

    #[test]
    fn the_bundle_holds_exactly_the_five_amazon_trust_services_roots() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let certificates: Vec<CertificateDer<'_>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        assert_eq!(certificates.len(), 5);
        // The subject's common name is in each certificate's DER as it is printed.
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        for (certificate, name) in certificates.iter().zip(names) {
            let der: &[u8] = certificate.as_ref();
            assert!(
                der.windows(name.len())
                    .any(|window| window == name.as_bytes()),
                "{name} is not the next certificate"
            );
        }
    }

    #[test]
    fn only_a_lambda_environment_with_keys_skips_the_default_credential_chain() {
        let environment = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.to_string())
            }
        };
        assert!(lambda_role_credentials_in_environment(environment(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "argus-orchestrator"),
            ("AWS_ACCESS_KEY_ID", "ASIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
        // SnapStart: a container credentials endpoint and no keys.
        assert!(!lambda_role_credentials_in_environment(environment(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "argus-orchestrator"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9001/creds"
            ),
        ])));
        // Outside Lambda (the CLI, a laptop with keys exported): the default chain.
        assert!(!lambda_role_credentials_in_environment(environment(&[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])));
    }
}
