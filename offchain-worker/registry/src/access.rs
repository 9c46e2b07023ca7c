//! How this host reaches directories' registries: `[[registry]]` entries (endpoint, CA,
//! credentials) read once into [`Registries`], which hands out ready clients.

use crate::{client::origin, Registry, RegistryError};
use base64::Engine as _;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
	client::legacy::{connect::HttpConnector, Client},
	rt::TokioExecutor,
};
use modicum_common::config::{ConfigError, Validate};
use serde::Deserialize;
use std::{
	collections::HashMap,
	path::{Path, PathBuf},
	sync::{Arc, OnceLock},
};

/// `[[registry]]` in a provider's, mediator's or directory's configuration (and in the CLI's
/// `--registry-config` file): how this host reaches one directory's registry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAccess {
	/// The registry's URL as the directory registered it: `https://host[:port]`.
	pub endpoint: String,
	/// A PEM file of the CA certificate(s) to trust for it instead of the system's store.
	#[serde(default)]
	pub ca_file: Option<PathBuf>,
	/// The account of HTTP basic auth (with `password_file`), sent with every request to it
	/// and to its token server.
	#[serde(default)]
	pub username: Option<String>,
	/// The file holding the password (one trailing newline ignored), read at start.
	#[serde(default)]
	pub password_file: Option<PathBuf>,
}

/// Checks `[[registry]]` entries beyond their types.
pub fn validate_access(entries: &[RegistryAccess]) -> Result<(), String> {
	let mut seen = std::collections::HashSet::new();
	for entry in entries {
		let key = normalize(&entry.endpoint).ok_or_else(|| {
			format!("`registry.endpoint` {} must be http://host[:port] or https://host[:port]", entry.endpoint)
		})?;
		if !seen.insert(key.clone()) {
			return Err(format!("`registry.endpoint` {} is configured twice", entry.endpoint));
		}
		if entry.username.is_some() != entry.password_file.is_some() {
			return Err(format!(
				"`registry` {}: `username` and `password_file` go together",
				entry.endpoint
			));
		}
		if entry.ca_file.is_some() && !key.starts_with("https://") {
			return Err(format!("`registry` {}: `ca_file` needs an https:// endpoint", entry.endpoint));
		}
		// A password over plain http is readable on the way; only loopback stays on the host.
		let host = key.strip_prefix("http://").map(|authority| authority.rsplit_once(':').map_or(authority, |(host, _)| host));
		if entry.username.is_some() && host.is_some_and(|host| !(host == "localhost" || host == "[::1]" || host.starts_with("127."))) {
			return Err(format!("`registry` {}: a password goes only over https:// (or to loopback)", entry.endpoint));
		}
	}
	Ok(())
}

/// `scheme://host[:port]` lower-cased, without a default port or trailing slash; `None` for
/// anything else (a path, a user, another scheme).
pub(crate) fn normalize(endpoint: &str) -> Option<String> {
	let trimmed = endpoint.trim().trim_end_matches('/').to_ascii_lowercase();
	let (scheme, authority) = trimmed.split_once("://")?;
	let default_port = match scheme {
		"http" => ":80",
		"https" => ":443",
		_ => return None,
	};
	if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
		return None;
	}
	let authority = authority.strip_suffix(default_port).unwrap_or(authority);
	Some(format!("{scheme}://{authority}"))
}

/// How this host reaches directories' registries: for each configured endpoint the CA to
/// trust and the credentials to send; any other endpoint with the system's trust store and
/// no credentials. Cheap to clone.
#[derive(Clone, Default)]
pub struct Registries {
	access: Arc<HashMap<String, Access>>,
}

/// What is configured for one endpoint.
struct Access {
	tls: Option<Arc<rustls::ClientConfig>>,
	credentials: Option<Arc<Credentials>>,
}

/// HTTP basic credentials; never printed.
pub(crate) struct Credentials {
	username: String,
	password: String,
}

impl Credentials {
	pub(crate) fn basic(&self) -> String {
		let pair = format!("{}:{}", self.username, self.password);
		format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
	}
}

impl Registries {
	/// Reads every entry's CA file and password file: one that is missing or unreadable is
	/// an error now, not at the first job.
	pub fn load(entries: &[RegistryAccess]) -> Result<Self, ConfigError> {
		let invalid = |path: &Path, message: String| ConfigError::Invalid {
			path: path.display().to_string(),
			message,
		};
		let read = |path: &Path, what: &str, endpoint: &str| {
			std::fs::read(path).map_err(|e| invalid(path, format!("the {what} of [[registry]] {endpoint}: {e}")))
		};
		let mut access = HashMap::new();
		for entry in entries {
			let key = normalize(&entry.endpoint).ok_or_else(|| {
				invalid(Path::new(&entry.endpoint), "not an http(s)://host[:port] registry".into())
			})?;
			let tls = match &entry.ca_file {
				None => None,
				Some(path) => {
					use rustls::pki_types::{pem::PemObject, CertificateDer};
					let mut roots = rustls::RootCertStore::empty();
					for cert in CertificateDer::pem_slice_iter(&read(path, "ca_file", &entry.endpoint)?) {
						let cert = cert.map_err(|e| invalid(path, format!("unreadable PEM: {e}")))?;
						roots
							.add(cert)
							.map_err(|e| invalid(path, format!("not a CA certificate: {e}")))?;
					}
					if roots.is_empty() {
						return Err(invalid(path, "holds no PEM certificate".into()));
					}
					Some(tls_config(roots))
				}
			};
			let credentials = match (&entry.username, &entry.password_file) {
				(Some(username), Some(path)) => {
					let text = String::from_utf8(read(path, "password_file", &entry.endpoint)?)
						.map_err(|_| invalid(path, "the password is not UTF-8".into()))?;
					let password = text.strip_suffix('\n').unwrap_or(&text);
					let password = password.strip_suffix('\r').unwrap_or(password);
					if password.is_empty() {
						return Err(invalid(path, "the password file is empty".into()));
					}
					Some(Arc::new(Credentials {
						username: username.clone(),
						password: password.to_string(),
					}))
				}
				_ => None,
			};
			access.insert(key, Access { tls, credentials });
		}
		Ok(Self { access: Arc::new(access) })
	}

	/// A client of the registry at `endpoint` with what is configured for it.
	pub fn client(&self, endpoint: &str) -> Result<Registry, RegistryError> {
		let key = normalize(endpoint).ok_or_else(|| RegistryError::Endpoint(endpoint.into()))?;
		let access = self.access.get(&key);
		Ok(Registry {
			endpoint: key,
			client: Client::builder(TokioExecutor::new())
				.build(connector(access.and_then(|a| a.tls.clone()))),
			credentials: access.and_then(|a| a.credentials.clone()),
			token: Default::default(),
		})
	}

	/// The connector of the registry clients, for any other request of this host to `url`
	/// (`http://` or `https://`, any path; a provider's price source): HTTP/1, TLS by rustls
	/// trusting the `ca_file` of the entry for `url`'s `scheme://host[:port]`, else the
	/// system's store. It only connects: no credentials go with it.
	pub fn connector(&self, url: &str) -> Connector {
		let key = normalize(origin(url));
		connector(key.and_then(|key| self.access.get(&key)).and_then(|a| a.tls.clone()))
	}
}

/// What every request of this crate connects through: `http://` as is, `https://` over rustls.
pub type Connector = HttpsConnector<HttpConnector>;

/// A [`Connector`] trusting `tls`'s roots, else the system's store.
fn connector(tls: Option<Arc<rustls::ClientConfig>>) -> Connector {
	let tls = tls.unwrap_or_else(system_tls);
	HttpsConnectorBuilder::new().with_tls_config((*tls).clone()).https_or_http().enable_http1().build()
}

/// A file of `[[registry]]` entries alone: the CLI's `--registry-config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
	/// The entries.
	#[serde(default)]
	pub registry: Vec<RegistryAccess>,
}

impl Validate for AccessFile {
	fn validate(&self) -> Result<(), String> {
		validate_access(&self.registry)
	}
}

impl Registries {
	/// The access a file of `[[registry]]` entries configures.
	pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
		let file: AccessFile = modicum_common::config::load(path)?;
		Self::load(&file.registry)
	}
}

/// TLS with the ring provider and the given roots.
fn tls_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
	let provider = Arc::new(rustls::crypto::ring::default_provider());
	let config = rustls::ClientConfig::builder_with_provider(provider)
		.with_safe_default_protocol_versions()
		.expect("ring supports rustls' default protocol versions")
		.with_root_certificates(roots)
		.with_no_client_auth();
	Arc::new(config)
}

/// TLS trusting the system's store (`SSL_CERT_FILE`/`SSL_CERT_DIR` if set), read once.
fn system_tls() -> Arc<rustls::ClientConfig> {
	static SYSTEM: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
	SYSTEM
		.get_or_init(|| {
			let found = rustls_native_certs::load_native_certs();
			let mut roots = rustls::RootCertStore::empty();
			let (added, _) = roots.add_parsable_certificates(found.certs);
			if added == 0 {
				tracing::warn!(errors = ?found.errors, "no CA certificate in the system trust store: https registries need `ca_file`");
			}
			tls_config(roots)
		})
		.clone()
}
