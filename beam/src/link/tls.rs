//! TLS distribution (`-proto_dist inet_tls`): the client side of it, with rustls.
//!
//! Erlang runs the same distribution handshake and framing inside a TLS session on the node's
//! distribution port; epmd stays plain TCP. Orbit takes its TLS settings either as PEM files (`--tls-cert`,
//! `--tls-key`, `--tls-ca`) or from the node's own `-ssl_dist_optfile`, read the way Erlang reads it: the
//! `client` option list, falling back to the `server` list's `certfile`/`keyfile` when the client has none.

use super::LinkError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How Orbit checks the node's certificate (Erlang's `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `verify_peer`: the chain must lead to the CA and the certificate name the node's host.
    Peer,
    /// `verify_none`: any certificate is taken (the session is still encrypted).
    None,
}

/// Erlang's `server_name_indication`: which name is sent in SNI and checked against the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServerNameIndication {
    /// The host part of the node name (`app@myhost` → `myhost`), as Erlang does.
    #[default]
    NodeHost,
    /// This name instead.
    Name(String),
    /// `disable`: no SNI, and the certificate's names are not checked (its chain still is).
    Disable,
}

/// TLS settings for the distribution link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// Orbit's own certificate chain (PEM), shown to nodes that ask for one (`verify_peer` on their side).
    pub cert: Option<PathBuf>,
    /// The key of `cert` (PEM); without it the key is looked for in `cert`, as Erlang does.
    pub key: Option<PathBuf>,
    /// The CA certificates (PEM) the node's certificate must lead to.
    pub ca: Option<PathBuf>,
    /// `None`: `verify_peer` when a CA is given, else `verify_none` (Erlang's default before OTP 26).
    pub verify: Option<Verify>,
    pub server_name: ServerNameIndication,
}

/// The raw TLS keys as the CLI, DAP `attach` arguments and LSP settings carry them, defined once: serde
/// reads them from settings (`sslDistOptfile`, `tlsCert`, `tlsKey`, `tlsCa`, `tlsVerify`, `tlsServerName`)
/// and, with the `clap` feature, clap from the command line (`--ssl-dist-optfile`, `--tls-cert`, …). When
/// none is given, `ORBIT_TLS_CERT`, `ORBIT_TLS_KEY`, `ORBIT_TLS_CA`, `ORBIT_TLS_OPTFILE`, `ORBIT_TLS_VERIFY`
/// and `ORBIT_TLS_SERVER_NAME` ([`with_env`](Self::with_env)).
///
/// Each key's documentation is also the CLI's help for its flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default)]
pub struct TlsSettings {
    /// The cluster's -ssl_dist_optfile, read as Erlang reads it (client options, then the server's
    /// certfile/keyfile/cacertfile). The flags below override what it says. Without any TLS flag, the
    /// ORBIT_TLS_OPTFILE, ORBIT_TLS_CERT, ORBIT_TLS_KEY, ORBIT_TLS_CA, ORBIT_TLS_VERIFY and
    /// ORBIT_TLS_SERVER_NAME variables are read instead.
    #[serde(rename = "sslDistOptfile")]
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE", help_heading = "TLS distribution"))]
    pub ssl_dist_optfile: Option<String>,
    /// Orbit's certificate (PEM), for nodes that check their peers (verify_peer).
    #[serde(rename = "tlsCert")]
    #[cfg_attr(feature = "clap", arg(long = "tls-cert", value_name = "PEM", help_heading = "TLS distribution"))]
    pub cert: Option<String>,
    /// The key of --tls-cert (PEM); default: looked for in --tls-cert.
    #[serde(rename = "tlsKey")]
    #[cfg_attr(feature = "clap", arg(long = "tls-key", value_name = "PEM", help_heading = "TLS distribution"))]
    pub key: Option<String>,
    /// The CA certificates (PEM) the nodes' certificates must be signed by.
    #[serde(rename = "tlsCa")]
    #[cfg_attr(feature = "clap", arg(long = "tls-ca", value_name = "PEM", help_heading = "TLS distribution"))]
    pub ca: Option<String>,
    /// verify_peer (the default with a CA) or verify_none.
    #[serde(rename = "tlsVerify")]
    #[cfg_attr(feature = "clap", arg(long = "tls-verify", value_name = "MODE", help_heading = "TLS distribution"))]
    pub verify: Option<String>,
    /// The name the nodes' certificates must hold, instead of the host of each node name; `disable` checks
    /// the chain only (server_name_indication).
    #[serde(rename = "tlsServerName")]
    #[cfg_attr(
        feature = "clap",
        arg(long = "tls-server-name", value_name = "NAME", help_heading = "TLS distribution")
    )]
    pub server_name: Option<String>,
}

impl TlsSettings {
    /// These keys with those `over` sets taken from it: settings from several sources, later ones winning
    /// key by key.
    pub fn merge(self, over: TlsSettings) -> TlsSettings {
        TlsSettings {
            ssl_dist_optfile: over.ssl_dist_optfile.or(self.ssl_dist_optfile),
            cert: over.cert.or(self.cert),
            key: over.key.or(self.key),
            ca: over.ca.or(self.ca),
            verify: over.verify.or(self.verify),
            server_name: over.server_name.or(self.server_name),
        }
    }

    /// The TLS configuration these keys ask for, `ORBIT_TLS_*` read when none is set ([`with_env`],
    /// [`resolve`]); `None`: plain TCP distribution.
    ///
    /// [`with_env`]: Self::with_env
    /// [`resolve`]: Self::resolve
    pub fn resolve_with_env(&self) -> Result<Option<TlsConfig>, LinkError> {
        self.clone().with_env().resolve()
    }

    /// These settings, or, when none is given, the `ORBIT_TLS_*` variables: a flag or key given means the
    /// environment is not looked at, so a shell's variables never mix into a configuration given explicitly.
    pub fn with_env(self) -> TlsSettings {
        if self != TlsSettings::default() {
            return self;
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        TlsSettings {
            cert: env("ORBIT_TLS_CERT"),
            key: env("ORBIT_TLS_KEY"),
            ca: env("ORBIT_TLS_CA"),
            ssl_dist_optfile: env("ORBIT_TLS_OPTFILE"),
            verify: env("ORBIT_TLS_VERIFY"),
            server_name: env("ORBIT_TLS_SERVER_NAME"),
        }
    }

    /// The TLS configuration these keys ask for; `None` when none is set (plain TCP distribution).
    /// An optfile is read first; `cert`, `key`, `ca`, `verify` and `server_name` override what it says.
    pub fn resolve(&self) -> Result<Option<TlsConfig>, LinkError> {
        // Any key turns TLS on: `verify_none` alone is TLS without checks, `verify_peer` alone says a CA is missing.
        let any = self.cert.is_some()
            || self.key.is_some()
            || self.ca.is_some()
            || self.ssl_dist_optfile.is_some()
            || self.verify.is_some()
            || self.server_name.is_some();
        if !any {
            return Ok(None);
        }
        let mut cfg = match &self.ssl_dist_optfile {
            Some(f) => TlsConfig::from_optfile(Path::new(f))?,
            None => TlsConfig::default(),
        };
        if let Some(c) = &self.cert {
            cfg.cert = Some(c.into());
        }
        if let Some(k) = &self.key {
            cfg.key = Some(k.into());
        }
        if let Some(c) = &self.ca {
            cfg.ca = Some(c.into());
        }
        if let Some(v) = &self.verify {
            cfg.verify = Some(
                parse_verify(v)
                    .ok_or_else(|| config_error(format!("verify is '{v}': expected verify_peer or verify_none")))?,
            );
        }
        if let Some(s) = &self.server_name {
            cfg.server_name = parse_sni(s);
        }
        Ok(Some(cfg))
    }
}

fn config_error(detail: String) -> LinkError {
    LinkError::TlsConfig { detail }
}

fn parse_verify(v: &str) -> Option<Verify> {
    match v {
        "verify_peer" | "peer" => Some(Verify::Peer),
        "verify_none" | "none" => Some(Verify::None),
        _ => None,
    }
}

fn parse_sni(s: &str) -> ServerNameIndication {
    match s {
        "disable" => ServerNameIndication::Disable,
        "" => ServerNameIndication::NodeHost,
        other => ServerNameIndication::Name(other.to_string()),
    }
}

impl TlsConfig {
    /// PEM files: a certificate and key for Orbit (optional) and the CA to check nodes against.
    pub fn pem(cert: Option<PathBuf>, key: Option<PathBuf>, ca: Option<PathBuf>) -> TlsConfig {
        TlsConfig { cert, key, ca, ..TlsConfig::default() }
    }

    /// Reads an Erlang `-ssl_dist_optfile`: `[{server, [...]}, {client, [...]}].`
    pub fn from_optfile(path: &Path) -> Result<TlsConfig, LinkError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config_error(format!("cannot read the ssl_dist_optfile {}: {e}", path.display())))?;
        Self::from_optfile_text(&text)
            .map_err(|e| config_error(format!("the ssl_dist_optfile {} is not what Erlang reads: {e}", path.display())))
    }

    /// [`from_optfile`](Self::from_optfile) on the file's text.
    pub fn from_optfile_text(text: &str) -> Result<TlsConfig, String> {
        let term = erl_terms::parse_first(text)?;
        let sections = term.as_list().ok_or("expected a list: [{server, [...]}, {client, [...]}]")?;
        let section = |name: &str| -> Vec<(String, erl_terms::Term)> {
            sections
                .iter()
                .filter_map(|t| t.as_pair())
                .filter(|(k, _)| *k == name)
                .filter_map(|(_, v)| v.as_list())
                .flat_map(|l| l.iter().filter_map(|o| o.as_pair().map(|(k, v)| (k.to_string(), v.clone()))))
                .collect()
        };
        let (server, client) = (section("server"), section("client"));
        if server.is_empty() && client.is_empty() {
            return Err("it holds no {server, [...]} nor {client, [...]} options".into());
        }
        let get =
            |opts: &[(String, erl_terms::Term)], k: &str| opts.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let string = |k: &str, v: erl_terms::Term| -> Result<PathBuf, String> {
            v.as_string().map(PathBuf::from).ok_or(format!("{k} is not a string"))
        };
        let mut cfg = TlsConfig::default();
        // The client's options; certfile/keyfile fall back to the server's.
        let client_or_server = |k: &str| get(&client, k).or_else(|| get(&server, k));
        if let Some(v) = client_or_server("certfile") {
            cfg.cert = Some(string("certfile", v)?);
        }
        if let Some(v) = client_or_server("keyfile") {
            cfg.key = Some(string("keyfile", v)?);
        }
        if let Some(v) = get(&client, "cacertfile").or_else(|| get(&server, "cacertfile")) {
            cfg.ca = Some(string("cacertfile", v)?);
        }
        if let Some(v) = get(&client, "verify") {
            let a = v.as_atom().ok_or("verify is not an atom")?;
            cfg.verify = Some(parse_verify(a).ok_or(format!("verify is '{a}': expected verify_peer or verify_none"))?);
        }
        if let Some(v) = get(&client, "server_name_indication") {
            cfg.server_name = match (v.as_atom(), v.as_string()) {
                (Some("disable"), _) => ServerNameIndication::Disable,
                (_, Some(s)) => ServerNameIndication::Name(s),
                _ => return Err("server_name_indication is neither disable nor a host name".into()),
            };
        }
        Ok(cfg)
    }

    fn effective_verify(&self) -> Result<Verify, LinkError> {
        match (self.verify, &self.ca) {
            (Some(Verify::Peer), None) => Err(config_error(
                "verify_peer needs the CA to check nodes against: give --tls-ca, tlsCa or ORBIT_TLS_CA (cacertfile)"
                    .into(),
            )),
            (Some(v), _) => Ok(v),
            (None, Some(_)) => Ok(Verify::Peer),
            (None, None) => {
                tracing::warn!("TLS without a CA (--tls-ca / cacertfile): node certificates are not checked");
                Ok(Verify::None)
            }
        }
    }

    /// The rustls client configuration; files are read here, and errors name them.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, LinkError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> = match self.effective_verify()? {
            Verify::None => Arc::new(AcceptAny(provider.clone())),
            Verify::Peer => {
                let ca = self.ca.as_ref().expect("checked by effective_verify");
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca, "CA file")? {
                    roots.add(cert).map_err(|e| {
                        config_error(format!("the CA file {} holds a bad certificate: {e}", ca.display()))
                    })?;
                }
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| config_error(format!("the CA file {}: {e}", ca.display())))?;
                if self.server_name == ServerNameIndication::Disable {
                    Arc::new(IgnoreName(webpki))
                } else {
                    webpki
                }
            }
        };
        let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
        let mut config = match &self.cert {
            Some(cert) => {
                let chain = read_certs(cert, "certificate file")?;
                let key_path = self.key.as_ref().unwrap_or(cert);
                let key = PrivateKeyDer::from_pem_file(key_path)
                    .map_err(|e| config_error(format!("cannot read a private key from {}: {e}", key_path.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| config_error(format!("certificate {} and its key: {e}", cert.display())))?
            }
            None if self.key.is_some() => {
                return Err(config_error(
                    "a TLS key without a certificate: give --tls-cert, tlsCert or ORBIT_TLS_CERT (certfile)".into(),
                ))
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.server_name != ServerNameIndication::Disable;
        Ok(Arc::new(config))
    }

    /// The name checked against the certificate of a node on `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, LinkError> {
        let name = match &self.server_name {
            ServerNameIndication::Name(n) => n.as_str(),
            _ => host,
        };
        ServerName::try_from(name.to_string())
            .map_err(|e| config_error(format!("'{name}' cannot be a TLS server name: {e}")))
    }
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, LinkError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("cannot read the {what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(config_error(format!("the {what} {} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

/// `verify_none`: takes any certificate, still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `server_name_indication: disable`: the chain is checked, the names in the certificate are not.
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
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
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// What a failed TLS handshake (or a read inside the session) means, for `node`; `None` when `e` carries
/// no TLS error.
pub(crate) fn describe_tls_error(node: &str, e: &std::io::Error, config: &TlsConfig) -> Option<LinkError> {
    let node = node.to_string();
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let ca = || config.ca.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "none".into());
    Some(match tls {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                LinkError::TlsUnknownCa { node, ca: ca() }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => LinkError::TlsCertExpired { node },
            CertificateError::NotValidForName => {
                LinkError::TlsHostnameMismatch { node, detail: "the names it holds were not given".into() }
            }
            CertificateError::NotValidForNameContext { expected, presented } => {
                LinkError::TlsHostnameMismatch { node, detail: name_detail(expected, presented) }
            }
            other => LinkError::TlsHandshake { node, detail: format!("its certificate is not valid: {other:?}") },
        },
        Some(rustls::Error::AlertReceived(alert)) => LinkError::TlsRejected { node, alert: format!("{alert:?}") },
        Some(rustls::Error::InvalidMessage(_)) | Some(rustls::Error::InappropriateMessage { .. }) => {
            LinkError::TlsNotSpoken { node }
        }
        Some(other) => LinkError::TlsHandshake { node, detail: other.to_string() },
        None => return None,
    })
}

/// `db.example.com; it holds vm, localhost, 127.0.0.1` (rustls gives the names as `DnsName("vm")`).
fn name_detail(expected: &ServerName<'_>, presented: &[String]) -> String {
    let plain = |s: &str| {
        let inner = s.split_once('(').map(|(_, rest)| rest.trim_end_matches(')')).unwrap_or(s);
        inner.trim_matches('"').to_string()
    };
    let held: Vec<String> = presented.iter().map(|p| plain(p)).collect();
    let held = if held.is_empty() { "no names".to_string() } else { held.join(", ") };
    format!("{}; it holds {held}", expected.to_str())
}

/// A small reader for the Erlang terms an optfile holds: lists, tuples, atoms (plain and quoted), strings,
/// binaries of a string, integers; `%` comments. The first term, up to its `.`, is returned.
pub(crate) mod erl_terms {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Term {
        Atom(String),
        Str(String),
        Int(i64),
        List(Vec<Term>),
        Tuple(Vec<Term>),
    }

    impl Term {
        pub fn as_list(&self) -> Option<&[Term]> {
            match self {
                Term::List(l) => Some(l),
                _ => None,
            }
        }
        pub fn as_atom(&self) -> Option<&str> {
            match self {
                Term::Atom(a) => Some(a),
                _ => None,
            }
        }
        pub fn as_string(&self) -> Option<String> {
            match self {
                Term::Str(s) => Some(s.clone()),
                // A charlist written as a list of integers.
                Term::List(l) => l
                    .iter()
                    .map(|t| match t {
                        Term::Int(i) => char::from_u32(*i as u32),
                        _ => None,
                    })
                    .collect(),
                _ => None,
            }
        }
        /// `{Key, Value}` with an atom key.
        pub fn as_pair(&self) -> Option<(&str, &Term)> {
            match self {
                Term::Tuple(t) if t.len() == 2 => Some((t[0].as_atom()?, &t[1])),
                _ => None,
            }
        }
    }

    struct P<'a> {
        s: &'a [u8],
        i: usize,
    }

    pub fn parse_first(text: &str) -> Result<Term, String> {
        let mut p = P { s: text.as_bytes(), i: 0 };
        let t = p.term()?;
        p.ws();
        if p.peek() != Some(b'.') {
            return Err(format!("expected '.' after the term at byte {}", p.i));
        }
        Ok(t)
    }

    impl P<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }
        fn ws(&mut self) {
            while let Some(c) = self.peek() {
                if c == b'%' {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                } else if c.is_ascii_whitespace() {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        fn expect(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.peek() == Some(c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at byte {}", c as char, self.i))
            }
        }
        fn seq(&mut self, close: u8) -> Result<Vec<Term>, String> {
            let mut items = Vec::new();
            self.ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            loop {
                items.push(self.term()?);
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(c) if c == close => {
                        self.i += 1;
                        return Ok(items);
                    }
                    _ => return Err(format!("expected ',' or '{}' at byte {}", close as char, self.i)),
                }
            }
        }
        fn quoted(&mut self, q: u8) -> Result<String, String> {
            let start = self.i;
            self.i += 1;
            let mut out = Vec::new();
            loop {
                match self.peek() {
                    None => return Err(format!("unterminated {} from byte {start}", q as char)),
                    Some(c) if c == q => {
                        self.i += 1;
                        return String::from_utf8(out).map_err(|e| e.to_string());
                    }
                    Some(b'\\') => {
                        self.i += 1;
                        let c = self.peek().ok_or("unterminated escape")?;
                        out.push(match c {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                        self.i += 1;
                    }
                    Some(c) => {
                        out.push(c);
                        self.i += 1;
                    }
                }
            }
        }
        fn term(&mut self) -> Result<Term, String> {
            self.ws();
            match self.peek() {
                Some(b'[') => {
                    self.i += 1;
                    Ok(Term::List(self.seq(b']')?))
                }
                Some(b'{') => {
                    self.i += 1;
                    Ok(Term::Tuple(self.seq(b'}')?))
                }
                Some(b'"') => Ok(Term::Str(self.quoted(b'"')?)),
                Some(b'\'') => Ok(Term::Atom(self.quoted(b'\'')?)),
                Some(b'<') if self.s.get(self.i + 1) == Some(&b'<') => {
                    self.i += 2;
                    self.ws();
                    let s = if self.peek() == Some(b'"') { self.quoted(b'"')? } else { String::new() };
                    self.expect(b'>')?;
                    self.expect(b'>')?;
                    Ok(Term::Str(s))
                }
                Some(c) if c.is_ascii_digit() || c == b'-' => {
                    let start = self.i;
                    self.i += 1;
                    while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'_') {
                        self.i += 1;
                    }
                    let digits: String = std::str::from_utf8(&self.s[start..self.i])
                        .unwrap_or("")
                        .chars()
                        .filter(|c| *c != '_')
                        .collect();
                    digits.parse().map(Term::Int).map_err(|e| format!("bad integer at byte {start}: {e}"))
                }
                Some(c) if c.is_ascii_lowercase() => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'@') {
                        self.i += 1;
                    }
                    Ok(Term::Atom(String::from_utf8_lossy(&self.s[start..self.i]).into_owned()))
                }
                Some(c) => Err(format!("unexpected '{}' at byte {}", c as char, self.i)),
                None => Err("unexpected end of file".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_optfile_as_erlang_does() {
        let text = r#"
            %% TLS distribution
            [{server, [{certfile, "/etc/ssl/node.pem"}, {keyfile, "/etc/ssl/node.key"},
                       {cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},
                       {fail_if_no_peer_cert, true}, {versions, ['tlsv1.2', 'tlsv1.3']}]},
             {client, [{cacertfile, "/etc/ssl/ca.pem"}, {verify, verify_peer},
                       {secure_renegotiate, true}, {server_name_indication, disable}]}].
        "#;
        let cfg = TlsConfig::from_optfile_text(text).unwrap();
        assert_eq!(cfg.cert.as_deref(), Some(Path::new("/etc/ssl/node.pem")), "certfile falls back to the server's");
        assert_eq!(cfg.key.as_deref(), Some(Path::new("/etc/ssl/node.key")));
        assert_eq!(cfg.ca.as_deref(), Some(Path::new("/etc/ssl/ca.pem")));
        assert_eq!(cfg.verify, Some(Verify::Peer));
        assert_eq!(cfg.server_name, ServerNameIndication::Disable);
    }

    #[test]
    fn the_client_section_wins_and_sni_can_be_a_name() {
        let text = "[{server,[{certfile,\"s.pem\"}]},{client,[{certfile,<<\"c.pem\">>},{server_name_indication,\"db1\"},{verify,verify_none}]}].";
        let cfg = TlsConfig::from_optfile_text(text).unwrap();
        assert_eq!(cfg.cert.as_deref(), Some(Path::new("c.pem")));
        assert_eq!(cfg.server_name, ServerNameIndication::Name("db1".into()));
        assert_eq!(cfg.verify, Some(Verify::None));
    }

    #[test]
    fn a_bad_optfile_says_why() {
        assert!(TlsConfig::from_optfile_text("[{server, [{certfile, \"x\"}]}").unwrap_err().contains("expected"));
        assert!(TlsConfig::from_optfile_text("[].").unwrap_err().contains("no {server"));
        assert!(TlsConfig::from_optfile_text("[{client,[{verify,maybe}]}].").unwrap_err().contains("verify_peer"));
    }

    #[test]
    fn settings_resolve_with_overrides() {
        let none = TlsSettings::default();
        assert_eq!(none.resolve().unwrap(), None);
        let s = TlsSettings { ca: Some("/ca.pem".into()), server_name: Some("disable".into()), ..Default::default() };
        let cfg = s.resolve().unwrap().unwrap();
        assert_eq!(cfg.ca.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(cfg.server_name, ServerNameIndication::Disable);
        let unchecked = TlsSettings { verify: Some("verify_none".into()), ..Default::default() };
        assert_eq!(unchecked.resolve().unwrap().unwrap().verify, Some(Verify::None));
        let bad = TlsSettings { ca: Some("/ca.pem".into()), verify: Some("sometimes".into()), ..Default::default() };
        assert!(bad.resolve().unwrap_err().to_string().contains("verify_none"));
    }

    #[test]
    fn settings_read_the_front_ends_keys_and_merge_key_by_key() {
        let keys = serde_json::json!({
            "sslDistOptfile": "/ssl_dist.conf", "tlsCert": "/c.pem", "tlsKey": "/k.pem", "tlsCa": "/ca.pem",
            "tlsVerify": "verify_peer", "tlsServerName": "disable", "somethingElse": 1
        });
        let s: TlsSettings = serde_json::from_value(keys).unwrap();
        let all = |v: &str| Some(v.to_string());
        assert_eq!(
            s,
            TlsSettings {
                ssl_dist_optfile: all("/ssl_dist.conf"),
                cert: all("/c.pem"),
                key: all("/k.pem"),
                ca: all("/ca.pem"),
                verify: all("verify_peer"),
                server_name: all("disable"),
            }
        );
        let none: TlsSettings = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(none, TlsSettings::default());
        let over = TlsSettings { ca: all("/other.pem"), ..Default::default() };
        let merged = s.clone().merge(over);
        assert_eq!((merged.ca.as_deref(), merged.cert.as_deref()), (Some("/other.pem"), Some("/c.pem")));
    }

    #[test]
    fn the_environment_is_read_only_when_no_key_is_given() {
        // No other test of this binary reads ORBIT_TLS_CA.
        std::env::set_var("ORBIT_TLS_CA", "/env-ca.pem");
        let given = TlsSettings { cert: Some("/c.pem".into()), ..Default::default() }.with_env();
        let none = TlsSettings::default().with_env();
        std::env::remove_var("ORBIT_TLS_CA");
        assert_eq!(given.ca, None, "a key given: the environment is not mixed in");
        assert_eq!(none.ca.as_deref(), Some("/env-ca.pem"));
    }

    #[test]
    fn missing_files_are_named() {
        let cfg = TlsConfig::pem(None, None, Some("/nonexistent/ca.pem".into()));
        let err = cfg.client_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let cfg = TlsConfig { verify: Some(Verify::Peer), ..TlsConfig::default() };
        assert!(cfg.client_config().unwrap_err().to_string().contains("--tls-ca"));
    }
}
