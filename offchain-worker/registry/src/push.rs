//! Pushing blobs, manifests and whole `docker save` images (the `modicum` CLI, providers' results).

use crate::{
	is_repository_name, ImageConfig, Registry, RegistryError, MAX_BODY, UPLOAD_CHUNK,
};
use hyper::{
	body::Bytes,
	header::LOCATION,
	Method, StatusCode,
};
use modicum_common::digest::{digest_string, sha256};
use pallet_market::Digest;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::{
	collections::HashMap,
	path::{Path, PathBuf},
};

impl Registry {
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
	pub(crate) fn location(&self, response: &hyper::Response<hyper::body::Incoming>) -> Result<String, RegistryError> {
		let location = response
			.headers()
			.get(LOCATION)
			.and_then(|l| l.to_str().ok())
			.ok_or_else(|| RegistryError::Invalid("upload without a Location".into()))?;
		Ok(location.strip_prefix(&self.endpoint).unwrap_or(location).to_string())
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
		// Checked before anything is read or sent: the name becomes a URL path.
		if !is_repository_name(repository) {
			return Err(RegistryError::Invalid(format!(
				"`{repository}` is not a repository name (lowercase letters, digits and inner `.`, `_`, `-`, in `/`-separated parts)"
			)));
		}
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

