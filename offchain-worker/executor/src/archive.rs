//! What a job left behind, measured and archived by docs/protocol.md's rules ("Units", "Jobs"), the
//! same on every host: storage is Σ `st_size` of each distinct regular file plus 4 KiB per entry;
//! the result archive is an uncompressed tar streamed to a file under a hard cap, in canonical
//! order (each directory's names sorted by their bytes, depth first), owners 0, mtimes 0, modes
//! 0755/0644, each file stored once (later hardlinks as link entries), sparse files densely,
//! symlinks as links never followed, names as raw bytes. Everything a job controls is bounded:
//! the walk opens each directory relative to its parent (no path grows past the kernel's limit),
//! never descends beyond [`MAX_DEPTH`], and reads only regular files.

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use sha2::{Digest as _, Sha256};
use std::{
	collections::{HashMap, HashSet},
	ffi::{OsStr, OsString},
	io::{self, Read, Write},
	os::{
		fd::{AsFd, OwnedFd},
		unix::ffi::{OsStrExt, OsStringExt},
	},
	path::{Path, PathBuf},
};
use tar::{EntryType, Header};

/// Storage counted for each entry (file, directory, link) besides its bytes.
pub const ENTRY_BYTES: u64 = 4096;

/// The deepest a tree under `/out` or `/tmp` may go; deeper counts as exceeding storage.
pub const MAX_DEPTH: usize = 128;

/// The longest path (in bytes, from `/out`) an entry may have; longer counts as exceeding storage.
pub const MAX_PATH: usize = 4095;

/// What a walk found wrong with a job's tree: beyond the archive rules, so beyond its storage.
#[derive(Debug)]
pub struct TooDeep;

/// One entry of a tree, in canonical order.
enum Entry<'a> {
	Dir,
	File { dir: &'a OwnedFd, name: &'a OsStr, size: u64, mode: u32, id: (u64, u64), links: u64 },
	Symlink { target: OsString },
	/// A pipe or socket: an entry, with nothing to keep.
	Other,
}

/// Walks `root` depth first, each directory's names sorted by their bytes, calling `visit` with
/// each entry's path relative to `root`; `visit` returning `false` stops the walk.
fn walk(
	root: &Path,
	mut visit: impl FnMut(&Path, Entry<'_>) -> io::Result<bool>,
) -> io::Result<Result<(), TooDeep>> {
	let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
	let top = rustix::fs::open(root, flags, Mode::empty())?;
	// Each level: its directory, its path, and its names still to visit (last first).
	let mut stack: Vec<(OwnedFd, PathBuf, Vec<OsString>)> =
		vec![(top.try_clone()?, PathBuf::new(), sorted_names(&top)?)];
	while let Some((dir, path, names)) = stack.last_mut() {
		let depth = stack_depth(path);
		let Some(name) = names.pop() else {
			stack.pop();
			continue;
		};
		let relative = path.join(&name);
		if relative.as_os_str().len() > MAX_PATH {
			return Ok(Err(TooDeep));
		}
		let stat = rustix::fs::statat(&*dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)?;
		let go_on = match FileType::from_raw_mode(stat.st_mode) {
			FileType::Directory => {
				if depth >= MAX_DEPTH {
					return Ok(Err(TooDeep));
				}
				if !visit(&relative, Entry::Dir)? {
					return Ok(Ok(()));
				}
				let child = rustix::fs::openat(&*dir, name.as_os_str(), flags, Mode::empty())?;
				let names = sorted_names(&child)?;
				stack.push((child, relative, names));
				true
			}
			FileType::RegularFile => visit(
				&relative,
				Entry::File {
					dir,
					name: &name,
					size: stat.st_size as u64,
					mode: stat.st_mode,
					id: (stat.st_dev, stat.st_ino),
					links: stat.st_nlink,
				},
			)?,
			FileType::Symlink => {
				let target = rustix::fs::readlinkat(&*dir, name.as_os_str(), Vec::new())?;
				visit(&relative, Entry::Symlink { target: OsString::from_vec(target.into_bytes()) })?
			}
			// Pipes and sockets have no content to keep; a job cannot make devices.
			_ => visit(&relative, Entry::Other)?,
		};
		if !go_on {
			return Ok(Ok(()));
		}
	}
	Ok(Ok(()))
}

/// Levels below the root of a directory's relative path.
fn stack_depth(path: &Path) -> usize {
	path.components().count() + 1
}

/// A directory's names, sorted so the last pops first.
fn sorted_names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
	let mut names = Vec::new();
	for entry in Dir::read_from(dir)? {
		let name = entry?.file_name().to_bytes().to_vec();
		if name != b"." && name != b".." {
			names.push(OsString::from_vec(name));
		}
	}
	names.sort_by(|a, b| b.as_bytes().cmp(a.as_bytes()));
	Ok(names)
}

/// Storage the job used under each of `roots`, in bytes: Σ `st_size` of distinct regular files
/// plus [`ENTRY_BYTES`] per entry. Stops counting once past `limit` (the answer is then some
/// number above it); a tree beyond the archive rules is `Err(TooDeep)`.
pub fn stored_bytes(roots: &[&Path], limit: u64) -> io::Result<Result<u64, TooDeep>> {
	let mut total = 0u64;
	let mut seen = HashSet::new();
	for root in roots {
		let walked = walk(root, |_, entry| {
			total = total.saturating_add(ENTRY_BYTES);
			if let Entry::File { size, id, links, .. } = entry {
				if links <= 1 || seen.insert(id) {
					total = total.saturating_add(size);
				}
			}
			Ok(total <= limit)
		})?;
		if let Err(too_deep) = walked {
			return Ok(Err(too_deep));
		}
	}
	Ok(Ok(total))
}

/// A written archive: its size and sha256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
	/// Bytes.
	pub size: u64,
	/// sha256 of the bytes.
	pub digest: [u8; 32],
}

/// Writes the archive of `stdout`, `stderr` and, when given, everything under `out` (as `out/`)
/// to `dest`. `Ok(None)` when it would pass `cap` bytes: `dest` is then incomplete.
pub fn write_archive(
	out: Option<&Path>,
	stdout: &[u8],
	stderr: &[u8],
	dest: &Path,
	cap: u64,
) -> io::Result<Option<Written>> {
	let file = std::fs::File::create(dest)?;
	let writer = Capped { inner: io::BufWriter::new(file), written: 0, cap, hash: Sha256::new() };
	let mut builder = tar::Builder::new(writer);
	let built = (|| -> io::Result<()> {
		append_data(&mut builder, Path::new("stdout"), 0o644, stdout)?;
		append_data(&mut builder, Path::new("stderr"), 0o644, stderr)?;
		if let Some(out) = out {
			append_dir(&mut builder, Path::new("out"))?;
			append_tree(&mut builder, out)?;
		}
		Ok(())
	})();
	let finished = built.and_then(|()| builder.into_inner());
	match finished {
		Ok(mut writer) => {
			writer.inner.flush()?;
			writer.inner.get_ref().sync_all()?;
			Ok(Some(Written { size: writer.written, digest: writer.hash.finalize().into() }))
		}
		Err(e) if e.get_ref().is_some_and(|inner| inner.is::<OverCap>()) => Ok(None),
		Err(e) => Err(e),
	}
}

fn append_tree<W: Write>(builder: &mut tar::Builder<W>, out: &Path) -> io::Result<()> {
	// The first path of each file with several links: later ones become link entries.
	let mut first_path: HashMap<(u64, u64), PathBuf> = HashMap::new();
	let walked = walk(out, |relative, entry| {
		let name = Path::new("out").join(relative);
		match entry {
			Entry::Dir => append_dir(builder, &name)?,
			Entry::File { dir, name: file, size, mode, id, links } => {
				let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
				if links > 1 {
					if let Some(target) = first_path.get(&id) {
						let mut header = header(EntryType::Link, mode, 0);
						builder.append_link(&mut header, &name, target)?;
						return Ok(true);
					}
					first_path.insert(id, name.clone());
				}
				let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
				let fd = rustix::fs::openat(dir.as_fd(), file, flags, Mode::empty())?;
				let mut header = header(EntryType::Regular, mode, size);
				// A hole reads as zeros: sparse files are stored densely, `size` bytes exactly.
				let data = std::fs::File::from(fd).take(size);
				builder.append_data(&mut header, &name, data)?;
			}
			Entry::Symlink { target } => {
				let mut header = header(EntryType::Symlink, 0o777, 0);
				builder.append_link(&mut header, &name, Path::new(&target))?;
			}
			Entry::Other => {}
		}
		Ok(true)
	})?;
	// The storage walk refuses such trees first; a tree changed since is a host fault.
	walked.map_err(|TooDeep| io::Error::other("/out is beyond the archive rules"))
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
	let mut header = Header::new_gnu();
	header.set_entry_type(kind);
	header.set_mode(mode);
	header.set_uid(0);
	header.set_gid(0);
	header.set_mtime(0);
	header.set_size(size);
	header
}

fn append_data<W: Write>(
	builder: &mut tar::Builder<W>,
	name: &Path,
	mode: u32,
	data: &[u8],
) -> io::Result<()> {
	let mut header = header(EntryType::Regular, mode, data.len() as u64);
	builder.append_data(&mut header, name, data)
}

fn append_dir<W: Write>(builder: &mut tar::Builder<W>, name: &Path) -> io::Result<()> {
	let mut header = header(EntryType::Directory, 0o755, 0);
	let mut name = name.as_os_str().to_owned();
	name.push("/");
	builder.append_data(&mut header, Path::new(&name), io::empty())
}

/// The archive would pass its cap.
#[derive(Debug)]
struct OverCap;

impl std::fmt::Display for OverCap {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		f.write_str("the result archive passes its cap")
	}
}

impl std::error::Error for OverCap {}

/// A writer that hashes what it writes and refuses to pass `cap` bytes.
struct Capped<W> {
	inner: W,
	written: u64,
	cap: u64,
	hash: Sha256,
}

impl<W: Write> Write for Capped<W> {
	fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
		if self.written.saturating_add(buf.len() as u64) > self.cap {
			return Err(io::Error::other(OverCap));
		}
		let n = self.inner.write(buf)?;
		self.written += n as u64;
		self.hash.update(&buf[..n]);
		Ok(n)
	}

	fn flush(&mut self) -> io::Result<()> {
		self.inner.flush()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use modicum_common::scratch::Scratch;
	use std::os::unix::fs::{symlink, PermissionsExt};

	fn tree(root: &Path, files: &[(&str, &[u8])]) {
		for (name, data) in files {
			let path = root.join(name);
			std::fs::create_dir_all(path.parent().unwrap()).unwrap();
			std::fs::write(path, data).unwrap();
		}
	}

	fn archive(out: &Path, scratch: &Path, cap: u64) -> Option<(Written, Vec<u8>)> {
		let dest = scratch.join("archive.tar");
		let written = write_archive(Some(out), b"out", b"err", &dest, cap).unwrap()?;
		Some((written, std::fs::read(dest).unwrap()))
	}

	fn names(bytes: &[u8]) -> Vec<(Vec<u8>, EntryType)> {
		tar::Archive::new(bytes)
			.entries()
			.unwrap()
			.map(|e| {
				let e = e.unwrap();
				(e.path_bytes().into_owned(), e.header().entry_type())
			})
			.collect()
	}

	#[test]
	fn same_content_written_in_another_order_and_time_gives_the_same_archive() {
		let scratch = Scratch::new("order");
		let (a, b) = (scratch.0.join("a"), scratch.0.join("b"));
		tree(&a, &[("z.txt", b"last"), ("dir/x", b"1"), ("a.txt", b"first")]);
		tree(&b, &[("a.txt", b"first"), ("dir/x", b"1"), ("z.txt", b"last")]);
		std::fs::set_permissions(b.join("a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
		let (first, bytes) = archive(&a, &scratch.0, u64::MAX).unwrap();
		let (second, _) = archive(&b, &scratch.0, u64::MAX).unwrap();
		assert_eq!(first, second);
		assert_eq!(first.digest, <[u8; 32]>::from(Sha256::digest(&bytes)));
		assert_eq!(first.size, bytes.len() as u64);
		let listed: Vec<_> = names(&bytes).into_iter().map(|(n, _)| n).collect();
		let expected: [&[u8]; 7] =
			[b"stdout", b"stderr", b"out/", b"out/a.txt", b"out/dir/", b"out/dir/x", b"out/z.txt"];
		assert_eq!(listed, expected);
		std::fs::write(b.join("dir/x"), b"2").unwrap();
		assert_ne!(first, archive(&b, &scratch.0, u64::MAX).unwrap().0, "content changes it");
	}

	#[test]
	fn storage_counts_each_file_once_and_every_entry() {
		let scratch = Scratch::new("storage");
		let out = scratch.0.join("out");
		tree(&out, &[("a", &[7; 5000]), ("d/b", b"12")]);
		for i in 0..10 {
			std::fs::hard_link(out.join("a"), out.join(format!("link{i}"))).unwrap();
		}
		// a, d, d/b and ten links: 13 entries; a's 5000 bytes once.
		let expected = 5000 + 2 + 13 * ENTRY_BYTES;
		assert_eq!(stored_bytes(&[&out], u64::MAX).unwrap().unwrap(), expected);
		assert!(stored_bytes(&[&out], 10_000).unwrap().unwrap() > 10_000, "stops past the limit");
	}

	#[test]
	fn a_sparse_file_counts_its_size_and_is_archived_densely_under_the_cap() {
		let scratch = Scratch::new("sparse");
		let out = scratch.0.join("out");
		std::fs::create_dir_all(&out).unwrap();
		let file = std::fs::File::create(out.join("big")).unwrap();
		file.set_len(3 << 30).unwrap();
		assert!(stored_bytes(&[&out], 4 << 20).unwrap().unwrap() > 4 << 20);
		// Refused at the cap, having written no more than it.
		assert_eq!(archive(&out, &scratch.0, 1 << 20), None);
		assert!(std::fs::metadata(scratch.0.join("archive.tar")).unwrap().len() <= 1 << 20);
		let small = scratch.0.join("small");
		std::fs::create_dir_all(&small).unwrap();
		std::fs::File::create(small.join("holes")).unwrap().set_len(100_000).unwrap();
		let (_, bytes) = archive(&small, &scratch.0, u64::MAX).unwrap();
		let mut entries = tar::Archive::new(&bytes[..]);
		let mut holes = entries.entries().unwrap().find(|e| {
			e.as_ref().unwrap().path_bytes().as_ref() == b"out/holes"
		});
		let mut data = Vec::new();
		holes.take().unwrap().unwrap().read_to_end(&mut data).unwrap();
		assert_eq!(data, vec![0; 100_000]);
	}

	#[test]
	fn hardlinks_are_stored_once_and_symlinks_never_followed() {
		let scratch = Scratch::new("links");
		let out = scratch.0.join("out");
		tree(&out, &[("data", &[1; 1 << 20])]);
		for i in 0..50 {
			std::fs::hard_link(out.join("data"), out.join(format!("h{i:02}"))).unwrap();
		}
		symlink("/etc/shadow", out.join("escape")).unwrap();
		let (written, bytes) = archive(&out, &scratch.0, u64::MAX).unwrap();
		assert!(written.size < (1 << 20) + 100 * 1024, "one copy of the data: {}", written.size);
		let entries = names(&bytes);
		assert_eq!(entries.iter().filter(|(_, t)| *t == EntryType::Link).count(), 50);
		let escape = entries.iter().find(|(n, _)| n == b"out/escape").unwrap();
		assert_eq!(escape.1, EntryType::Symlink);
	}

	#[test]
	fn non_utf8_names_are_kept_byte_for_byte_and_deep_trees_are_bounded() {
		let scratch = Scratch::new("names");
		let out = scratch.0.join("out");
		std::fs::create_dir_all(&out).unwrap();
		for name in [&b"caf\xe9"[..], &b"caf\xc3\xa9"[..], &b"\xff\xfe"[..]] {
			std::fs::write(out.join(OsStr::from_bytes(name)), name).unwrap();
		}
		let (_, bytes) = archive(&out, &scratch.0, u64::MAX).unwrap();
		let listed: Vec<_> = names(&bytes).into_iter().map(|(n, _)| n).collect();
		assert!(listed.contains(&b"out/caf\xe9".to_vec()) && listed.contains(&b"out/\xff\xfe".to_vec()));

		// Deeper than the rules allow, built relative to each level (as a job can).
		let deep = scratch.0.join("deep");
		std::fs::create_dir_all(&deep).unwrap();
		let mut dir = rustix::fs::open(&deep, OFlags::DIRECTORY, Mode::empty()).unwrap();
		for _ in 0..MAX_DEPTH + 5 {
			rustix::fs::mkdirat(&dir, "d", Mode::from_raw_mode(0o755)).unwrap();
			dir = rustix::fs::openat(&dir, "d", OFlags::DIRECTORY, Mode::empty()).unwrap();
		}
		assert!(stored_bytes(&[&deep], u64::MAX).unwrap().is_err());
	}
}
