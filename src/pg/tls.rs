//! TLS for connections, with rustls, following libpq's `sslmode` semantics:
//!
//! | sslmode      | TLS                          | certificate checked            |
//! |--------------|------------------------------|--------------------------------|
//! | disable      | never                        | —                              |
//! | allow/prefer | if the server offers it      | no                             |
//! | require      | always                       | no (chain only if a root file exists, as libpq) |
//! | verify-ca    | always                       | chain against the root certs   |
//! | verify-full  | always                       | chain and host name            |
//!
//! Root certificates come from `sslrootcert` / `PGSSLROOTCERT`, else `~/.postgresql/root.crt`;
//! `sslrootcert=system` uses the bundled Mozilla roots (`webpki-roots`). A client certificate is
//! sent when `sslcert`/`sslkey` (or `~/.postgresql/postgresql.crt`/`.key`) exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS only if the server insists (treated as `prefer`: we try TLS first).
    Allow,
    /// TLS when the server offers it, certificate not checked (the libpq default).
    #[default]
    Prefer,
    /// TLS required, certificate not checked unless a root certificate file exists.
    Require,
    /// TLS required, certificate chain checked.
    VerifyCa,
    /// TLS required, certificate chain and host name checked.
    VerifyFull,
}

impl SslMode {
    /// Parses a libpq `sslmode` value.
    pub fn parse(s: &str) -> Result<SslMode, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode {other:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode `tokio_postgres` negotiates with.
    pub fn driver_mode(self) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as D;
        match self {
            SslMode::Disable => D::Disable,
            SslMode::Allow | SslMode::Prefer => D::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => D::Require,
        }
    }
}

/// Where the root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootSource {
    /// A PEM file.
    File(PathBuf),
    /// The bundled Mozilla roots (`sslrootcert=system`).
    System,
}

/// Everything TLS needs, resolved from the DSN, the environment and `~/.postgresql/`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// The mode.
    pub mode: SslMode,
    /// Root certificates, when any are configured or found.
    pub root: Option<RootSource>,
    /// Client certificate and key files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl TlsSettings {
    /// Resolves the settings from the given DSN options (already merged with `PGSSL*`) and
    /// `home` (for `~/.postgresql/`).
    pub fn resolve(
        mode: SslMode,
        rootcert: Option<&str>,
        cert: Option<&str>,
        key: Option<&str>,
        home: Option<&Path>,
    ) -> TlsSettings {
        let dot = home.map(|h| h.join(".postgresql"));
        let root = match rootcert.filter(|s| !s.is_empty()) {
            Some("system") => Some(RootSource::System),
            Some(p) => Some(RootSource::File(PathBuf::from(p))),
            None => dot
                .as_ref()
                .map(|d| d.join("root.crt"))
                .filter(|p| p.is_file())
                .map(RootSource::File),
        };
        let cert = cert
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| dot.as_ref().map(|d| d.join("postgresql.crt")));
        let key = key
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| dot.as_ref().map(|d| d.join("postgresql.key")));
        let client_cert = match (cert, key) {
            (Some(c), Some(k)) if c.is_file() && k.is_file() => Some((c, k)),
            _ => None,
        };
        TlsSettings {
            mode,
            root,
            client_cert,
        }
    }

    /// How the server certificate is checked.
    pub fn verification(&self) -> Verification {
        match self.mode {
            SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verification::None,
            SslMode::Require if self.root.is_none() => Verification::None,
            SslMode::Require | SslMode::VerifyCa => Verification::Chain,
            SslMode::VerifyFull => Verification::Full,
        }
    }

    /// The rustls client configuration.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.verification() {
            Verification::None => Arc::new(Lenient {
                provider,
                chain: None,
            }),
            v => {
                let roots = self.root_store()?;
                let chain =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("TLS set-up: {e}"))?;
                if v == Verification::Full {
                    chain
                } else {
                    Arc::new(Lenient {
                        provider,
                        chain: Some(chain),
                    })
                }
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match &self.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<_, _>>())
                    .map_err(|e| format!("client certificate {}: {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("client key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("client certificate {}: {e}", cert.display()))
            }
        }
    }

    fn root_store(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        match &self.root {
            Some(RootSource::System) => {
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Some(RootSource::File(p)) => {
                let certs = CertificateDer::pem_file_iter(p)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("root certificate file {}: {e}", p.display()))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!(
                        "root certificate file {} holds no usable certificate",
                        p.display()
                    ));
                }
            }
            None => {
                return Err(format!(
                    "sslmode={} needs root certificates, and ~/.postgresql/root.crt does not exist: give sslrootcert=FILE (or PGSSLROOTCERT), use sslrootcert=system for the public CAs, or use sslmode=require to skip verification",
                    self.mode.as_str()
                ));
            }
        }
        Ok(store)
    }
}

/// How much of the server certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Nothing (encryption only).
    None,
    /// The chain up to a trusted root, not the host name.
    Chain,
    /// Chain and host name.
    Full,
}

/// The checks below libpq `verify-full`: without `chain`, none of the certificate (libpq
/// `prefer`/`require`); with it, the chain but not the host name (libpq `verify-ca`). The
/// handshake signatures are checked either way.
#[derive(Debug)]
struct Lenient {
    /// The algorithms the signatures are checked with.
    provider: Arc<CryptoProvider>,
    /// The chain checker, for `verify-ca`.
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_map_to_verification() {
        for &m in cutover_model::runbook::dsn::SSL_MODES {
            assert_eq!(SslMode::parse(m).unwrap().as_str(), m);
        }
        assert!(
            SslMode::parse("verify_full")
                .unwrap_err()
                .contains("verify-full")
        );
        let s = |mode, root: Option<&str>| TlsSettings::resolve(mode, root, None, None, None);
        assert_eq!(s(SslMode::Prefer, None).verification(), Verification::None);
        assert_eq!(s(SslMode::Require, None).verification(), Verification::None);
        assert_eq!(
            s(SslMode::Require, Some("/ca.pem")).verification(),
            Verification::Chain
        );
        assert_eq!(
            s(SslMode::VerifyCa, None).verification(),
            Verification::Chain
        );
        assert_eq!(
            s(SslMode::VerifyFull, Some("system")).verification(),
            Verification::Full
        );
    }

    #[test]
    fn client_configs_build_or_explain() {
        let ok = TlsSettings::resolve(SslMode::Require, None, None, None, None);
        assert!(ok.client_config().is_ok());
        let sys = TlsSettings::resolve(SslMode::VerifyFull, Some("system"), None, None, None);
        assert!(sys.client_config().is_ok());
        let missing = TlsSettings::resolve(SslMode::VerifyFull, None, None, None, None);
        let e = missing.client_config().unwrap_err();
        assert!(e.contains("sslrootcert=system"), "{e}");
        let t = tempfile::tempdir().unwrap();
        let bad = t.path().join("ca.pem");
        std::fs::write(&bad, "not a certificate").unwrap();
        let e = TlsSettings::resolve(SslMode::VerifyCa, bad.to_str(), None, None, None)
            .client_config()
            .unwrap_err();
        assert!(e.contains("no usable certificate"), "{e}");
    }

    #[test]
    fn home_dot_postgresql_root_is_found() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".postgresql")).unwrap();
        std::fs::write(t.path().join(".postgresql/root.crt"), "x").unwrap();
        let s = TlsSettings::resolve(SslMode::Require, None, None, None, Some(t.path()));
        assert_eq!(
            s.root,
            Some(RootSource::File(t.path().join(".postgresql/root.crt")))
        );
        assert_eq!(s.verification(), Verification::Chain);
    }
}
