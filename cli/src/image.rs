//! A job's image: built from a folder's Dockerfile on a base the providers keep, with an
//! optional data layer, and pushed by digest to the job's directory. Docker is driven through
//! its own command line, as job authors use it, to build and save the image; the push goes
//! through the market's registry client (https with the directory's CA and credentials,
//! `--registry-config`), so Docker needs no registry settings for a directory elsewhere.

use modicum_common::digest::Sha256;
use modicum_registry::{Registry, RegistryError};
use pallet_market::Digest;
use std::{
	path::{Path, PathBuf},
	process::Stdio,
	time::Duration,
};
use tokio::{io::AsyncWriteExt, process::Command};

/// How long a build may take (a base is local; nothing is downloaded but the build's own
/// work).
const BUILD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a quick Docker query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a job image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
	/// The folder has no Dockerfile.
	#[error("{0} has no Dockerfile")]
	NoDockerfile(PathBuf),
	/// The Dockerfile's base is not an image this host has, or not one providers keep.
	#[error("the Dockerfile builds on `{from}`, which {why}; build on one of the bases registered providers keep:\n{available}")]
	UnknownBase {
		/// The `FROM` image.
		from: String,
		/// What is wrong with it.
		why: String,
		/// The bases to choose from, one per line.
		available: String,
	},
	/// The Dockerfile cannot be read as a job.
	#[error("Dockerfile: {0}")]
	Dockerfile(String),
	/// Docker failed or is not running.
	#[error("docker {command} failed: {message}")]
	Docker {
		/// The command.
		command: String,
		/// Its error output.
		message: String,
	},
	/// Docker took too long.
	#[error("docker {0} did not finish within {1:?}")]
	Timeout(String, Duration),
	/// The directory's registry refused or failed the push.
	#[error("pushing to the directory: {0}")]
	Registry(#[from] RegistryError),
}

/// An image pushed to a directory.
#[derive(Clone, Debug)]
pub struct Pushed {
	/// Its repository in the directory's registry.
	pub repository: String,
	/// Its manifest digest.
	pub digest: Digest,
	/// Its base layer's diff_id.
	pub base_layer: Digest,
}

/// Runs `docker args…` (with `stdin` piped in when given) within `timeout`; its stdout.
async fn docker(args: &[&str], stdin: Option<&str>, timeout: Duration) -> Result<String, ImageError> {
	let command = args.first().copied().unwrap_or_default().to_string();
	let mut child = Command::new("docker")
		.args(args)
		.env("DOCKER_BUILDKIT", "0")
		.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
		.stdout(Stdio::piped())
		.stderr(Stdio::piped())
		.kill_on_drop(true)
		.spawn()
		.map_err(|e| ImageError::Docker { command: command.clone(), message: format!("{e} (is Docker installed?)") })?;
	if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
		pipe.write_all(text.as_bytes())
			.await
			.map_err(|e| ImageError::Docker { command: command.clone(), message: e.to_string() })?;
	}
	let output = tokio::time::timeout(timeout, child.wait_with_output())
		.await
		.map_err(|_| ImageError::Timeout(command.clone(), timeout))?
		.map_err(|e| ImageError::Docker { command: command.clone(), message: e.to_string() })?;
	if !output.status.success() {
		let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
		return Err(ImageError::Docker { command, message });
	}
	Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The diff_ids of a local image's layers, base first; `None` if Docker has no such image.
pub async fn layers(image: &str) -> Result<Option<Vec<Digest>>, ImageError> {
	let output = match docker(
		&["image", "inspect", "--format", "{{json .RootFS.Layers}}", image],
		None,
		QUERY_TIMEOUT,
	)
	.await
	{
		Ok(output) => output,
		Err(ImageError::Docker { message, .. }) if message.contains("No such image") => return Ok(None),
		Err(e) => return Err(e),
	};
	let layers: Vec<String> = serde_json::from_str(output.trim())
		.map_err(|e| ImageError::Docker { command: "image inspect".into(), message: e.to_string() })?;
	layers
		.iter()
		.map(|layer| layer.parse::<Sha256>().map(|d| d.0))
		.collect::<Result<_, _>>()
		.map(Some)
		.map_err(|message| ImageError::Docker { command: "image inspect".into(), message })
}

/// Local images whose first layer is one of `supported`, as `name (diff_id)` lines; then any
/// supported base this host lacks.
pub async fn available_bases(supported: &[Digest]) -> Result<String, ImageError> {
	let names = docker(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"], None, QUERY_TIMEOUT).await?;
	let mut lines = Vec::new();
	let mut found = Vec::new();
	for name in names.lines().filter(|n| !n.contains("<none>")) {
		if let Some(layers) = layers(name).await? {
			if let Some(base) = layers.first().filter(|b| supported.contains(b)) {
				lines.push(format!("  FROM {name}   (base layer sha256:{})", hex::encode(base)));
				found.push(*base);
			}
		}
	}
	for base in supported.iter().filter(|b| !found.contains(b)) {
		lines.push(format!(
			"  base layer sha256:{} (not on this host: scripts/devnet.sh builds the standard bases)",
			hex::encode(base)
		));
	}
	if lines.is_empty() {
		lines.push("  (no registered provider declares a base layer)".into());
	}
	Ok(lines.join("\n"))
}

/// The image the last stage of a Dockerfile builds on (stage names resolved).
pub fn base_of(dockerfile: &str) -> Result<String, ImageError> {
	let joined = dockerfile.replace("\\\n", " ");
	let mut stages: Vec<(String, Option<String>)> = Vec::new();
	for line in joined.lines().map(str::trim) {
		let mut words = line.split_whitespace();
		if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
			continue;
		}
		let words: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
		let image = words.first().ok_or_else(|| ImageError::Dockerfile("FROM without an image".into()))?;
		if image.contains('$') {
			return Err(ImageError::Dockerfile(format!("FROM {image}: name the base image literally")));
		}
		let name = match words.as_slice() {
			[_, as_, name] if as_.eq_ignore_ascii_case("AS") => Some(name.to_lowercase()),
			_ => None,
		};
		stages.push((image.to_string(), name));
	}
	let mut image = stages.last().map(|(image, _)| image.clone()).ok_or_else(|| ImageError::Dockerfile("no FROM".into()))?;
	// A stage built on an earlier stage builds on that stage's base.
	for _ in 0..stages.len() {
		match stages.iter().find(|(_, name)| name.as_deref() == Some(&image.to_lowercase())) {
			Some((from, _)) => image = from.clone(),
			None => break,
		}
	}
	Ok(image)
}

/// The base layer a local image builds on, if it is one of `supported`.
pub async fn check_base(image: &str, supported: &[Digest]) -> Result<Digest, ImageError> {
	let unknown = |why: String| async move {
		Ok::<_, ImageError>(ImageError::UnknownBase {
			from: image.to_string(),
			why,
			available: available_bases(supported).await?,
		})
	};
	match layers(image).await? {
		None => Err(unknown("this host does not have (job bases are never pulled)".into()).await?),
		Some(layers) => match layers.first() {
			Some(base) if supported.contains(base) => Ok(*base),
			Some(base) => Err(unknown(format!(
				"starts with layer sha256:{} that no registered provider keeps",
				hex::encode(base)
			))
			.await?),
			None => Err(unknown("has no layers".into()).await?),
		},
	}
}

/// Builds the job in `dir` on a base providers keep, adds `input` as a layer at `/input`,
/// and tags the result `tag`. Returns the base layer.
pub async fn build(
	dir: &Path,
	input: Option<&Path>,
	tag: &str,
	supported: &[Digest],
) -> Result<Digest, ImageError> {
	let dockerfile = dir.join("Dockerfile");
	let text = std::fs::read_to_string(&dockerfile).map_err(|_| ImageError::NoDockerfile(dir.into()))?;
	let base = check_base(&base_of(&text)?, supported).await?;
	let context = dir.to_string_lossy();
	docker(&["build", "-q", "-t", tag, &context], None, BUILD_TIMEOUT).await?;
	if let Some(input) = input {
		add_input(tag, input, tag).await?;
	}
	match layers(tag).await?.and_then(|l| l.first().copied()) {
		Some(first) if first == base => Ok(base),
		_ => Err(ImageError::Dockerfile(format!("the built image does not start with its base's layer sha256:{}", hex::encode(base)))),
	}
}

/// Tags as `tag` the image `from` with the folder `input` added as a layer at `/input`.
pub async fn add_input(from: &str, input: &Path, tag: &str) -> Result<(), ImageError> {
	if !input.is_dir() {
		return Err(ImageError::Dockerfile(format!("--input {} is not a folder", input.display())));
	}
	let recipe = format!("FROM {from}\nCOPY . /input/\n");
	docker(&["build", "-q", "-t", tag, "-f", "-", &input.to_string_lossy()], Some(&recipe), BUILD_TIMEOUT).await?;
	Ok(())
}

/// Pushes local image `image` to the directory's registry as `repository` by digest: `docker
/// save`, then each layer the registry lacks (the base too), the config and the manifest. Its
/// manifest digest. `work` (a new folder) holds the saved image meanwhile and is removed.
pub async fn push(image: &str, registry: &Registry, repository: &str, work: &Path) -> Result<Digest, ImageError> {
	let _ = std::fs::remove_dir_all(work);
	std::fs::create_dir_all(work).map_err(|e| ImageError::Docker { command: "save".into(), message: format!("{}: {e}", work.display()) })?;
	let saved = work.join("image.tar");
	let pushed = async {
		docker(&["save", "-o", &saved.to_string_lossy(), image], None, PUSH_TIMEOUT).await?;
		tokio::time::timeout(PUSH_TIMEOUT, registry.push_saved_image(repository, &saved, &work.join("layers")))
			.await
			.map_err(|_| ImageError::Timeout("push".into(), PUSH_TIMEOUT))?
			.map_err(ImageError::from)
	}
	.await;
	let _ = std::fs::remove_dir_all(work);
	pushed
}

/// A repository name for a job folder or image: lower-case letters, digits, `.`, `_`, `-`.
pub fn repository_for(name: &str) -> String {
	let clean: String = name
		.to_lowercase()
		.chars()
		.map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
		.collect();
	let clean = clean.trim_matches(|c: char| !c.is_ascii_alphanumeric());
	format!("jobs/{}", if clean.is_empty() { "job" } else { clean })
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_dockerfile_builds_on_its_last_stages_base() {
		assert_eq!(base_of("FROM modicum/base:python\nCOPY . /job\n").unwrap(), "modicum/base:python");
		let multi = "FROM modicum/base:busybox AS build\nRUN x\nfrom --platform=linux/amd64 build\nCOPY a b\n";
		assert_eq!(base_of(multi).unwrap(), "modicum/base:busybox");
		assert!(matches!(base_of("ARG B\nFROM $B\n"), Err(ImageError::Dockerfile(_))));
		assert!(matches!(base_of("RUN x\n"), Err(ImageError::Dockerfile(_))));
	}

	#[test]
	fn repositories_are_valid_registry_names() {
		assert_eq!(repository_for("My Job!"), "jobs/my-job");
		assert_eq!(repository_for("../.."), "jobs/job");
	}
}
