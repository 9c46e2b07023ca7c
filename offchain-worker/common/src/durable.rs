//! Files that survive a crash whole: journals, retention schedules.

use std::{io::Write, path::Path};

/// Writes `bytes` to `path` through a synced temporary file beside it, then syncs the folder:
/// a crash leaves the old content or the new, never a torn one, and a written file stays.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
	let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
	let dir = dir.unwrap_or(Path::new("."));
	let temporary = dir.join(format!(".{}", path.file_name().unwrap_or_default().to_string_lossy()));
	let mut file = std::fs::File::create(&temporary)?;
	file.write_all(bytes)?;
	file.sync_all()?;
	std::fs::rename(temporary, path)?;
	std::fs::File::open(dir)?.sync_all()
}
