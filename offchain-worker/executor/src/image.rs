//! A job image checked at its directory before anything of it reaches Docker (docs/protocol.md,
//! "Jobs"): the manifest and config under their size caps, the job's architecture and base
//! layer, no volumes, healthcheck or devices, and every layer above the base fetched, checked
//! against its digest and its `diff_id`, and its uncompressed size counted under the cap. The
//! layers fetched for the check are what Docker loads ([`super::load`]): what reaches Docker
//! is known to be sound, and a load that still fails is the host's fault, never the job's.

use super::{load::ArchiveWriter, ExecutorError, Job};
use modicum_common::{arch::oci_architecture, digest::digest_string};
use modicum_registry::{Descriptor, Registries, Registry, RegistryError};
use pallet_market::ResultStatus;
use sha2::{Digest as _, Sha256};
use std::{collections::HashSet, io::Write, path::PathBuf};

/// The largest manifest a job may have.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

/// The largest image config a job may have.
pub const MAX_CONFIG_BYTES: usize = 64 << 10;

/// The most layers a job image may have (base, job, data and a few more).
pub const MAX_LAYERS: usize = 16;

/// The most bytes the layers above the base may unpack to: with the storage limit, what a job
/// can make a provider's disk hold.
pub const MAX_UNPACKED_BYTES: u64 = 512 << 20;

/// Config keys (folded) that would make Docker give the job more than the market's profile.
const REFUSED_CONFIG_KEYS: [&str; 3] = ["volumes", "healthcheck", "devices"];

/// A key as Go's `encoding/json` matches it against a field name (`bytes.EqualFold`): ASCII
/// case folded, and the two non-ASCII letters that fold onto ASCII ones (ſ → s, K → k).
fn fold(key: &str) -> String {
	key.chars()
		.map(|c| match c {
			'\u{17F}' => 's',
			'\u{212A}' => 'k',
			'\u{130}' | '\u{131}' => 'i',
			c => c.to_ascii_lowercase(),
		})
		.collect()
}

/// Values of `map` under every key that folds to `name`.
fn folded<'a>(
	map: &'a serde_json::Map<String, serde_json::Value>,
	name: &'a str,
) -> impl Iterator<Item = &'a serde_json::Value> + 'a {
	map.iter().filter(move |(key, _)| fold(key) == name).map(|(_, value)| value)
}

/// Why an image is refused as Docker itself reads its config after the pull, if it is.
pub fn refused_by_docker(image: &bollard::models::ImageInspect) -> Option<&'static str> {
	if image.os.as_deref() != Some("linux") {
		return Some("os");
	}
	let config = image.config.as_ref()?;
	if config.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
		return Some("volumes");
	}
	let health = config.healthcheck.as_ref().and_then(|h| h.test.as_ref());
	if health.is_some_and(|test| !test.is_empty() && test[0] != "NONE") {
		return Some("healthcheck");
	}
	let runs = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
	(!runs(&config.cmd) && !runs(&config.entrypoint)).then_some("cmd")
}

/// Whether an object of the config has two keys that Docker reads as one (it takes the last):
/// then the check and Docker could read two different images.
fn ambiguous(map: &serde_json::Map<String, serde_json::Value>) -> bool {
	let mut seen = HashSet::new();
	!map.keys().all(|key| seen.insert(fold(key)))
}

/// Why the config is refused as written, if it is: keys Docker would read otherwise than the
/// check (at the top or in `rootfs`).
fn ambiguous_config(config_bytes: &[u8]) -> Option<&'static str> {
	let Ok(serde_json::Value::Object(top)) = serde_json::from_slice(config_bytes) else { return Some("config") };
	if ambiguous(&top) {
		return Some("duplicate keys");
	}
	for rootfs in folded(&top, "rootfs") {
		if rootfs.as_object().is_none_or(ambiguous) {
			return Some("rootfs keys");
		}
	}
	None
}

/// Why an image is refused as Docker loaded it, if it is: other layers or another config than
/// the check verified (a config read one way by the check and another by Docker).
pub fn loaded_otherwise(image: &bollard::models::ImageInspect, checked: &Image) -> Option<&'static str> {
	if image.id.as_deref() != Some(checked.config_digest.as_str()) {
		return Some("image id");
	}
	let layers = image.root_fs.as_ref().and_then(|r| r.layers.as_ref());
	(layers != Some(&checked.diff_ids)).then_some("layers")
}

/// Why an image's config is refused, if it is: something beyond the profile, another OS, or
/// nothing to run.
fn refused_config(rest: &serde_json::Map<String, serde_json::Value>) -> Option<&'static str> {
	if folded(rest, "os").any(|os| os.as_str() != Some("linux")) {
		return Some("os");
	}
	let mut runs_something = false;
	for config in folded(rest, "config") {
		let Some(config) = config.as_object() else { return Some("config") };
		if let Some(key) =
			REFUSED_CONFIG_KEYS.into_iter().find(|key| folded(config, key).any(declares))
		{
			return Some(key);
		}
		runs_something |= ["cmd", "entrypoint"]
			.iter()
			.any(|key| folded(config, key).any(|v| v.as_array().is_some_and(|a| !a.is_empty())));
	}
	(!runs_something).then_some("cmd")
}

/// An image that passed the checks.
#[derive(Clone, Debug)]
pub struct Image {
	/// As Docker names it: the name it is loaded under when its archive was kept, else
	/// `host:port/repository@sha256:…` at its directory.
	pub reference: String,
	/// KiB of compressed layers above the base: what a provider fetches, counted in bandwidth.
	pub layer_kib: u64,
	/// The config's digest: the image's ID once Docker holds it.
	pub config_digest: String,
	/// The uncompressed layers, base first, as checked.
	pub diff_ids: Vec<String>,
}

/// An image that is not run: the status to post, one of those decided before the container
/// starts (`ResultStatus::never_started`), so a result with no usage and no archive.
#[derive(Clone, Copy, Debug)]
pub struct Refused {
	/// The status.
	pub status: ResultStatus,
}

impl From<ResultStatus> for Refused {
	fn from(status: ResultStatus) -> Self {
		debug_assert!(status.never_started(), "{status:?} is decided by a run");
		Self { status }
	}
}

/// Why a check did not pass: the status that ends the job, or this host's own failure (its
/// registry credentials or trusted CAs, its disk), which ends nothing.
enum Failure {
	Refused(Refused),
	Registry(RegistryError),
	Disk(std::io::Error),
}

impl From<ResultStatus> for Failure {
	fn from(status: ResultStatus) -> Self {
		Self::Refused(status.into())
	}
}

impl From<RegistryError> for Failure {
	fn from(e: RegistryError) -> Self {
		let status = match e {
			// Bytes other than those named: the directory did not serve the job.
			RegistryError::Unavailable { .. } | RegistryError::Corrupt(_) => {
				ResultStatus::DirectoryUnavailable
			},
			RegistryError::NotFound(_) => ResultStatus::JobNotFound,
			RegistryError::Invalid(_) | RegistryError::TooLarge { .. } => {
				ResultStatus::JobDescriptionError
			}
			RegistryError::Endpoint(_) => ResultStatus::Declined,
			RegistryError::Credentials { .. } | RegistryError::Certificate { .. } => {
				return Self::Registry(e)
			}
		};
		tracing::info!(error = %e, ?status, "the directory's answer ends the job");
		status.into()
	}
}

/// Where a checked image is written for `docker load`, and the name it is loaded under.
#[derive(Clone, Debug)]
pub struct Keep {
	/// The archive file (in the run's work directory).
	pub path: PathBuf,
	/// The name, under the executor's prefix.
	pub tag: String,
}

/// Checks `job`'s image at its directory, reached through `registries`; `Ok(Err(_))` is the
/// status that ends the job, `Err` this host's own failure. With `keep`, the config and the layers above the
/// base, as fetched, are written to `keep.path` as a `docker load` archive naming the image
/// `keep.tag` (bounded by the same caps: the bandwidth limit and the manifest's sizes).
pub async fn check(
	job: &Job,
	registries: &Registries,
	keep: Option<&Keep>,
) -> Result<Result<Image, Refused>, ExecutorError> {
	match checked(job, registries, keep).await {
		Ok(image) => Ok(Ok(image)),
		Err(Failure::Refused(refused)) => {
			if let Some(keep) = keep {
				let _ = std::fs::remove_file(&keep.path);
			}
			Ok(Err(refused))
		}
		Err(Failure::Registry(e)) => Err(ExecutorError::Load {
			reference: format!("{}/{}@{}", job.endpoint, job.repository, digest_string(&job.digest)),
			message: e.to_string(),
		}),
		Err(Failure::Disk(source)) => Err(ExecutorError::Host { what: "image archive", source }),
	}
}

async fn checked(
	job: &Job,
	registries: &Registries,
	keep: Option<&Keep>,
) -> Result<Image, Failure> {
	let registry = registries.client(&job.endpoint)?;
	let manifest = registry.manifest(&job.repository, &job.digest, MAX_MANIFEST_BYTES).await?;
	let (config, config_bytes) =
		registry.image_config_blob(&job.repository, &manifest, MAX_CONFIG_BYTES).await?;
	let base = digest_string(&job.base_layer);
	if let Some(key) = ambiguous_config(&config_bytes).or_else(|| refused_config(&config.rest)) {
		tracing::info!(run = %job.run_id, key, "image config refused");
		return Err(ResultStatus::JobDescriptionError.into());
	}
	if config.architecture != oci_architecture(job.architecture)
		|| manifest.layers.is_empty()
		|| manifest.layers.len() > MAX_LAYERS
		|| config.rootfs.diff_ids.len() != manifest.layers.len()
		|| config.rootfs.diff_ids.first() != Some(&base)
		|| config.rootfs.diff_ids[1..].contains(&base)
	{
		return Err(ResultStatus::JobDescriptionError.into());
	}
	// The base layer is never fetched: Docker loads the job's layers onto its own installed
	// copy (by diff_id), so the directory's base blob, whatever its size, plays no part.
	let mut archive =
		keep.map(|keep| ArchiveWriter::create(&keep.path)).transpose().map_err(Failure::Disk)?;
	let mut unpacked = 0u64;
	let mut layer_bytes = 0u64;
	for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids).skip(1) {
		layer_bytes = layer_bytes.saturating_add(layer.size);
		// Layers beyond the job's own bandwidth limit can never be fetched within it: the job
		// is misdescribed, decided before anything is fetched or started.
		if layer_bytes.div_ceil(1024) > job.limits.bandwidth {
			return Err(Failure::Refused(ResultStatus::JobDescriptionError.into()));
		}
		let room = MAX_UNPACKED_BYTES - unpacked;
		unpacked +=
			unpacked_size(&registry, &job.repository, layer, diff_id, room, archive.as_mut()).await?;
	}
	let reference = match (keep, archive) {
		(Some(keep), Some(archive)) => {
			archive.finish(&config_bytes, &keep.tag).map_err(Failure::Disk)?;
			keep.tag.clone()
		}
		_ => format!("{}/{}@{}", registry.host(), job.repository, digest_string(&job.digest)),
	};
	Ok(Image {
		reference,
		layer_kib: layer_bytes.div_ceil(1024),
		config_digest: manifest.config.digest.clone(),
		diff_ids: config.rootfs.diff_ids.clone(),
	})
}

/// Whether a config value declares something (an empty map or list, or null, declares nothing;
/// a healthcheck of `["NONE"]` disables the base image's).
fn declares(value: &serde_json::Value) -> bool {
	match value {
		serde_json::Value::Null => false,
		serde_json::Value::Object(map) => {
			let disabled = map.get("Test").and_then(|t| t.as_array()).is_some_and(|test| {
				test.first().and_then(|t| t.as_str()) == Some("NONE")
			});
			!map.is_empty() && !disabled
		}
		serde_json::Value::Array(list) => !list.is_empty(),
		_ => true,
	}
}

/// Fetches a layer, checks its size, digest and `diff_id`, and returns the bytes it unpacks
/// to; a layer that would unpack to more than `room` is `TooLarge`. With `archive`, the layer
/// is written there as fetched.
async fn unpacked_size(
	registry: &Registry,
	repository: &str,
	layer: &Descriptor,
	diff_id: &str,
	room: u64,
	mut archive: Option<&mut ArchiveWriter>,
) -> Result<u64, Failure> {
	let digest: modicum_common::digest::Sha256 = layer.digest.parse().map_err(RegistryError::Invalid)?;
	let counter = Counter { written: 0, room, hash: Sha256::new() };
	let mut sink: Box<dyn Sink> = match layer.media_type.as_str() {
		"application/vnd.docker.image.rootfs.diff.tar.gzip"
		| "application/vnd.oci.image.layer.v1.tar+gzip" => {
			Box::new(flate2::write::GzDecoder::new(counter))
		}
		"application/vnd.oci.image.layer.v1.tar" => Box::new(counter),
		other => return Err(RegistryError::Invalid(format!("layer media type `{other}`")).into()),
	};
	let invalid = |e: std::io::Error| match e.get_ref().and_then(|e| e.downcast_ref::<TooMuch>()) {
		Some(TooMuch(room)) => {
			RegistryError::TooLarge { what: format!("layer {}", layer.digest), limit: *room }
		}
		None => RegistryError::Invalid(format!("layer {}: {e}", layer.digest)),
	};
	if let Some(archive) = archive.as_deref_mut() {
		archive.begin_layer(layer.size).map_err(Failure::Disk)?;
	}
	let (mut fetched, mut disk, mut head) = (0u64, None, Vec::new());
	// Inflating, hashing and writing are blocking work: the runtime's other tasks go on.
	let streamed = registry
		.stream_blob(repository, &digest.0, layer.size, |chunk| {
			fetched += chunk.len() as u64;
			let wanted = 6usize.saturating_sub(head.len()).min(chunk.len());
			head.extend_from_slice(&chunk[..wanted]);
			tokio::task::block_in_place(|| {
				if let Some(archive) = archive.as_deref_mut() {
					if let Err(e) = archive.write_layer(chunk) {
						disk = Some(e);
						return Err(RegistryError::Invalid("the archive write failed".into()));
					}
				}
				sink.write_all(chunk).map_err(invalid)
			})
		})
		.await;
	if let Some(e) = disk {
		return Err(Failure::Disk(e));
	}
	streamed?;
	// Docker decompresses a layer it is told is a plain tar before checking its diff_id; the
	// check hashes what it is told: a compressed "plain" layer would pass one and fail the other.
	let compressed = [&[0x1f, 0x8b][..], b"BZh", &[0xfd, b'7', b'z', b'X', b'Z', 0], &[0x28, 0xb5, 0x2f, 0xfd]];
	if layer.media_type == "application/vnd.oci.image.layer.v1.tar" && compressed.iter().any(|m| head.starts_with(m)) {
		return Err(RegistryError::Invalid(format!("layer {} is compressed but typed a plain tar", layer.digest)).into());
	}
	// The manifest's size is what `docker load` reads the layer by: a blob of another size
	// is the manifest's error, on every host alike.
	if fetched != layer.size {
		return Err(RegistryError::Invalid(format!(
			"layer {} has {fetched} bytes, its manifest says {}",
			layer.digest, layer.size
		))
		.into());
	}
	let counter = sink.finish().map_err(invalid)?;
	if digest_string(&counter.hash.finalize().into()) != diff_id {
		return Err(RegistryError::Invalid(format!("layer {} is not its diff_id", layer.digest)).into());
	}
	if let Some(archive) = archive {
		archive.end_layer().map_err(Failure::Disk)?;
	}
	Ok(counter.written)
}

/// Where a layer's bytes go: straight, or through a gzip decoder.
trait Sink: Write + Send {
	fn finish(self: Box<Self>) -> std::io::Result<Counter>;
}

impl Sink for Counter {
	fn finish(self: Box<Self>) -> std::io::Result<Counter> {
		Ok(*self)
	}
}

impl Sink for flate2::write::GzDecoder<Counter> {
	fn finish(self: Box<Self>) -> std::io::Result<Counter> {
		(*self).finish()
	}
}

/// Counts and hashes unpacked bytes, refusing more than `room`.
struct Counter {
	written: u64,
	room: u64,
	hash: Sha256,
}

#[derive(Debug)]
struct TooMuch(u64);

impl std::fmt::Display for TooMuch {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "unpacks to more than {} bytes", self.0)
	}
}

impl std::error::Error for TooMuch {}

impl Write for Counter {
	fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
		self.written += buf.len() as u64;
		if self.written > self.room {
			return Err(std::io::Error::other(TooMuch(self.room)));
		}
		self.hash.update(buf);
		Ok(buf.len())
	}

	fn flush(&mut self) -> std::io::Result<()> {
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;

	#[test]
	fn volumes_healthchecks_and_devices_are_declarations_unless_empty_or_disabled() {
		assert!(declares(&json!({"/data": {}})));
		assert!(!declares(&json!({})));
		assert!(!declares(&json!(null)));
		assert!(declares(&json!({"Test": ["CMD", "true"], "Interval": 1})));
		assert!(!declares(&json!({"Test": ["NONE"]})));
		assert!(declares(&json!(["/dev/kvm"])));
	}

	#[test]
	fn config_keys_are_checked_as_docker_reads_them_whatever_their_case() {
		let refused = |config: serde_json::Value| {
			refused_config(config.as_object().unwrap())
		};
		let runs = json!({"Cmd": ["/bin/sh", "/job/run.sh"]});
		assert_eq!(refused(json!({"os": "linux", "config": runs})), None);
		for (config, why) in [
			(json!({"os": "linux", "config": {"Cmd": ["sh"], "volumes": {"/data": {}}}}), "volumes"),
			(json!({"os": "linux", "Config": {"Cmd": ["sh"], "VOLUMES": {"/d": {}}}}), "volumes"),
			(json!({"os": "linux", "config": {"Cmd": ["sh"], "Volumes": null, "volume\u{17F}": {"/d": {}}}}), "volumes"),
			(json!({"os": "linux", "config": {"Cmd": ["sh"], "healthcheck": {"Test": ["CMD", "x"]}}}), "healthcheck"),
			(json!({"os": "linux", "config": {"Cmd": ["sh"], "Devices": ["/dev/kvm"]}}), "devices"),
			(json!({"os": "windows", "config": runs}), "os"),
			(json!({"os": "linux", "config": {"Cmd": []}}), "cmd"),
		] {
			assert_eq!(refused(config.clone()), Some(why), "{config}");
		}
	}

	#[test]
	fn docker_s_own_reading_of_the_config_refuses_volumes_and_healthchecks() {
		let image = |config: bollard::models::ImageConfig| bollard::models::ImageInspect {
			os: Some("linux".into()),
			config: Some(config),
			..Default::default()
		};
		let cmd = Some(vec!["/bin/sh".to_string()]);
		let plain = bollard::models::ImageConfig { cmd: cmd.clone(), ..Default::default() };
		assert_eq!(refused_by_docker(&image(plain.clone())), None);
		let volume =
			bollard::models::ImageConfig { volumes: Some(vec!["/data".into()]), ..plain.clone() };
		assert_eq!(refused_by_docker(&image(volume)), Some("volumes"));
		let health = bollard::models::HealthConfig {
			test: Some(vec!["CMD".into(), "true".into()]),
			..Default::default()
		};
		let checked = bollard::models::ImageConfig { healthcheck: Some(health), ..plain };
		assert_eq!(refused_by_docker(&image(checked)), Some("healthcheck"));
		assert_eq!(refused_by_docker(&image(Default::default())), Some("cmd"));
	}

	#[test]
	fn a_config_docker_would_read_as_other_layers_is_refused_before_loading() {
		let base = "sha256:aa";
		let plain = json!({"architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [base, "sha256:11"]}});
		assert_eq!(ambiguous_config(plain.to_string().as_bytes()), None);
		// Checked as [base, 11]; Docker takes the last of the keys it folds alike: [base, 22],
		// a chain it may already hold, so it would skip the verified layer.
		let swapped = r#"{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:11"]},"RootFS":{"type":"layers","diff_ids":["sha256:aa","sha256:22"]}}"#;
		assert_eq!(ambiguous_config(swapped.as_bytes()), Some("duplicate keys"));
		let inner = r#"{"rootfs":{"type":"layers","diff_ids":["sha256:aa"],"DIFF_IDS":["sha256:bb"]}}"#;
		assert_eq!(ambiguous_config(inner.as_bytes()), Some("rootfs keys"));
	}

	#[test]
	fn an_image_docker_loaded_as_other_layers_or_another_config_is_refused() {
		let checked = Image {
			reference: "x".into(),
			layer_kib: 1,
			config_digest: "sha256:cc".into(),
			diff_ids: vec!["sha256:aa".into(), "sha256:11".into()],
		};
		let loaded = |id: &str, layers: &[&str]| bollard::models::ImageInspect {
			id: Some(id.into()),
			root_fs: Some(bollard::models::ImageInspectRootFs {
				layers: Some(layers.iter().map(|l| l.to_string()).collect()),
				..Default::default()
			}),
			..Default::default()
		};
		assert_eq!(loaded_otherwise(&loaded("sha256:cc", &["sha256:aa", "sha256:11"]), &checked), None);
		assert_eq!(loaded_otherwise(&loaded("sha256:cc", &["sha256:aa", "sha256:22"]), &checked), Some("layers"));
		assert_eq!(loaded_otherwise(&loaded("sha256:dd", &["sha256:aa", "sha256:11"]), &checked), Some("image id"));
	}

	#[test]
	fn a_compression_bomb_is_refused_at_the_cap_not_unpacked() {
		let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
		encoder.write_all(&vec![0u8; 8 << 20]).unwrap();
		let bomb = encoder.finish().unwrap();
		assert!(bomb.len() < 64 << 10, "8 MiB of zeros pack small");
		let counter = Counter { written: 0, room: 1 << 20, hash: Sha256::new() };
		let mut sink = flate2::write::GzDecoder::new(counter);
		let refused = sink.write_all(&bomb).and_then(|()| sink.try_finish());
		let error = refused.unwrap_err();
		assert!(error.get_ref().is_some_and(|e| e.is::<TooMuch>()), "{error}");
	}
}
