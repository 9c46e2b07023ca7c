//! The host's side of a run: its tmpfs, mounted and unmounted with the host's own tools, and
//! the files that stand in for the host's in the job's `/proc` and `/sys`.

use super::{
	archive, host, mask::Masked, ExecutorError, DOCKER_TIMEOUT, MAX_ENTRIES, STORAGE_OVERSHOOT,
};
use std::{
	os::unix::fs::PermissionsExt,
	path::{Path, PathBuf},
};

/// Mounts the run's tmpfs at `<run_dir>/fs`, the size of the storage limit and with at most
/// [`MAX_ENTRIES`] inodes, holding the job's `/out` and `/tmp`: the kernel bounds what a job
/// can store, and both are still there to measure after the container exits.
pub(crate) async fn mount_run_fs(run_dir: &Path, bytes: u64) -> Result<(PathBuf, PathBuf), ExecutorError> {
	let fs = run_dir.join("fs");
	std::fs::create_dir_all(&fs).map_err(host("run directory"))?;
	// Each entry counts 4 KiB of storage: one inode more than fit (besides the root, out and
	// tmp) takes the count past the limit.
	// On top, the job's view of the host (`write_view`): a folder and its files.
	let inodes = (bytes / archive::ENTRY_BYTES).min(MAX_ENTRIES) + 4 + VIEW_INODES;
	let size = bytes + STORAGE_OVERSHOOT + VIEW_BYTES;
	let options = format!("size={size},nr_inodes={inodes},mode=0755,nosuid,nodev,noexec");
	run_command(
		"mount",
		&["-t".as_ref(), "tmpfs".as_ref(), "-o".as_ref(), options.as_ref(), "tmpfs".as_ref(), fs.as_os_str()],
	)
	.await?;
	let (out, tmp) = (fs.join("out"), fs.join("tmp"));
	for (dir, mode) in [(&out, 0o777), (&tmp, 0o1777)] {
		std::fs::create_dir(dir).map_err(host("run directory"))?;
		std::fs::set_permissions(dir, PermissionsExt::from_mode(mode))
			.map_err(host("run directory"))?;
	}
	Ok((out, tmp))
}

/// Inodes and bytes the run's file system keeps for the job's view of the host: a folder, its
/// six files, and room for a `/proc/cpuinfo` of many cores.
const VIEW_INODES: u64 = 8;
const VIEW_BYTES: u64 = 256 << 10;

/// Writes `files` into the run's file system (`fs/view`, gone with it), and gives the binds that
/// lay each read-only over the path the job reads. In the run's own tmpfs, the job's
/// `/proc/self/mountinfo` shows them as `/view/…` of a tmpfs on every host and in every role,
/// never this host's work directory or the run's name.
pub(crate) fn write_view(run_dir: &Path, files: &[Masked]) -> Result<Vec<String>, ExecutorError> {
	let view = run_dir.join("fs").join("view");
	std::fs::create_dir_all(&view).map_err(host("run directory"))?;
	std::fs::set_permissions(&view, PermissionsExt::from_mode(0o755))
		.map_err(host("run directory"))?;
	files
		.iter()
		.map(|file| -> Result<String, ExecutorError> {
			let path = view.join(file.name);
			std::fs::write(&path, &file.content).map_err(host("the job's view of the host"))?;
			// Whatever this process's umask: the job reads them as `nobody`.
			std::fs::set_permissions(&path, PermissionsExt::from_mode(0o444))
				.map_err(host("the job's view of the host"))?;
			Ok(format!("{}:{}:ro", path.display(), file.path))
		})
		.collect()
}

pub(crate) async fn run_command(program: &'static str, args: &[&std::ffi::OsStr]) -> Result<(), ExecutorError> {
	let output = tokio::time::timeout(
		DOCKER_TIMEOUT,
		tokio::process::Command::new(program).args(args).kill_on_drop(true).output(),
	)
	.await
	.map_err(|_| ExecutorError::Host { what: program, source: std::io::ErrorKind::TimedOut.into() })?
	.map_err(host(program))?;
	if !output.status.success() {
		let message = String::from_utf8_lossy(&output.stderr).trim().to_string();
		return Err(ExecutorError::Host { what: program, source: std::io::Error::other(message) });
	}
	Ok(())
}

pub(crate) fn is_mount_point(path: &Path) -> bool {
	let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return false };
	let wanted = path.display().to_string();
	mounts.lines().any(|line| line.split(' ').nth(1) == Some(wanted.as_str()))
}

