//! The directory client: a directory's OCI registry (distribution API v2) over HTTP or HTTPS.
//! Images are read by manifest digest; result archives are blobs stored and fetched by their
//! sha256.
//!
//! What a host needs to reach a registry on another machine — the CA that signed its
//! certificate, the account it lets in — is configured per endpoint (`[[registry]]`,
//! [`RegistryAccess`]) and kept in [`Registries`], which hands out ready clients. A refusal of
//! those credentials or of the registry's certificate is this host's own configuration problem
//! ([`RegistryError::is_local`]), never the directory being down nor the job's fault.

use crate::config::{digest_string, ConfigError};
use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
	body::Bytes,
	header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE},
	Method, Request, StatusCode,
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
	client::legacy::{connect::HttpConnector, Client},
	rt::TokioExecutor,
};
use pallet_market::Digest;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::{
	collections::HashMap,
	path::{Path, PathBuf},
	sync::{Arc, Mutex, OnceLock},
	time::Duration,
};

/// Repository result archives are stored under.
pub const RESULTS_REPOSITORY: &str = "modicum/results";

/// The largest answer to a request whose body is read whole (a manifest, a config, an error).
const MAX_BODY: usize = 1 << 20;

/// How long a request may wait for an answer, and a body for its next chunk: a slow link is
/// fine while bytes flow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes sent per `PATCH` of a chunked upload.
const UPLOAD_CHUNK: usize = 1 << 20;

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
	/// The registry could not be reached or did not answer in time.
	#[error("registry {endpoint} unavailable: {reason}")]
	Unavailable {
		/// Its URL.
		endpoint: String,
		/// The cause.
		reason: String,
	},
	/// The manifest or blob does not exist there.
	#[error("{0} not found in the registry")]
	NotFound(String),
	/// The registry answered something that is not what was asked for.
	#[error("invalid registry answer: {0}")]
	Invalid(String),
	/// The answer is larger than the caller accepts.
	#[error("{what} is larger than {limit} bytes")]
	TooLarge {
		/// What was asked for.
		what: String,
		/// The most accepted.
		limit: u64,
	},
	/// The endpoint is not a URL this client speaks.
	#[error("unsupported directory endpoint `{0}`: only http://host[:port] and https://host[:port] registries are supported")]
	Endpoint(String),
	/// The registry refused this host's credentials, or wants some: this host's configuration.
	#[error("the directory's registry {endpoint} {problem}")]
	Credentials {
		/// Its URL.
		endpoint: String,
		/// What it refused, and what to configure.
		problem: String,
	},
	/// The registry's TLS certificate is not one this host trusts: this host's configuration
	/// (or the directory's certificate), never an outage.
	#[error("the directory's registry {endpoint} presented a certificate this host does not trust ({reason}): set `ca_file` in a [[registry]] entry for {endpoint}, or add its CA to the system trust store")]
	Certificate {
		/// Its URL.
		endpoint: String,
		/// What TLS found wrong.
		reason: String,
	},
}

impl RegistryError {
	/// Whether this is this host's own configuration problem (credentials, trusted CAs): then
	/// it says nothing of the directory or of the job, and ends no job.
	pub fn is_local(&self) -> bool {
		matches!(self, Self::Credentials { .. } | Self::Certificate { .. })
	}
}

/// An image manifest (Docker v2 schema 2 or OCI), the fields the market needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Manifest {
	/// The image config blob.
	pub config: Descriptor,
	/// Compressed layers, base first.
	pub layers: Vec<Descriptor>,
}

/// A blob reference in a manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct Descriptor {
	/// What the blob is (e.g. a gzip-compressed layer).
	#[serde(rename = "mediaType", default)]
	pub media_type: String,
	/// Its size in bytes.
	pub size: u64,
	/// `sha256:<hex>`.
	pub digest: String,
}

/// An image config, the fields the market needs.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageConfig {
	/// OCI architecture name.
	pub architecture: String,
	/// The uncompressed layer digests.
	pub rootfs: RootFs,
	/// Every other key as written: Docker reads keys regardless of case, so they are checked
	/// that way (`executor::image`).
	#[serde(flatten)]
	pub rest: serde_json::Map<String, serde_json::Value>,
}

/// The layers of an image config.
#[derive(Clone, Debug, Deserialize)]
pub struct RootFs {
	/// `sha256:<hex>` of each uncompressed layer, base first.
	pub diff_ids: Vec<String>,
}

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
fn normalize(endpoint: &str) -> Option<String> {
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
struct Credentials {
	username: String,
	password: String,
}

impl Credentials {
	fn basic(&self) -> String {
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
		let tls = access.and_then(|a| a.tls.clone()).unwrap_or_else(system_tls);
		let connector = HttpsConnectorBuilder::new()
			.with_tls_config((*tls).clone())
			.https_or_http()
			.enable_http1()
			.build();
		Ok(Registry {
			endpoint: key,
			client: Client::builder(TokioExecutor::new()).build(connector),
			credentials: access.and_then(|a| a.credentials.clone()),
			token: Default::default(),
		})
	}
}

/// A file of `[[registry]]` entries alone: the CLI's `--registry-config`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessFile {
	/// The entries.
	#[serde(default)]
	pub registry: Vec<RegistryAccess>,
}

impl crate::config::Validate for AccessFile {
	fn validate(&self) -> Result<(), String> {
		validate_access(&self.registry)
	}
}

impl Registries {
	/// The access a file of `[[registry]]` entries configures.
	pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
		let file: AccessFile = crate::config::load(path)?;
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

/// A client of one directory's registry.
#[derive(Clone)]
pub struct Registry {
	/// `scheme://host[:port]`, normalized.
	endpoint: String,
	client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
	credentials: Option<Arc<Credentials>>,
	/// The last token the registry's token server gave, sent instead of the basic credentials.
	token: Arc<Mutex<Option<String>>>,
}

/// How many redirects a read follows (a registry may serve blobs from elsewhere).
const MAX_REDIRECTS: usize = 3;

/// The sha256 of some bytes.
pub fn sha256(bytes: &[u8]) -> Digest {
	Sha256::digest(bytes).into()
}

impl Registry {
	/// A client of the registry at `endpoint` (`http(s)://host[:port]`) with nothing
	/// configured for it: the system's trust store, no credentials.
	pub fn new(endpoint: &str) -> Result<Self, RegistryError> {
		Registries::default().client(endpoint)
	}

	/// Its URL, `scheme://host[:port]`.
	pub fn endpoint(&self) -> &str {
		&self.endpoint
	}

	/// `host[:port]`, as Docker names images of this registry.
	pub fn host(&self) -> &str {
		self.endpoint.split_once("://").map_or(&self.endpoint, |(_, host)| host)
	}

	/// Whether the registry answers its API root.
	pub async fn ping(&self) -> Result<(), RegistryError> {
		let (status, _) = self.request(Method::GET, "/v2/", &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::OK => Ok(()),
			other => Err(self.unavailable(format!("`/v2/` answered {other}"))),
		}
	}

	/// The manifest of `repository@digest`, checked against its digest; one of more than
	/// `max_bytes` is `TooLarge`.
	pub async fn manifest(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: usize,
	) -> Result<Manifest, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/manifests/{reference}");
		let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
		let body = self
			.get(&path, &[("accept", accept)], &format!("{repository}@{reference}"), max_bytes)
			.await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Invalid(format!(
				"manifest of {repository} is not {reference}"
			)));
		}
		serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("manifest of {repository}: {e}")))
	}

	/// The config blob a manifest names; one of more than `max_bytes` is `TooLarge`.
	pub async fn image_config(
		&self,
		repository: &str,
		manifest: &Manifest,
		max_bytes: usize,
	) -> Result<ImageConfig, RegistryError> {
		Ok(self.image_config_blob(repository, manifest, max_bytes).await?.0)
	}

	/// The config blob a manifest names, read and as served.
	pub async fn image_config_blob(
		&self,
		repository: &str,
		manifest: &Manifest,
		max_bytes: usize,
	) -> Result<(ImageConfig, Vec<u8>), RegistryError> {
		let digest: crate::config::Sha256 =
			manifest.config.digest.parse().map_err(RegistryError::Invalid)?;
		let body = self.blob(repository, &digest.0, max_bytes).await?;
		let config = serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("image config of {repository}: {e}")))?;
		Ok((config, body))
	}

	/// A blob of `repository` of at most `max_bytes`, checked against its digest.
	pub async fn blob(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: usize,
	) -> Result<Vec<u8>, RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/blobs/{reference}");
		let body = self.get(&path, &[], &format!("blob {reference}"), max_bytes).await?;
		if sha256(&body) != *digest {
			return Err(RegistryError::Invalid(format!("blob {reference} has another digest")));
		}
		Ok(body.to_vec())
	}

	/// Whether `repository` holds the blob.
	pub async fn has_blob(&self, repository: &str, digest: &Digest) -> Result<bool, RegistryError> {
		let path = format!("/v2/{repository}/blobs/{}", digest_string(digest));
		let (status, _) = self.request(Method::HEAD, &path, &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::OK => Ok(true),
			StatusCode::NOT_FOUND => Ok(false),
			other => Err(self.unavailable(format!("HEAD {path} answered {other}"))),
		}
	}

	/// Streams a blob of `repository` into `sink` chunk by chunk, checking its digest; a blob
	/// longer than `max_bytes` is `TooLarge`. Each chunk must come within the request timeout.
	pub async fn stream_blob(
		&self,
		repository: &str,
		digest: &Digest,
		max_bytes: u64,
		mut sink: impl FnMut(&[u8]) -> Result<(), RegistryError>,
	) -> Result<(), RegistryError> {
		let reference = digest_string(digest);
		let path = format!("/v2/{repository}/blobs/{reference}");
		let response = self.send(Method::GET, &path, &[], Bytes::new()).await?;
		match response.status() {
			StatusCode::OK => {}
			StatusCode::NOT_FOUND => return Err(RegistryError::NotFound(format!("blob {reference}"))),
			other => return Err(self.unavailable(format!("GET {path} answered {other}"))),
		}
		let mut body = response.into_body();
		let (mut hash, mut read) = (Sha256::new(), 0u64);
		loop {
			let frame = tokio::time::timeout(REQUEST_TIMEOUT, body.frame())
				.await
				.map_err(|_| self.unavailable(format!("blob {reference} stalled")))?;
			let Some(frame) = frame else { break };
			let frame = frame.map_err(|e| self.unavailable(e.to_string()))?;
			let Ok(chunk) = frame.into_data() else { continue };
			read += chunk.len() as u64;
			if read > max_bytes {
				return Err(RegistryError::TooLarge { what: format!("blob {reference}"), limit: max_bytes });
			}
			hash.update(&chunk);
			sink(&chunk)?;
		}
		if <[u8; 32]>::from(hash.finalize()) != *digest {
			return Err(RegistryError::Invalid(format!("blob {reference} has another digest")));
		}
		Ok(())
	}

	/// Uploads the file at `path` as a blob of `repository` in chunks (`POST`, `PATCH`…,
	/// `PUT ?digest=`), unless the registry has it already; its digest is `digest`.
	pub async fn push_blob_file(
		&self,
		repository: &str,
		path: &std::path::Path,
		digest: &Digest,
	) -> Result<(), RegistryError> {
		if self.has_blob(repository, digest).await? {
			return Ok(());
		}
		let start = format!("/v2/{repository}/blobs/uploads/");
		let response = self.send(Method::POST, &start, &[], Bytes::new()).await?;
		if response.status() != StatusCode::ACCEPTED {
			return Err(self.unavailable(format!("POST {start} answered {}", response.status())));
		}
		let mut location = self.location(&response)?;
		let mut file = tokio::fs::File::open(path)
			.await
			.map_err(|e| RegistryError::Invalid(format!("{}: {e}", path.display())))?;
		let mut offset = 0u64;
		let mut chunk = vec![0u8; UPLOAD_CHUNK];
		loop {
			let n = read_full(&mut file, &mut chunk)
				.await
				.map_err(|e| RegistryError::Invalid(format!("{}: {e}", path.display())))?;
			if n == 0 {
				break;
			}
			let range = format!("{offset}-{}", offset + n as u64 - 1);
			let response = self
				.send(
					Method::PATCH,
					&location,
					&[("content-type", "application/octet-stream"), ("content-range", &range)],
					Bytes::copy_from_slice(&chunk[..n]),
				)
				.await?;
			if response.status() != StatusCode::ACCEPTED {
				return Err(self.unavailable(format!("PATCH of the upload answered {}", response.status())));
			}
			location = self.location(&response)?;
			offset += n as u64;
		}
		let separator = if location.contains('?') { '&' } else { '?' };
		let put = format!("{location}{separator}digest={}", digest_string(digest));
		let (status, _) = self.request(Method::PUT, &put, &[], Bytes::new(), MAX_BODY).await?;
		if status != StatusCode::CREATED {
			return Err(self.unavailable(format!("blob upload answered {status}")));
		}
		Ok(())
	}

	/// Stores `manifest` (of `media_type`) as `repository@<its digest>`; its digest.
	pub async fn push_manifest(
		&self,
		repository: &str,
		media_type: &str,
		manifest: Vec<u8>,
	) -> Result<Digest, RegistryError> {
		let digest = sha256(&manifest);
		let path = format!("/v2/{repository}/manifests/{}", digest_string(&digest));
		let headers = [("content-type", media_type)];
		let (status, body) =
			self.request(Method::PUT, &path, &headers, manifest.into(), MAX_BODY).await?;
		match status {
			StatusCode::CREATED => Ok(digest),
			// The registry names what it refuses (an unknown blob, a bad manifest).
			StatusCode::BAD_REQUEST => Err(RegistryError::Invalid(format!(
				"the registry refused the manifest of {repository}: {}",
				String::from_utf8_lossy(&body)
			))),
			other => Err(self.unavailable(format!("PUT {path} answered {other}"))),
		}
	}

	/// An upload's next URL: a path of this registry, or an absolute URL.
	fn location(&self, response: &hyper::Response<hyper::body::Incoming>) -> Result<String, RegistryError> {
		let location = response
			.headers()
			.get(LOCATION)
			.and_then(|l| l.to_str().ok())
			.ok_or_else(|| RegistryError::Invalid("upload without a Location".into()))?;
		Ok(location.strip_prefix(&self.endpoint).unwrap_or(location).to_string())
	}

	async fn get(
		&self,
		path: &str,
		headers: &[(&str, &str)],
		what: &str,
		max_bytes: usize,
	) -> Result<Bytes, RegistryError> {
		let (status, body) =
			self.request(Method::GET, path, headers, Bytes::new(), max_bytes).await?;
		match status {
			StatusCode::OK => Ok(body),
			StatusCode::NOT_FOUND => Err(RegistryError::NotFound(what.into())),
			other => Err(self.unavailable(format!("GET {path} answered {other}"))),
		}
	}

	/// A request whose answer is read whole, up to `max_bytes`.
	async fn request(
		&self,
		method: Method,
		path: &str,
		headers: &[(&str, &str)],
		body: Bytes,
		max_bytes: usize,
	) -> Result<(StatusCode, Bytes), RegistryError> {
		let response = self.send(method, path, headers, body).await?;
		let status = response.status();
		Ok((status, self.read_body(response, path, max_bytes).await?))
	}

	/// A whole answer of at most `max_bytes`, each chunk within the request timeout.
	async fn read_body(
		&self,
		response: hyper::Response<hyper::body::Incoming>,
		what: &str,
		max_bytes: usize,
	) -> Result<Bytes, RegistryError> {
		let body = tokio::time::timeout(
			REQUEST_TIMEOUT,
			Limited::new(response.into_body(), max_bytes).collect(),
		)
		.await
		.map_err(|_| self.unavailable("timed out reading the answer".into()))?
		.map_err(|e| {
			if e.is::<http_body_util::LengthLimitError>() {
				RegistryError::TooLarge { what: what.into(), limit: max_bytes as u64 }
			} else {
				self.unavailable(e.to_string())
			}
		})?;
		Ok(body.to_bytes())
	}

	/// Sends a request to `target` (a path of this registry or an absolute URL) with this
	/// host's credentials — only ever to this registry: a bearer token got from the
	/// registry's token server when it asks for one, else the basic credentials. Reads follow
	/// redirects. A refusal of the credentials is `Credentials`, whatever the caller expects.
	async fn send(
		&self,
		method: Method,
		target: &str,
		headers: &[(&str, &str)],
		body: Bytes,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut url =
			if is_absolute(target) { target.to_string() } else { format!("{}{target}", self.endpoint) };
		let (mut redirects, mut token_fetched) = (0, false);
		loop {
			let ours = same_origin(&url, &self.endpoint);
			let authorization = if ours { self.authorization() } else { None };
			let response =
				self.send_once(method.clone(), &url, headers, body.clone(), authorization).await?;
			let status = response.status();
			if ours && status == StatusCode::UNAUTHORIZED && !token_fetched {
				if let Some(challenge) = bearer_challenge(&response) {
					token_fetched = true;
					self.fetch_token(&challenge).await?;
					continue;
				}
			}
			if ours && matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
				return Err(self.refused(status, &response, token_fetched));
			}
			let reads = method == Method::GET || method == Method::HEAD;
			if reads && status.is_redirection() && redirects < MAX_REDIRECTS {
				if let Some(next) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()) {
					url = if is_absolute(next) {
						next.to_string()
					} else if next.starts_with('/') {
						format!("{}{next}", origin(&url))
					} else {
						return Err(RegistryError::Invalid(format!("a redirect to `{next}`")));
					};
					redirects += 1;
					continue;
				}
			}
			return Ok(response);
		}
	}

	/// One request, within the request timeout.
	async fn send_once(
		&self,
		method: Method,
		url: &str,
		headers: &[(&str, &str)],
		body: Bytes,
		authorization: Option<String>,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut request = Request::builder().method(method).uri(url);
		for (name, value) in headers {
			request = request.header(*name, *value);
		}
		if let Some(authorization) = authorization {
			request = request.header(AUTHORIZATION, authorization);
		}
		let request = request
			.body(Full::new(body))
			.map_err(|e| RegistryError::Invalid(format!("request {url}: {e}")))?;
		tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
			.await
			.map_err(|_| self.unavailable("timed out".into()))?
			.map_err(|e| match untrusted_certificate(&e) {
				Some(reason) => RegistryError::Certificate { endpoint: self.endpoint.clone(), reason },
				None => self.unavailable(error_chain(&e)),
			})
	}

	/// The `Authorization` this registry gets: its token, else the basic credentials.
	fn authorization(&self) -> Option<String> {
		let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
		token.map(|token| format!("Bearer {token}")).or_else(|| self.credentials.as_ref().map(|c| c.basic()))
	}

	/// Gets a token from the token server a `Bearer` challenge names (Docker's token auth),
	/// with the basic credentials when configured: they go to the token server only over
	/// TLS or when it is this registry itself.
	async fn fetch_token(&self, challenge: &HashMap<String, String>) -> Result<(), RegistryError> {
		let realm = challenge
			.get("realm")
			.filter(|realm| is_absolute(realm))
			.ok_or_else(|| RegistryError::Invalid("a Bearer challenge without an http(s) realm".into()))?;
		let query: Vec<String> = ["service", "scope"]
			.into_iter()
			.filter_map(|key| challenge.get(key).map(|value| format!("{key}={}", percent_encode(value))))
			.collect();
		let separator = if realm.contains('?') { '&' } else { '?' };
		let url =
			if query.is_empty() { realm.clone() } else { format!("{realm}{separator}{}", query.join("&")) };
		let safe = realm.starts_with("https://") || same_origin(realm, &self.endpoint);
		let authorization = self.credentials.as_ref().filter(|_| safe).map(|c| c.basic());
		let response = self.send_once(Method::GET, &url, &[], Bytes::new(), authorization).await?;
		let status = response.status();
		let body = self.read_body(response, "the token server's answer", MAX_BODY).await?;
		match status {
			StatusCode::OK => {}
			StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
				let problem = match &self.credentials {
					None => format!("needs credentials: its token server {realm} answered {status} without any; configure `username` and `password_file` in a [[registry]] entry for {}", self.endpoint),
					Some(_) if !safe => format!("sends credentials to a token server over plain http ({realm}), which this host refuses to do"),
					Some(_) => format!("refused our credentials: its token server {realm} answered {status}; check `username` and `password_file` of the [[registry]] entry for {}", self.endpoint),
				};
				return Err(RegistryError::Credentials { endpoint: self.endpoint.clone(), problem });
			}
			other => return Err(self.unavailable(format!("token server {realm} answered {other}"))),
		}
		#[derive(Deserialize)]
		struct Answer {
			token: Option<String>,
			access_token: Option<String>,
		}
		let answer: Answer = serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("token server {realm}: {e}")))?;
		let token = answer
			.token
			.or(answer.access_token)
			.filter(|t| !t.is_empty())
			.ok_or_else(|| RegistryError::Invalid(format!("token server {realm} gave no token")))?;
		*self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
		Ok(())
	}

	/// The `Credentials` error of a 401 or 403 from this registry.
	fn refused(
		&self,
		status: StatusCode,
		response: &hyper::Response<hyper::body::Incoming>,
		token_fetched: bool,
	) -> RegistryError {
		let endpoint = &self.endpoint;
		let scheme = response
			.headers()
			.get(WWW_AUTHENTICATE)
			.and_then(|v| v.to_str().ok())
			.and_then(|v| v.split_whitespace().next())
			.unwrap_or_default();
		let problem = if !scheme.is_empty()
			&& !scheme.eq_ignore_ascii_case("basic")
			&& !scheme.eq_ignore_ascii_case("bearer")
		{
			format!("asks for `{scheme}` authentication ({status}); only HTTP basic auth and Docker's token auth are supported")
		} else if self.credentials.is_none() {
			format!("needs credentials ({status}): configure `username` and `password_file` in a [[registry]] entry for {endpoint}")
		} else if token_fetched || status == StatusCode::FORBIDDEN {
			format!("refused access with our credentials ({status}): check the account of the [[registry]] entry for {endpoint} may read and write there")
		} else {
			format!("refused our credentials ({status}): check `username` and `password_file` of the [[registry]] entry for {endpoint}")
		};
		RegistryError::Credentials { endpoint: endpoint.clone(), problem }
	}

	fn unavailable(&self, reason: String) -> RegistryError {
		RegistryError::Unavailable { endpoint: self.endpoint.clone(), reason }
	}
}

fn is_absolute(url: &str) -> bool {
	url.starts_with("http://") || url.starts_with("https://")
}

/// `scheme://authority` of an absolute URL.
fn origin(url: &str) -> &str {
	let after_scheme = url.find("://").map_or(0, |i| i + 3);
	let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
	&url[..end]
}

/// Whether `url` is on the registry at `endpoint` (normalized), so it may get its credentials.
fn same_origin(url: &str, endpoint: &str) -> bool {
	normalize(origin(url)).is_some_and(|o| o == endpoint)
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",…` challenge.
fn bearer_challenge(response: &hyper::Response<hyper::body::Incoming>) -> Option<HashMap<String, String>> {
	let value = response.headers().get(WWW_AUTHENTICATE)?.to_str().ok()?;
	let (scheme, rest) = value.trim().split_once(' ')?;
	scheme.eq_ignore_ascii_case("bearer").then(|| challenge_parameters(rest))
}

/// `k="v", k2=v2` (quoted values may hold commas and `\"`).
fn challenge_parameters(text: &str) -> HashMap<String, String> {
	let mut parameters = HashMap::new();
	let mut chars = text.chars().peekable();
	loop {
		while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
		let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
		if key.is_empty() {
			break;
		}
		let mut value = String::new();
		if chars.next_if_eq(&'=').is_some() {
			if chars.next_if_eq(&'"').is_some() {
				while let Some(c) = chars.next() {
					match c {
						'\\' => value.extend(chars.next()),
						'"' => break,
						c => value.push(c),
					}
				}
			} else {
				value.extend(std::iter::from_fn(|| chars.next_if(|c| *c != ',')));
			}
		}
		parameters.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
	}
	parameters
}

/// A query value with everything but RFC 3986's unreserved characters escaped.
fn percent_encode(value: &str) -> String {
	value
		.bytes()
		.map(|b| match b {
			b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
			b => format!("%{b:02X}"),
		})
		.collect()
}

/// The certificate problem, if a connection failed because TLS did not trust the server.
fn untrusted_certificate(error: &(dyn std::error::Error + 'static)) -> Option<String> {
	let certificate = |e: &rustls::Error| {
		matches!(e, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
			.then(|| e.to_string())
	};
	let mut next = Some(error);
	while let Some(e) = next {
		if let Some(found) = e.downcast_ref::<rustls::Error>().and_then(certificate) {
			return Some(found);
		}
		// An `io::Error`'s `source` skips the error it wraps (TLS errors come wrapped twice).
		next = match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
			Some(wrapped) => Some(wrapped as &(dyn std::error::Error + 'static)),
			None => e.source(),
		};
	}
	None
}

/// An error and its causes, `: `-separated (hyper's own message is only "client error").
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
	let mut text = error.to_string();
	let mut next = error.source();
	while let Some(e) = next {
		text.push_str(": ");
		text.push_str(&e.to_string());
		next = e.source();
	}
	text
}

/// Reads until `buffer` is full or the file ends; the bytes read.
async fn read_full(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
	use tokio::io::AsyncReadExt;
	let mut filled = 0;
	while filled < buffer.len() {
		match file.read(&mut buffer[filled..]).await? {
			0 => break,
			n => filled += n,
		}
	}
	Ok(filled)
}

/// Media type of the manifests [`Registry::push_saved_image`] writes.
pub const MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The largest image config a `docker save` archive may hold.
const MAX_SAVED_CONFIG: u64 = 1 << 20;

/// An image of a `docker save` archive, its layers compressed for the registry.
struct Saved {
	config: Vec<u8>,
	/// Each layer, base first: the compressed file, its digest and size.
	layers: Vec<(PathBuf, Digest, u64)>,
}

/// Pushing images (the `modicum` CLI).
impl Registry {
	/// Pushes the image of the `docker save` archive `saved` as `repository@<digest>` and
	/// returns the digest: each layer gzip-compressed the same way every time (no name, mtime
	/// 0), so a layer pushed before is found by its digest and not sent again; the config; a
	/// Docker v2 schema 2 manifest. The compressed layers are written under `scratch`.
	pub async fn push_saved_image(
		&self,
		repository: &str,
		saved: &Path,
		scratch: &Path,
	) -> Result<Digest, RegistryError> {
		let (from, to) = (saved.to_path_buf(), scratch.to_path_buf());
		let image = tokio::task::spawn_blocking(move || read_saved(&from, &to))
			.await
			.map_err(|e| RegistryError::Invalid(format!("reading {}: {e}", saved.display())))?
			.map_err(|e| RegistryError::Invalid(format!("{}: {e}", saved.display())))?;
		let config_path = scratch.join("config.json");
		let config_digest = sha256(&image.config);
		tokio::fs::write(&config_path, &image.config)
			.await
			.map_err(|e| RegistryError::Invalid(format!("{}: {e}", config_path.display())))?;
		self.push_blob_file(repository, &config_path, &config_digest).await?;
		// Every layer, the base too: a registry refuses a manifest naming a blob it lacks.
		for (path, digest, _) in &image.layers {
			self.push_blob_file(repository, path, digest).await?;
		}
		let descriptor = |media_type: &str, digest: &Digest, size: u64| {
			serde_json::json!({ "mediaType": media_type, "size": size, "digest": digest_string(digest) })
		};
		let manifest = serde_json::json!({
			"schemaVersion": 2,
			"mediaType": MANIFEST_V2,
			"config": descriptor(
				"application/vnd.docker.container.image.v1+json",
				&config_digest,
				image.config.len() as u64,
			),
			"layers": image.layers.iter().map(|(_, digest, size)| {
				descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", digest, *size)
			}).collect::<Vec<_>>(),
		});
		let manifest = serde_json::to_vec(&manifest)
			.map_err(|e| RegistryError::Invalid(format!("manifest of {repository}: {e}")))?;
		self.push_manifest(repository, MANIFEST_V2, manifest).await
	}
}

/// Reads a `docker save` archive of one image (Docker's own layout, or the OCI layout of
/// Docker 25 and later: both list the config and the layers in `manifest.json`), compressing
/// each layer into `scratch` and checking it against the config's `diff_ids`.
fn read_saved(saved: &Path, scratch: &Path) -> std::io::Result<Saved> {
	use std::io::{Read, Write};
	let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
	let entries = |path: &Path| -> std::io::Result<tar::Archive<std::fs::File>> {
		Ok(tar::Archive::new(std::fs::File::open(path)?))
	};
	#[derive(Deserialize)]
	struct Listed {
		#[serde(rename = "Config")]
		config: String,
		#[serde(rename = "Layers")]
		layers: Vec<String>,
	}
	let mut listed: Option<Vec<Listed>> = None;
	for entry in entries(saved)?.entries()? {
		let entry = entry?;
		if entry.path()?.as_os_str() == "manifest.json" {
			listed = Some(serde_json::from_reader(entry.take(MAX_SAVED_CONFIG)).map_err(|e| invalid(e.to_string()))?);
		}
	}
	let listed = match listed.unwrap_or_default() {
		mut images if images.len() == 1 => images.remove(0),
		images => return Err(invalid(format!("{} images in its manifest.json, not one", images.len()))),
	};
	std::fs::create_dir_all(scratch)?;
	let mut config = None;
	let mut layers: HashMap<String, (PathBuf, Digest, u64, String)> = HashMap::new();
	for entry in entries(saved)?.entries()? {
		let mut entry = entry?;
		let name = entry.path()?.to_string_lossy().into_owned();
		if name == listed.config {
			let mut bytes = Vec::new();
			entry.by_ref().take(MAX_SAVED_CONFIG + 1).read_to_end(&mut bytes)?;
			if bytes.len() as u64 > MAX_SAVED_CONFIG {
				return Err(invalid("its image config is larger than 1 MiB".into()));
			}
			config = Some(bytes);
		} else if listed.layers.contains(&name) && !layers.contains_key(&name) {
			let path = scratch.join(format!("layer-{}.tar.gz", layers.len()));
			let file = Hashing { inner: std::fs::File::create(&path)?, hash: Sha256::new(), size: 0 };
			let gzip = flate2::GzBuilder::new().mtime(0).write(file, flate2::Compression::default());
			let mut unpacked = Hashing { inner: gzip, hash: Sha256::new(), size: 0 };
			std::io::copy(&mut entry, &mut unpacked)?;
			let diff_id = digest_string(&unpacked.hash.finalize().into());
			let mut file = unpacked.inner.finish()?;
			file.flush()?;
			file.inner.sync_all()?;
			let digest: Digest = file.hash.finalize().into();
			layers.insert(name, (path, digest, file.size, diff_id));
		}
	}
	let config = config.ok_or_else(|| invalid(format!("no config {}", listed.config)))?;
	let image: ImageConfig =
		serde_json::from_slice(&config).map_err(|e| invalid(format!("its image config: {e}")))?;
	let mut ordered = Vec::new();
	for (name, diff_id) in listed.layers.iter().zip(&image.rootfs.diff_ids) {
		let (path, digest, size, found) =
			layers.get(name).ok_or_else(|| invalid(format!("no layer {name}")))?;
		if found != diff_id {
			return Err(invalid(format!("layer {name} is {found}, its config says {diff_id}")));
		}
		ordered.push((path.clone(), *digest, *size));
	}
	if ordered.len() != image.rootfs.diff_ids.len() || ordered.len() != listed.layers.len() {
		return Err(invalid("its config and manifest.json name different layers".into()));
	}
	Ok(Saved { config, layers: ordered })
}

/// Passes bytes on, hashing and counting them.
struct Hashing<W> {
	inner: W,
	hash: Sha256,
	size: u64,
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
	fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
		let n = self.inner.write(buf)?;
		self.hash.update(&buf[..n]);
		self.size += n as u64;
		Ok(n)
	}

	fn flush(&mut self) -> std::io::Result<()> {
		self.inner.flush()
	}
}

/// What a `DELETE` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
	/// The registry deleted it.
	Deleted,
	/// It was not there (deleted before, or never pushed): nothing left to do.
	Absent,
	/// The registry refuses deletes (`405`): its config lacks `storage: delete: enabled: true`,
	/// or it is read-only for maintenance.
	Disabled,
}

/// Deletion, for a directory's retention (`directory`). The registry only unlinks what is
/// deleted; its own garbage collection (`registry garbage-collect`) reclaims the disk.
impl Registry {
	/// Deletes the manifest `repository@digest` and the tags naming it. Its layers stay: other
	/// images share them.
	pub async fn delete_manifest(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Deletion, RegistryError> {
		self.delete(&format!("/v2/{repository}/manifests/{}", digest_string(digest))).await
	}

	/// Unlinks a blob from `repository`; other repositories linking it keep it.
	pub async fn delete_blob(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Deletion, RegistryError> {
		self.delete(&format!("/v2/{repository}/blobs/{}", digest_string(digest))).await
	}

	/// The size of a blob of `repository`, `None` if it has none.
	pub async fn blob_size(
		&self,
		repository: &str,
		digest: &Digest,
	) -> Result<Option<u64>, RegistryError> {
		let path = format!("/v2/{repository}/blobs/{}", digest_string(digest));
		let response = self.send(Method::HEAD, &path, &[], Bytes::new()).await?;
		match response.status() {
			StatusCode::OK => response
				.headers()
				.get(hyper::header::CONTENT_LENGTH)
				.and_then(|length| length.to_str().ok()?.parse().ok())
				.map(Some)
				.ok_or_else(|| RegistryError::Invalid(format!("HEAD {path} without a length"))),
			StatusCode::NOT_FOUND => Ok(None),
			other => Err(self.unavailable(format!("HEAD {path} answered {other}"))),
		}
	}

	async fn delete(&self, path: &str) -> Result<Deletion, RegistryError> {
		let (status, _) = self.request(Method::DELETE, path, &[], Bytes::new(), MAX_BODY).await?;
		match status {
			StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT => Ok(Deletion::Deleted),
			StatusCode::NOT_FOUND => Ok(Deletion::Absent),
			StatusCode::METHOD_NOT_ALLOWED => Ok(Deletion::Disabled),
			other if other.is_server_error() => {
				Err(self.unavailable(format!("DELETE {path} answered {other}")))
			}
			other => Err(RegistryError::Invalid(format!("DELETE {path} answered {other}"))),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::scratch::Scratch;
	use std::io::{BufRead, BufReader, Write};

	#[test]
	fn endpoints_name_one_registry_however_they_are_written() {
		assert_eq!(normalize("https://Dir.Example.org:443/").as_deref(), Some("https://dir.example.org"));
		assert_eq!(normalize("http://127.0.0.1:5000").as_deref(), Some("http://127.0.0.1:5000"));
		for bad in ["ftp://x", "https://", "https://x/v2", "https://user@x", "x:5000"] {
			assert_eq!(normalize(bad), None, "{bad}");
		}
		assert!(same_origin("https://dir.example.org/v2/x?y=1", "https://dir.example.org"));
		assert!(!same_origin("https://dir.example.org.evil/v2/", "https://dir.example.org"));
		assert!(!same_origin("http://dir.example.org/v2/", "https://dir.example.org"));
	}

	#[test]
	fn a_registry_entry_needs_both_credentials_and_tls_for_a_ca() {
		let entry = |endpoint: &str, ca: bool, user: bool, password: bool| RegistryAccess {
			endpoint: endpoint.into(),
			ca_file: ca.then(|| "/ca.pem".into()),
			username: user.then(|| "p7".into()),
			password_file: password.then(|| "/pass".into()),
		};
		assert!(validate_access(&[entry("https://d:5443", true, true, true)]).is_ok());
		assert!(validate_access(&[entry("https://d:5443", false, true, false)]).is_err());
		assert!(validate_access(&[entry("http://d:5000", true, false, false)]).is_err());
		assert!(validate_access(&[entry("http://d:5000", false, true, true)]).unwrap_err().contains("only over https"));
		assert!(validate_access(&[entry("http://127.0.0.1:5000", false, true, true)]).is_ok());
		assert!(validate_access(&[entry("https://d", false, false, false), entry("https://D:443/", false, false, false)])
			.unwrap_err()
			.contains("twice"));
	}

	#[test]
	fn a_missing_password_or_ca_file_is_an_error_at_start() {
		let scratch = Scratch::new("registry-access");
		let entry = RegistryAccess {
			endpoint: "https://d:5443".into(),
			ca_file: None,
			username: Some("p7".into()),
			password_file: Some(scratch.0.join("missing.pass")),
		};
		let error = Registries::load(std::slice::from_ref(&entry)).err().unwrap().to_string();
		assert!(error.contains("missing.pass"), "{error}");
		std::fs::write(scratch.0.join("not-a-ca.pem"), "hello").unwrap();
		let entry = RegistryAccess { ca_file: Some(scratch.0.join("not-a-ca.pem")), username: None, password_file: None, ..entry };
		let error = Registries::load(&[entry]).err().unwrap().to_string();
		assert!(error.contains("no PEM certificate"), "{error}");
	}

	#[test]
	fn bearer_challenges_read_like_docker_writes_them() {
		let parameters = challenge_parameters(
			r#"realm="https://auth.example/token",service="registry.example",scope="repository:jobs/a:pull,push""#,
		);
		assert_eq!(parameters["realm"], "https://auth.example/token");
		assert_eq!(parameters["service"], "registry.example");
		assert_eq!(parameters["scope"], "repository:jobs/a:pull,push");
		assert_eq!(challenge_parameters(r#"realm=x, error="a \"b\"""#)["error"], r#"a "b""#);
		assert_eq!(percent_encode("repository:jobs/a:pull,push"), "repository%3Ajobs%2Fa%3Apull%2Cpush");
	}

	/// A registry on loopback answering each request head with `answer`; its endpoint.
	fn fake_registry(answer: impl Fn(&str) -> String + Send + 'static) -> String {
		let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
		let endpoint = format!("http://{}", listener.local_addr().unwrap());
		std::thread::spawn(move || {
			for stream in listener.incoming() {
				let Ok(mut stream) = stream else { continue };
				let mut head = String::new();
				let mut reader = BufReader::new(stream.try_clone().unwrap());
				while reader.read_line(&mut head).is_ok_and(|n| n > 2) && !head.ends_with("\r\n\r\n") {}
				let _ = stream.write_all(answer(&head).as_bytes());
			}
		});
		endpoint
	}

	fn answer(status: &str, headers: &str, body: &str) -> String {
		format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n{headers}\r\n{body}", body.len())
	}

	/// Access to `endpoint` as `p7` with `password`.
	fn as_p7(endpoint: &str, password: &str) -> (Registries, Scratch) {
		let scratch = Scratch::new("registry-password");
		let file = scratch.0.join("pass");
		std::fs::write(&file, format!("{password}\n")).unwrap();
		let entry = RegistryAccess {
			endpoint: endpoint.into(),
			ca_file: None,
			username: Some("p7".into()),
			password_file: Some(file),
		};
		(Registries::load(&[entry]).unwrap(), scratch)
	}

	/// A registry asking for Docker's token auth, its token server answering `p7:secret`.
	fn token_registry(realm: Option<String>) -> String {
		let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("p7:secret"));
		let endpoint = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
		let here = endpoint.clone();
		let started = fake_registry(move |head| {
			let realm = realm.clone().unwrap_or_else(|| format!("{}/token", here.get().unwrap()));
			let authorized = |value: &str| head.lines().any(|l| l.eq_ignore_ascii_case(&format!("authorization: {value}")));
			if head.starts_with("GET /token?service=fake&scope=repository%3Ajobs%2Fa%3Apull ") {
				if authorized(&basic) {
					return answer("200 OK", "", r#"{"token":"t0k"}"#);
				}
				return answer("401 Unauthorized", "", "");
			}
			if authorized("Bearer t0k") {
				return answer("200 OK", "", "{}");
			}
			let challenge = format!("www-authenticate: Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:jobs/a:pull\"\r\n");
			answer("401 Unauthorized", &challenge, "")
		});
		endpoint.set(started.clone()).unwrap();
		started
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn a_registry_with_token_auth_lets_in_whom_its_token_server_knows() {
		let endpoint = token_registry(None);
		let (registries, _scratch) = as_p7(&endpoint, "secret");
		registries.client(&endpoint).unwrap().ping().await.unwrap();

		let (registries, _scratch) = as_p7(&endpoint, "wrong");
		let refused = registries.client(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.is_local(), "{refused}");
		assert!(refused.to_string().contains("refused our credentials"), "{refused}");

		let anonymous = Registry::new(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(matches!(anonymous, RegistryError::Credentials { .. }), "{anonymous}");
		assert!(anonymous.to_string().contains("needs credentials"), "{anonymous}");
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn credentials_never_go_to_a_token_server_elsewhere_over_plain_http() {
		let elsewhere = token_registry(None);
		let endpoint = token_registry(Some(format!("{elsewhere}/token")));
		let (registries, _scratch) = as_p7(&endpoint, "secret");
		let refused = registries.client(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.to_string().contains("over plain http"), "{refused}");
	}

	#[tokio::test(flavor = "multi_thread")]
	async fn another_authentication_scheme_is_named_as_unsupported_not_as_an_outage() {
		let endpoint = fake_registry(|_| answer("401 Unauthorized", "www-authenticate: Negotiate\r\n", ""));
		let refused = Registry::new(&endpoint).unwrap().ping().await.unwrap_err();
		assert!(refused.is_local(), "{refused}");
		assert!(refused.to_string().contains("`Negotiate` authentication"), "{refused}");
		let forbidden = fake_registry(|_| answer("403 Forbidden", "", ""));
		let (registries, _scratch) = as_p7(&forbidden, "secret");
		let refused = registries.client(&forbidden).unwrap().ping().await.unwrap_err();
		assert!(refused.to_string().contains("refused access with our credentials"), "{refused}");
	}
}
