//! A cgroup (v1) of a run's own, the parent of its container's: it keeps the CPU time and peak
//! memory after the container exits and Docker removes the container's cgroup.

use super::ExecutorError;
use std::{io, path::PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The controllers a run is metered in.
const CONTROLLERS: [&str; 3] = ["cpuacct", "memory", "pids"];

/// A run's cgroup in each metered controller, under `modicum/`.
pub struct RunCgroup {
	pub(super) name: String,
}

impl RunCgroup {
	/// Whether this machine has the cgroup v1 controllers the executor meters with.
	pub fn check_host() -> Result<(), ExecutorError> {
		for controller in CONTROLLERS {
			let path = PathBuf::from(ROOT).join(controller);
			if !path.join("cgroup.procs").exists() {
				return Err(ExecutorError::Host {
					what: "cgroups",
					source: io::Error::other(format!(
						"cgroup v1 controller `{controller}` is not mounted at {}; the executor meters jobs with cgroup v1",
						path.display()
					)),
				});
			}
		}
		Ok(())
	}

	/// Runs of `prefix` whose cgroups are still there, by the rest of their name.
	pub fn leftovers(prefix: &str) -> Vec<String> {
		let parent = PathBuf::from(ROOT).join(CONTROLLERS[0]).join("modicum");
		let Ok(dirs) = std::fs::read_dir(parent) else { return Vec::new() };
		dirs.flatten()
			.filter_map(|dir| dir.file_name().to_str()?.strip_prefix(prefix).map(String::from))
			.collect()
	}

	/// Creates (or empties, after a crash) the cgroup `modicum/<name>`.
	pub fn create(name: &str) -> io::Result<Self> {
		let cgroup = Self { name: name.into() };
		cgroup.remove();
		for controller in CONTROLLERS {
			std::fs::create_dir_all(cgroup.path(controller))?;
		}
		Ok(cgroup)
	}

	/// The path Docker's `cgroup_parent` takes.
	pub fn parent(&self) -> String {
		format!("/modicum/{}", self.name)
	}

	fn path(&self, controller: &str) -> PathBuf {
		PathBuf::from(ROOT).join(controller).join("modicum").join(&self.name)
	}

	fn read(&self, controller: &str, file: &str) -> io::Result<u64> {
		let text = std::fs::read_to_string(self.path(controller).join(file))?;
		text.trim()
			.parse()
			.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: {e}")))
	}

	/// CPU time (user + system) of everything that ran in the cgroup, in ms, rounded up.
	pub fn cpu_ms(&self) -> io::Result<u64> {
		Ok(self.read("cpuacct", "cpuacct.usage")?.div_ceil(1_000_000))
	}

	/// Peak memory of everything that ran in the cgroup, in bytes.
	pub fn peak_memory(&self) -> io::Result<u64> {
		self.read("memory", "memory.max_usage_in_bytes")
	}

	/// Removes the cgroup and the container cgroups left below it, in every controller (Docker
	/// makes the run's parent in all of them).
	pub fn remove(&self) {
		let Ok(controllers) = std::fs::read_dir(ROOT) else { return };
		for controller in controllers.flatten() {
			let path = controller.path().join("modicum").join(&self.name);
			if let Ok(children) = std::fs::read_dir(&path) {
				for child in children.flatten() {
					if child.path().is_dir() {
						let _ = std::fs::remove_dir(child.path());
					}
				}
			}
			let _ = std::fs::remove_dir(&path);
		}
	}
}
