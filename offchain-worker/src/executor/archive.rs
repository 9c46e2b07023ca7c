//! The canonical result archive: an uncompressed tar whose bytes depend only on what the job
//! wrote, so honest re-executions hash the same (PROTOCOL.md, "Jobs").

use std::{
	io,
	os::unix::fs::PermissionsExt,
	path::{Path, PathBuf},
};
use tar::{EntryType, Header};

/// Builds the archive: `stdout`, `stderr`, then `out/` and everything under it in byte order of
/// the path. Owners are 0, mtimes 0, modes 0755 (directories and executables) or 0644; special
/// files are left out.
pub fn canonical_tar(out_dir: &Path, stdout: &[u8], stderr: &[u8]) -> io::Result<Vec<u8>> {
	let mut builder = tar::Builder::new(Vec::new());
	append_file(&mut builder, "stdout", 0o644, stdout)?;
	append_file(&mut builder, "stderr", 0o644, stderr)?;
	append_dir(&mut builder, "out/")?;
	let mut entries = Vec::new();
	collect(out_dir, PathBuf::new(), &mut entries)?;
	entries
		.sort_by(|a, b| a.0.as_os_str().as_encoded_bytes().cmp(b.0.as_os_str().as_encoded_bytes()));
	for (relative, kind) in entries {
		let name = Path::new("out").join(&relative);
		let full = out_dir.join(&relative);
		match kind {
			Kind::Dir => append_dir(&mut builder, &format!("{}/", name.display()))?,
			Kind::File(mode) => {
				let data = std::fs::read(&full)?;
				append_file(&mut builder, &name.display().to_string(), mode, &data)?;
			}
			Kind::Symlink => {
				let target = std::fs::read_link(&full)?;
				let mut header = header(EntryType::Symlink, 0o777, 0);
				builder.append_link(&mut header, &name, &target)?;
			}
		}
	}
	builder.into_inner()
}

enum Kind {
	Dir,
	File(u32),
	Symlink,
}

fn collect(root: &Path, relative: PathBuf, entries: &mut Vec<(PathBuf, Kind)>) -> io::Result<()> {
	for entry in std::fs::read_dir(root.join(&relative))? {
		let entry = entry?;
		let path = relative.join(entry.file_name());
		let kind = entry.file_type()?;
		if kind.is_dir() {
			entries.push((path.clone(), Kind::Dir));
			collect(root, path, entries)?;
		} else if kind.is_file() {
			let executable = entry.metadata()?.permissions().mode() & 0o111 != 0;
			entries.push((path, Kind::File(if executable { 0o755 } else { 0o644 })));
		} else if kind.is_symlink() {
			entries.push((path, Kind::Symlink));
		}
	}
	Ok(())
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

fn append_file(
	builder: &mut tar::Builder<Vec<u8>>,
	name: &str,
	mode: u32,
	data: &[u8],
) -> io::Result<()> {
	let mut header = header(EntryType::Regular, mode, data.len() as u64);
	builder.append_data(&mut header, name, data)
}

fn append_dir(builder: &mut tar::Builder<Vec<u8>>, name: &str) -> io::Result<()> {
	let mut header = header(EntryType::Directory, 0o755, 0);
	builder.append_data(&mut header, name, io::empty())
}

/// Total size of the regular files under `dir`, in bytes: what the job stored.
pub fn stored_bytes(dir: &Path) -> io::Result<u64> {
	let mut total = 0;
	for entry in std::fs::read_dir(dir)? {
		let entry = entry?;
		let kind = entry.file_type()?;
		if kind.is_dir() {
			total += stored_bytes(&entry.path())?;
		} else if kind.is_file() {
			total += entry.metadata()?.len();
		}
	}
	Ok(total)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn tree(root: &Path, files: &[(&str, &[u8])]) {
		for (name, data) in files {
			let path = root.join(name);
			std::fs::create_dir_all(path.parent().unwrap()).unwrap();
			std::fs::write(path, data).unwrap();
		}
	}

	#[test]
	fn same_content_written_in_another_order_and_time_gives_the_same_archive() {
		let base = std::env::temp_dir().join(format!("modicum-archive-{}", std::process::id()));
		let (a, b) = (base.join("a"), base.join("b"));
		tree(&a, &[("z.txt", b"last"), ("dir/x", b"1"), ("a.txt", b"first")]);
		tree(&b, &[("a.txt", b"first"), ("dir/x", b"1"), ("z.txt", b"last")]);
		std::fs::set_permissions(b.join("a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
		let first = canonical_tar(&a, b"out", b"err").unwrap();
		let second = canonical_tar(&b, b"out", b"err").unwrap();
		assert_eq!(first, second);
		assert_eq!(stored_bytes(&a).unwrap(), 10);

		let names: Vec<String> = tar::Archive::new(&first[..])
			.entries()
			.unwrap()
			.map(|e| e.unwrap().path().unwrap().display().to_string())
			.collect();
		assert_eq!(
			names,
			["stdout", "stderr", "out/", "out/a.txt", "out/dir/", "out/dir/x", "out/z.txt"]
		);

		std::fs::write(b.join("dir/x"), b"2").unwrap();
		assert_ne!(
			first,
			canonical_tar(&b, b"out", b"err").unwrap(),
			"content changes the archive"
		);
		std::fs::remove_dir_all(base).unwrap();
	}
}
