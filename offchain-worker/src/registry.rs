//! The directory client: a directory's OCI registry (distribution API v2) over HTTP. Images are
//! read by manifest digest; result archives are blobs stored and fetched by their sha256.

use crate::config::digest_string;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, Method, Request, StatusCode};
use hyper_util::{
	client::legacy::{connect::HttpConnector, Client},
	rt::TokioExecutor,
};
use pallet_market::Digest;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::time::Duration;

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
	#[error("unsupported directory endpoint `{0}`: only http:// registries are supported")]
	Endpoint(String),
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

/// A client of one directory's registry.
#[derive(Clone)]
pub struct Registry {
	endpoint: String,
	client: Client<HttpConnector, Full<Bytes>>,
}

/// The sha256 of some bytes.
pub fn sha256(bytes: &[u8]) -> Digest {
	Sha256::digest(bytes).into()
}

impl Registry {
	/// A client of the registry at `endpoint` (`http://host:port`).
	pub fn new(endpoint: &str) -> Result<Self, RegistryError> {
		let trimmed = endpoint.trim_end_matches('/');
		let host = trimmed
			.strip_prefix("http://")
			.ok_or_else(|| RegistryError::Endpoint(endpoint.into()))?;
		if host.is_empty() || host.contains('/') {
			return Err(RegistryError::Endpoint(endpoint.into()));
		}
		let client = Client::builder(TokioExecutor::new()).build_http();
		Ok(Self { endpoint: trimmed.into(), client })
	}

	/// `host:port`, as Docker names images of this registry.
	pub fn host(&self) -> &str {
		self.endpoint.trim_start_matches("http://")
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
		let digest: crate::config::Sha256 =
			manifest.config.digest.parse().map_err(RegistryError::Invalid)?;
		let body = self.blob(repository, &digest.0, max_bytes).await?;
		serde_json::from_slice(&body)
			.map_err(|e| RegistryError::Invalid(format!("image config of {repository}: {e}")))
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

	/// An upload's next URL, as a path of this registry.
	fn location(&self, response: &hyper::Response<hyper::body::Incoming>) -> Result<String, RegistryError> {
		let location = response
			.headers()
			.get("location")
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
		let body = tokio::time::timeout(
			REQUEST_TIMEOUT,
			Limited::new(response.into_body(), max_bytes).collect(),
		)
		.await
		.map_err(|_| self.unavailable("timed out reading the answer".into()))?
		.map_err(|e| {
			if e.is::<http_body_util::LengthLimitError>() {
				RegistryError::TooLarge { what: path.into(), limit: max_bytes as u64 }
			} else {
				self.unavailable(e.to_string())
			}
		})?
		.to_bytes();
		Ok((status, body))
	}

	async fn send(
		&self,
		method: Method,
		path: &str,
		headers: &[(&str, &str)],
		body: Bytes,
	) -> Result<hyper::Response<hyper::body::Incoming>, RegistryError> {
		let mut request = Request::builder().method(method).uri(format!("{}{path}", self.endpoint));
		for (name, value) in headers {
			request = request.header(*name, *value);
		}
		let request = request
			.body(Full::new(body))
			.map_err(|e| RegistryError::Invalid(format!("request {path}: {e}")))?;
		tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
			.await
			.map_err(|_| self.unavailable("timed out".into()))?
			.map_err(|e| self.unavailable(e.to_string()))
	}

	fn unavailable(&self, reason: String) -> RegistryError {
		RegistryError::Unavailable { endpoint: self.endpoint.clone(), reason }
	}
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
