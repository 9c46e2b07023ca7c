//! A checked job image handed to Docker with `docker load`, never `docker pull`: the executor
//! fetches the layers itself (over TLS, with the directory's credentials — `modicum_registry`),
//! so Docker needs no registry settings, and it loads exactly the bytes the check verified.
//!
//! The archive is a docker-archive (`manifest.json` naming the config, the image's name and
//! each layer's file) without the base layer: moby's loader skips any layer whose chain it
//! already holds, and the base is installed on every host that runs jobs (checked on Docker
//! 20.10 by loading such an archive).

use super::{docker_call, image, Executor, ExecutorError, DOCKER_TIMEOUT, LOAD_TIMEOUT};
use bollard::query_parameters::RemoveImageOptions;
use bollard::{query_parameters::ImportImageOptions, Docker};
use futures::StreamExt;
use hyper::body::Bytes;
use std::{
	fs::File,
	io::{BufWriter, Write},
	path::{Path, PathBuf},
};

/// The file `manifest.json` names for the base layer; never in the archive.
const BASE_ENTRY: &str = "base/layer.tar";

/// tar's block size.
const BLOCK: u64 = 512;

/// Writes a docker-archive as the check fetches the layers: each layer's entry streamed as
/// it comes, then the config and `manifest.json`.
pub struct ArchiveWriter {
	file: BufWriter<File>,
	path: PathBuf,
	/// The entry of each layer written, base excluded.
	layers: Vec<String>,
	/// The open layer's declared and written sizes.
	open: Option<(u64, u64)>,
}

impl ArchiveWriter {
	/// Starts the archive at `path`, replacing what is there.
	pub fn create(path: &Path) -> std::io::Result<Self> {
		if let Some(dir) = path.parent() {
			std::fs::create_dir_all(dir)?;
		}
		let file = BufWriter::new(File::create(path)?);
		Ok(Self { file, path: path.into(), layers: Vec::new(), open: None })
	}

	/// Starts the next layer above the base: `size` bytes, as the registry serves it (Docker
	/// inflates a compressed layer itself).
	pub fn begin_layer(&mut self, size: u64) -> std::io::Result<()> {
		let name = format!("layers/{}.tar", self.layers.len() + 1);
		self.header(&name, size)?;
		self.layers.push(name);
		self.open = Some((size, 0));
		Ok(())
	}

	/// More of the open layer; never beyond its size.
	pub fn write_layer(&mut self, bytes: &[u8]) -> std::io::Result<()> {
		let (size, written) = self.open.as_mut().ok_or_else(|| misuse("no layer is open"))?;
		if *written + bytes.len() as u64 > *size {
			return Err(misuse("a layer longer than its size"));
		}
		*written += bytes.len() as u64;
		self.file.write_all(bytes)
	}

	/// Ends the open layer, which must have its size.
	pub fn end_layer(&mut self) -> std::io::Result<()> {
		match self.open.take() {
			Some((size, written)) if size == written => self.pad(size),
			_ => Err(misuse("a layer shorter than its size")),
		}
	}

	/// Writes the config and `manifest.json` naming the image `tag`, and closes the archive.
	pub fn finish(mut self, config: &[u8], tag: &str) -> std::io::Result<()> {
		if self.open.is_some() {
			return Err(misuse("a layer is still open"));
		}
		let layers: Vec<&str> =
			std::iter::once(BASE_ENTRY).chain(self.layers.iter().map(String::as_str)).collect();
		let manifest = serde_json::json!([{
			"Config": "config.json",
			"RepoTags": [tag],
			"Layers": layers,
		}]);
		let manifest = serde_json::to_vec(&manifest).map_err(std::io::Error::other)?;
		for (name, bytes) in [("config.json", config), ("manifest.json", &manifest[..])] {
			self.header(name, bytes.len() as u64)?;
			self.file.write_all(bytes)?;
			self.pad(bytes.len() as u64)?;
		}
		// The end of a tar: two empty blocks.
		self.file.write_all(&[0; 2 * BLOCK as usize])?;
		let file = self.file.into_inner().map_err(|e| e.into_error())?;
		file.sync_all()?;
		tracing::debug!(archive = %self.path.display(), "image archive written");
		Ok(())
	}

	fn header(&mut self, name: &str, size: u64) -> std::io::Result<()> {
		let mut header = tar::Header::new_ustar();
		header.set_path(name)?;
		header.set_size(size);
		header.set_mode(0o644);
		header.set_entry_type(tar::EntryType::Regular);
		header.set_mtime(0);
		header.set_cksum();
		self.file.write_all(header.as_bytes())
	}

	fn pad(&mut self, size: u64) -> std::io::Result<()> {
		let padding = (BLOCK - size % BLOCK) % BLOCK;
		self.file.write_all(&vec![0; padding as usize])
	}
}

fn misuse(what: &str) -> std::io::Error {
	std::io::Error::other(format!("image archive: {what}"))
}

/// Loads the archive at `path` into Docker within the pull timeout. An image whose base layer
/// Docker lacks cannot load: this host's installation, never the job's.
pub async fn load(docker: &Docker, path: &Path, base_layer: &str) -> Result<(), ExecutorError> {
	let file = tokio::fs::File::open(path)
		.await
		.map_err(|source| ExecutorError::Host { what: "image archive", source })?;
	let chunks = futures::stream::try_unfold(file, |mut file| async move {
		use tokio::io::AsyncReadExt;
		let mut buffer = vec![0u8; 1 << 20];
		let n = file.read(&mut buffer).await?;
		buffer.truncate(n);
		Ok::<_, std::io::Error>((n > 0).then(|| (Bytes::from(buffer), file)))
	});
	let options = ImportImageOptions { quiet: true, ..Default::default() };
	let loading = async {
		let answers = docker.import_image_stream(options, chunks, None);
		futures::pin_mut!(answers);
		while let Some(answer) = answers.next().await {
			answer?;
		}
		Ok(())
	};
	let failed = |message: String| ExecutorError::Load {
		reference: path.display().to_string(),
		message: if message.contains(BASE_ENTRY) {
			format!("this host's Docker lacks the base layer {base_layer} (job bases are installed, never fetched): install it ({message})")
		} else {
			message
		},
	};
	tokio::time::timeout(LOAD_TIMEOUT, loading)
		.await
		.map_err(|_| ExecutorError::Timeout("image load"))?
		.map_err(|e: bollard::errors::Error| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
	use super::*;
	use std::io::Read;

	#[test]
	fn the_archive_names_the_base_it_leaves_out_and_holds_each_layer_as_fetched() {
		let dir = modicum_common::scratch::Scratch::new("load-archive");
		let path = dir.0.join("image.tar");
		let mut archive = ArchiveWriter::create(&path).unwrap();
		archive.begin_layer(5).unwrap();
		archive.write_layer(b"ab").unwrap();
		archive.write_layer(b"cde").unwrap();
		assert!(archive.write_layer(b"f").is_err(), "never beyond the layer's size");
		archive.end_layer().unwrap();
		archive.begin_layer(3).unwrap();
		archive.write_layer(b"xy").unwrap();
		assert!(archive.end_layer().is_err(), "a short layer is refused");
		let mut archive = ArchiveWriter::create(&path).unwrap();
		archive.begin_layer(1).unwrap();
		archive.write_layer(b"z").unwrap();
		archive.end_layer().unwrap();
		archive.finish(b"{}", "modicum-x/job:1").unwrap();

		let mut entries = Vec::new();
		for entry in tar::Archive::new(File::open(&path).unwrap()).entries().unwrap() {
			let mut entry = entry.unwrap();
			let mut bytes = String::new();
			entry.read_to_string(&mut bytes).unwrap();
			entries.push((entry.path().unwrap().display().to_string(), bytes));
		}
		assert_eq!(entries[0], ("layers/1.tar".to_string(), "z".to_string()));
		assert_eq!(entries[1], ("config.json".to_string(), "{}".to_string()));
		let manifest: serde_json::Value = serde_json::from_str(&entries[2].1).unwrap();
		assert_eq!(manifest[0]["Layers"], serde_json::json!([BASE_ENTRY, "layers/1.tar"]));
		assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["modicum-x/job:1"]));
		assert_eq!(entries.len(), 3, "no base layer inside");
	}
}

impl Executor {
	/// Loads the image the check kept in `keep` unless Docker has it under its name already;
	/// records the run's use of it. The archive is removed either way.
	pub(crate) async fn load(&self, keep: &image::Keep, base_layer: &str) -> Result<String, ExecutorError> {
		let _turn = self.image_turn.lock().await;
		let reference = keep.tag.clone();
		let inspect = tokio::time::timeout(DOCKER_TIMEOUT, self.docker.inspect_image(&reference));
		let present = match inspect.await {
			Err(_) => Err(ExecutorError::Timeout("image inspect")),
			Ok(Ok(_)) => Ok(true),
			Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })) => {
				Ok(false)
			}
			Ok(Err(e)) => Err(ExecutorError::Docker { call: "image inspect", message: e.to_string() }),
		};
		let loaded = match present {
			Ok(false) => load(&self.docker, &keep.path, base_layer).await,
			other => other.map(|_| ()),
		};
		let _ = std::fs::remove_file(&keep.path);
		loaded?;
		// Names under this executor's prefix are its own, an earlier process's leftover
		// included: counted, and removed when no run needs them.
		*self.images.lock().unwrap_or_else(|e| e.into_inner()).entry(reference.clone()).or_default() +=
			1;
		Ok(reference)
	}

	/// Ends a run's use of an image, removing it when no run of this executor needs it.
	pub(crate) async fn release_image(&self, reference: &str) {
		let _turn = self.image_turn.lock().await;
		let unused = {
			let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
			match images.get_mut(reference) {
				Some(users) if *users > 1 => {
					*users -= 1;
					false
				}
				Some(_) => {
					images.remove(reference);
					true
				}
				None => false,
			}
		};
		if unused {
			let options = RemoveImageOptions { force: false, noprune: false, ..Default::default() };
			if let Err(e) = docker_call(
				"image remove",
				DOCKER_TIMEOUT,
				self.docker.remove_image(reference, Some(options), None),
			)
			.await
			{
				tracing::debug!(reference, error = %e, "image kept");
			}
		}
	}
}
