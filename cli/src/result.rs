//! A match's result archive: fetched from the job's directory by its digest (the bytes are
//! checked against it while they stream, and never more than the job's bandwidth limit),
//! kept once per digest, unpacked without letting a hostile archive write outside its folder.

use modicum_registry::{Registries, RegistryError, RESULTS_REPOSITORY};
use pallet_market::Digest;
use std::{
	io::{Read, Write},
	path::{Component, Path, PathBuf},
};

/// The most of each log the archive holds (the executor keeps the first MiB).
const LOG_CAP: u64 = 1 << 20;

/// Why a result could not be fetched or read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
	/// The directory did not serve it.
	#[error("the directory did not serve the result: {0}")]
	Registry(#[from] RegistryError),
	/// The match's provider posted no archive (the container never started).
	#[error("this result has no archive: the job's container never started ({0})")]
	NoArchive(String),
	/// Local files.
	#[error("{path}: {source}")]
	Io {
		/// The file.
		path: PathBuf,
		/// The cause.
		source: std::io::Error,
	},
	/// The archive is not a tar of stdout, stderr and out/.
	#[error("the archive is malformed: {0}")]
	Malformed(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ResultError + '_ {
	move |source| ResultError::Io { path: path.into(), source }
}

/// Fetches the archive `digest` from the directory at `endpoint` (reached through
/// `registries`) into `cache` (once), at most `max_bytes`; its path.
pub async fn fetch(
	registries: &Registries,
	endpoint: &str,
	digest: &Digest,
	max_bytes: u64,
	cache: &Path,
) -> Result<PathBuf, ResultError> {
	let path = cache.join(format!("{}.tar", hex::encode(digest)));
	// A cached copy is used only while it still hashes to the digest.
	if path.exists() {
		if sha256_of(&path)? == *digest {
			return Ok(path);
		}
		std::fs::remove_file(&path).map_err(io(&path))?;
	}
	std::fs::create_dir_all(cache).map_err(io(cache))?;
	let registry = registries.client(endpoint)?;
	let partial = path.with_extension("part");
	let mut file = std::fs::File::create(&partial).map_err(io(&partial))?;
	let streamed = registry
		.stream_blob(RESULTS_REPOSITORY, digest, max_bytes, |chunk| {
			file.write_all(chunk).map_err(|e| RegistryError::Invalid(format!("writing {}: {e}", partial.display())))
		})
		.await;
	if let Err(e) = streamed {
		let _ = std::fs::remove_file(&partial);
		return Err(e.into());
	}
	file.sync_all().map_err(io(&partial))?;
	std::fs::rename(&partial, &path).map_err(io(&path))?;
	Ok(path)
}

fn sha256_of(path: &Path) -> Result<Digest, ResultError> {
	use sha2::Digest as _;
	let mut file = std::fs::File::open(path).map_err(io(path))?;
	let mut hash = sha2::Sha256::new();
	std::io::copy(&mut file, &mut hash).map_err(io(path))?;
	Ok(hash.finalize().into())
}

/// stdout and stderr of the run, as stored (raw bytes).
pub fn logs(archive: &Path) -> Result<(Vec<u8>, Vec<u8>), ResultError> {
	let file = std::fs::File::open(archive).map_err(io(archive))?;
	let mut tar = tar::Archive::new(file);
	let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
	for entry in tar.entries().map_err(|e| ResultError::Malformed(e.to_string()))? {
		let entry = entry.map_err(|e| ResultError::Malformed(e.to_string()))?;
		let name = entry.path_bytes().into_owned();
		let target = match name.as_slice() {
			b"stdout" => &mut stdout,
			b"stderr" => &mut stderr,
			_ => continue,
		};
		entry.take(LOG_CAP).read_to_end(target).map_err(|e| ResultError::Malformed(e.to_string()))?;
	}
	Ok((stdout, stderr))
}

/// Whether a symlink at `path` pointing to `target` stays inside the archive's folder.
fn link_stays_inside(path: &Path, target: &Path) -> bool {
	let mut depth = path.components().count().saturating_sub(1) as i64;
	for component in target.components() {
		match component {
			Component::Normal(_) => depth += 1,
			Component::CurDir => {}
			Component::ParentDir => depth -= 1,
			Component::RootDir | Component::Prefix(_) => return false,
		}
		if depth < 0 {
			return false;
		}
	}
	true
}

/// Unpacks the archive into `dir`, a new or empty folder: `stdout`, `stderr` and `out/`.
/// Entries with absolute paths or `..`, device files, and links leading out are refused,
/// whatever the provider put there; modes are masked to at most 0755.
pub fn unpack(archive: &Path, dir: &Path) -> Result<Vec<PathBuf>, ResultError> {
	if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
		return Err(ResultError::Io {
			path: dir.into(),
			source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "not empty: choose another --dir"),
		});
	}
	std::fs::create_dir_all(dir).map_err(io(dir))?;
	let file = std::fs::File::open(archive).map_err(io(archive))?;
	let mut tar = tar::Archive::new(file);
	tar.set_preserve_permissions(false);
	tar.set_unpack_xattrs(false);
	tar.set_mask(0o022);
	let mut written = Vec::new();
	let mut links: Vec<PathBuf> = Vec::new();
	for entry in tar.entries().map_err(|e| ResultError::Malformed(e.to_string()))? {
		let mut entry = entry.map_err(|e| ResultError::Malformed(e.to_string()))?;
		let path = entry.path().map_err(|e| ResultError::Malformed(e.to_string()))?.into_owned();
		// Nothing is written through an earlier symlink: a link's lexical target is then its
		// real one.
		let safe = path.components().all(|c| matches!(c, Component::Normal(_)))
			&& !links.iter().any(|link| path.starts_with(link) && path != *link);
		let kind = entry.header().entry_type();
		let allowed = kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link();
		if !safe || !allowed {
			return Err(ResultError::Malformed(format!("refused entry {}", path.display())));
		}
		if kind.is_hard_link() || kind.is_symlink() {
			let target = entry.link_name().ok().flatten().map(|t| t.into_owned()).unwrap_or_default();
			// A hard link names a path in the archive; a symlink must stay inside it too, so
			// that no tool following it later reads the user's own files.
			let inside = if kind.is_hard_link() {
				target.components().all(|c| matches!(c, Component::Normal(_)))
			} else {
				link_stays_inside(&path, &target)
			};
			if !inside {
				return Err(ResultError::Malformed(format!("refused link {} -> {}", path.display(), target.display())));
			}
			if kind.is_symlink() {
				links.push(path.clone());
			}
		}
		// `unpack_in` also refuses to write through a symlink that leads out of `dir`.
		let unpacked = entry.unpack_in(dir).map_err(io(dir))?;
		if !unpacked {
			return Err(ResultError::Malformed(format!("refused entry {}", path.display())));
		}
		written.push(dir.join(path));
	}
	Ok(written)
}

#[cfg(test)]
mod tests {
	use super::*;
	use modicum_common::scratch::Scratch;

	fn archive(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Scratch {
		let temp = Scratch::new("cli-archive");
		let mut builder = tar::Builder::new(std::fs::File::create(temp.0.join("a.tar")).unwrap());
		for (name, kind, data, link) in entries {
			let mut header = tar::Header::new_gnu();
			header.set_entry_type(*kind);
			header.set_size(data.len() as u64);
			header.set_mode(0o644);
			// Raw names: the builder's own path checks would refuse the hostile ones.
			header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
			if let Some(link) = link {
				header.set_link_name(link).unwrap();
			}
			header.set_cksum();
			builder.append(&header, *data).unwrap();
		}
		builder.finish().unwrap();
		temp
	}

	#[test]
	fn an_honest_archive_unpacks_with_its_logs() {
		let temp = archive(&[
			("stdout", tar::EntryType::Regular, b"hello\n", None),
			("stderr", tar::EntryType::Regular, b"", None),
			("out/", tar::EntryType::Directory, b"", None),
			("out/result.txt", tar::EntryType::Regular, b"42", None),
		]);
		let tar = temp.0.join("a.tar");
		assert_eq!(logs(&tar).unwrap(), (b"hello\n".to_vec(), Vec::new()));
		let dir = temp.0.join("x");
		unpack(&tar, &dir).unwrap();
		assert_eq!(std::fs::read(dir.join("out/result.txt")).unwrap(), b"42");
		assert!(unpack(&tar, &dir).is_err(), "never into a folder with files in it");
		assert!(link_stays_inside(Path::new("out/a"), Path::new("b/../c")));
		assert!(!link_stays_inside(Path::new("out/a"), Path::new("../../c")));
	}

	#[test]
	fn a_flood_of_output_is_read_only_up_to_the_log_cap() {
		let flood = vec![b'x'; LOG_CAP as usize + 4096];
		let temp = archive(&[("stdout", tar::EntryType::Regular, &flood, None), ("stderr", tar::EntryType::Regular, &flood, None)]);
		let (stdout, stderr) = logs(&temp.0.join("a.tar")).unwrap();
		assert_eq!((stdout.len(), stderr.len()), (LOG_CAP as usize, LOG_CAP as usize));
	}

	#[test]
	fn a_hostile_archive_cannot_write_outside_its_folder() {
		for entries in [
			vec![("../escape", tar::EntryType::Regular, &b"x"[..], None)],
			vec![("/tmp/escape", tar::EntryType::Regular, &b"x"[..], None)],
			vec![("out/dev", tar::EntryType::Char, &b""[..], None)],
			// A symlink out, then a file written through it.
			vec![
				("out/up", tar::EntryType::Symlink, &b""[..], Some("/tmp")),
				("out/up/escape", tar::EntryType::Regular, &b"x"[..], None),
			],
			// A link to its own folder, then a link through it reaching out.
			vec![
				("out/b", tar::EntryType::Symlink, &b""[..], Some(".")),
				("out/b/c", tar::EntryType::Symlink, &b""[..], Some("../../escape")),
			],
			// Links that a later `cp -L` would follow to the user's own files.
			vec![("out/key", tar::EntryType::Symlink, &b""[..], Some("../../../../root/.ssh/id_rsa"))],
			vec![("out/passwd", tar::EntryType::Symlink, &b""[..], Some("/etc/passwd"))],
		] {
			let temp = archive(&entries);
			let dir = temp.0.join("x");
			assert!(unpack(&temp.0.join("a.tar"), &dir).is_err(), "{:?}", entries[entries.len() - 1].0);
			assert!(!temp.0.join("escape").exists() && !Path::new("/tmp/escape").exists());
		}
	}
}
