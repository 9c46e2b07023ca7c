//! A cgroup of a run's own, the parent of its container's: it keeps the CPU time, peak memory
//! and OOM kills after the container exits and Docker removes the container's cgroup.
//!
//! One interface over the hosts Docker runs on:
//! - cgroup v1 with Docker's `cgroupfs` driver: `modicum/<name>` in the `cpuacct`, `memory` and
//!   `pids` hierarchies;
//! - cgroup v2 (the unified hierarchy of every current distribution) with the `systemd` driver:
//!   a slice `modicum-<name>.slice` under `modicum.slice`, started and stopped through systemd,
//!   which owns the tree;
//! - cgroup v2 with the `cgroupfs` driver: `modicum/<name>` with the controllers delegated to it.
//!
//! Linux ≥ 5.4 for v2 (the cpuset controller); `memory.peak` exists from 5.19, and older kernels
//! (Ubuntu 22.04's 5.15) are metered by the watchdog's samples of `memory.current`, with a run
//! that reached its limit counted at the limit.

use super::ExecutorError;
use std::{
	io,
	path::{Path, PathBuf},
	sync::atomic::{AtomicU64, Ordering},
	time::Duration,
};

const ROOT: &str = "/sys/fs/cgroup";

/// `statfs` magic of a cgroup v2 mount (`CGROUP2_SUPER_MAGIC`).
const CGROUP2_MAGIC: i64 = 0x6367_7270;

/// The v1 hierarchies a run is metered in.
const V1_CONTROLLERS: [&str; 3] = ["cpuacct", "memory", "pids"];

/// The v2 controllers a run and its container need: Docker sets the container's quota, cores,
/// memory and process limits through them.
const V2_CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

/// How long a `systemctl` call may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(30);

/// Which cgroup tree the host has and who manages the containers' cgroups in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
	/// cgroup v1, Docker's `cgroupfs` driver.
	V1,
	/// cgroup v2, Docker's `cgroupfs` driver.
	V2Cgroupfs,
	/// cgroup v2, Docker's `systemd` driver.
	V2Systemd,
}

impl Layout {
	/// The layout of this host as Docker reports its cgroup driver and version, checked against
	/// what is mounted; an error says what the operator can change.
	pub async fn detect(driver: &str, version: &str) -> Result<Self, ExecutorError> {
		let refuse = |message: String| ExecutorError::Host { what: "cgroups", source: io::Error::other(message) };
		let unified = rustix::fs::statfs(ROOT)
			.map(|fs| fs.f_type as i64 == CGROUP2_MAGIC)
			.map_err(|e| refuse(format!("{ROOT} cannot be read: {e}")))?;
		let layout = match (unified, driver) {
			(false, "cgroupfs") => Self::V1,
			(false, other) => {
				return Err(refuse(format!(
					"Docker uses the `{other}` cgroup driver on a cgroup v1 host; the executor meters \
					 v1 hosts with the `cgroupfs` driver: set `\"exec-opts\": [\"native.cgroupdriver=cgroupfs\"]` \
					 in /etc/docker/daemon.json, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
				)))
			}
			(true, "systemd") => Self::V2Systemd,
			(true, "cgroupfs") => Self::V2Cgroupfs,
			(true, other) => return Err(refuse(format!("Docker's cgroup driver `{other}` is not supported (cgroupfs, systemd)"))),
		};
		// Docker in another cgroup namespace than this process would see another tree.
		let docker_unified = version == "2";
		if docker_unified != unified {
			return Err(refuse(format!(
				"Docker reports cgroup v{version} but {ROOT} is cgroup v{}: run the node where Docker runs",
				if unified { 2 } else { 1 }
			)));
		}
		layout.check().await?;
		Ok(layout)
	}

	/// Whether the host gives this process what the layout needs.
	async fn check(self) -> Result<(), ExecutorError> {
		let refuse = |message: String| ExecutorError::Host { what: "cgroups", source: io::Error::other(message) };
		match self {
			Self::V1 => {
				for controller in V1_CONTROLLERS {
					let path = Path::new(ROOT).join(controller);
					if !path.join("cgroup.procs").exists() {
						return Err(refuse(format!(
							"cgroup v1 controller `{controller}` is not mounted at {}",
							path.display()
						)));
					}
				}
			}
			Self::V2Cgroupfs | Self::V2Systemd => {
				let available = std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
					.map_err(|e| refuse(format!("{ROOT}/cgroup.controllers: {e}")))?;
				let missing: Vec<&str> = V2_CONTROLLERS
					.into_iter()
					.filter(|c| !available.split_whitespace().any(|a| a == *c))
					.collect();
				if !missing.is_empty() {
					return Err(refuse(format!(
						"the cgroup v2 root lacks the controllers {missing:?} (it has `{}`): Linux ≥ 5.4 \
						 with them enabled is needed to bound jobs",
						available.trim()
					)));
				}
				if self == Self::V2Systemd {
					systemctl(&["--version"]).await.map_err(|e| refuse(format!("systemctl: {e}")))?;
				} else {
					// Controllers the kernel has must reach our subtree from the root.
					enable_controllers(Path::new(ROOT)).map_err(|e| {
						refuse(format!(
							"cannot delegate {V2_CONTROLLERS:?} below {ROOT} ({e}); is this process in a \
							 cgroup namespace of its own?"
						))
					})?;
				}
			}
		}
		Ok(())
	}

	/// A run's cgroup, relative to a hierarchy's root.
	fn relative(self, name: &str) -> PathBuf {
		match self {
			Self::V1 | Self::V2Cgroupfs => Path::new("modicum").join(name),
			Self::V2Systemd => Path::new("modicum.slice").join(slice(name)),
		}
	}

	/// Where a run's cgroup is in each hierarchy.
	fn dirs(self, name: &str) -> Vec<PathBuf> {
		match self {
			Self::V1 => V1_CONTROLLERS.iter().map(|c| Path::new(ROOT).join(c).join(self.relative(name))).collect(),
			Self::V2Cgroupfs | Self::V2Systemd => vec![Path::new(ROOT).join(self.relative(name))],
		}
	}

	/// Where a counter lives: the v1 hierarchy that has it, or the unified tree.
	fn dir(self, name: &str, v1_controller: &str) -> PathBuf {
		match self {
			Self::V1 => Path::new(ROOT).join(v1_controller).join(self.relative(name)),
			Self::V2Cgroupfs | Self::V2Systemd => Path::new(ROOT).join(self.relative(name)),
		}
	}

	/// Runs of `prefix` whose cgroups are still there, by the rest of their name.
	pub fn leftovers(self, prefix: &str) -> Vec<String> {
		let (parent, unit) = match self {
			Self::V1 => (Path::new(ROOT).join(V1_CONTROLLERS[0]).join("modicum"), false),
			Self::V2Cgroupfs => (Path::new(ROOT).join("modicum"), false),
			Self::V2Systemd => (Path::new(ROOT).join("modicum.slice"), true),
		};
		let Ok(dirs) = std::fs::read_dir(parent) else { return Vec::new() };
		dirs.flatten()
			.filter_map(|dir| {
				let file = dir.file_name();
				let file = file.to_str()?;
				let name = if unit { unslice(file)? } else { file.to_string() };
				name.strip_prefix(prefix).map(String::from)
			})
			.collect()
	}
}

/// The slice of run `name`: systemd reads `-` as a level of the tree, so run names (letters,
/// digits and dashes) keep their dashes as `_`.
fn slice(name: &str) -> String {
	format!("modicum-{}.slice", name.replace('-', "_"))
}

fn unslice(unit: &str) -> Option<String> {
	Some(unit.strip_prefix("modicum-")?.strip_suffix(".slice")?.replace('_', "-"))
}

/// Lets `dir`'s children use the controllers a run needs.
fn enable_controllers(dir: &Path) -> io::Result<()> {
	let wanted: Vec<String> = V2_CONTROLLERS.iter().map(|c| format!("+{c}")).collect();
	std::fs::write(dir.join("cgroup.subtree_control"), wanted.join(" "))
}

async fn systemctl(args: &[&str]) -> io::Result<()> {
	let run = tokio::process::Command::new("systemctl").args(args).kill_on_drop(true).output();
	let output = tokio::time::timeout(SYSTEMCTL_TIMEOUT, run)
		.await
		.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("systemctl {}", args.join(" "))))??;
	if output.status.success() {
		return Ok(());
	}
	let message = String::from_utf8_lossy(&output.stderr);
	Err(io::Error::other(format!("systemctl {}: {}", args.join(" "), message.trim())))
}

/// A run's cgroup.
pub struct RunCgroup {
	layout: Layout,
	name: String,
	/// The highest `memory.current` the watchdog saw, where the kernel keeps no peak.
	sampled_peak: AtomicU64,
}

impl RunCgroup {
	/// Creates (or empties, after a crash) the cgroup of run `name`.
	pub async fn create(layout: Layout, name: &str) -> io::Result<Self> {
		let cgroup = Self::existing(layout, name);
		cgroup.remove().await;
		match layout {
			Layout::V1 => {
				for dir in layout.dirs(name) {
					std::fs::create_dir_all(dir)?;
				}
			}
			Layout::V2Cgroupfs => {
				let parent = Path::new(ROOT).join("modicum");
				std::fs::create_dir_all(&parent)?;
				enable_controllers(&parent)?;
				let own = Path::new(ROOT).join(layout.relative(name));
				std::fs::create_dir(&own)?;
				enable_controllers(&own)?;
			}
			// systemd makes the slice and its parents, with the controllers its units ask for.
			Layout::V2Systemd => systemctl(&["start", &slice(name)]).await?,
		}
		Ok(cgroup)
	}

	fn existing(layout: Layout, name: &str) -> Self {
		Self { layout, name: name.into(), sampled_peak: AtomicU64::new(0) }
	}

	/// What Docker's `cgroup_parent` takes.
	pub fn parent(&self) -> String {
		match self.layout {
			Layout::V1 | Layout::V2Cgroupfs => format!("/modicum/{}", self.name),
			Layout::V2Systemd => slice(&self.name),
		}
	}

	fn read(&self, v1_controller: &str, file: &str) -> io::Result<String> {
		std::fs::read_to_string(self.layout.dir(&self.name, v1_controller).join(file))
	}

	/// `key value` lines (`cpu.stat`, `memory.events`): the value of `key`.
	fn keyed(&self, v1_controller: &str, file: &str, key: &str) -> io::Result<u64> {
		let text = self.read(v1_controller, file)?;
		text.lines()
			.find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
			.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: no `{key}`")))
	}

	fn number(&self, v1_controller: &str, file: &str) -> io::Result<u64> {
		self.read(v1_controller, file)?
			.trim()
			.parse()
			.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{file}: {e}")))
	}

	/// CPU time (user + system) of everything that ran in the cgroup, in ms, rounded up.
	pub fn cpu_ms(&self) -> io::Result<u64> {
		match self.layout {
			Layout::V1 => Ok(self.number("cpuacct", "cpuacct.usage")?.div_ceil(1_000_000)),
			_ => Ok(self.keyed("", "cpu.stat", "usage_usec")?.div_ceil(1_000)),
		}
	}

	/// Notes the memory in use now, for kernels that keep no peak; the watchdog calls it.
	pub fn sample_memory(&self) {
		if self.layout != Layout::V1 {
			if let Ok(current) = self.number("", "memory.current") {
				self.sampled_peak.fetch_max(current, Ordering::Relaxed);
			}
		}
	}

	/// Peak memory of everything that ran in the cgroup, in bytes; `limit` is the container's
	/// memory limit, what a run that reached it on a kernel without `memory.peak` counts.
	pub fn peak_memory(&self, limit: u64) -> io::Result<u64> {
		match self.layout {
			Layout::V1 => self.number("memory", "memory.max_usage_in_bytes"),
			_ => match self.number("", "memory.peak") {
				Ok(peak) => Ok(peak),
				Err(e) if e.kind() == io::ErrorKind::NotFound => {
					let reached = self.keyed("", "memory.events", "max")? > 0;
					Ok(if reached { limit } else { self.sampled_peak.load(Ordering::Relaxed) })
				}
				Err(e) => Err(e),
			},
		}
	}

	/// Whether the kernel's OOM killer killed anything in the cgroup (Docker's own flag misses
	/// kills of a job's child processes on some versions).
	pub fn oom_killed(&self) -> io::Result<bool> {
		let kills = match self.layout {
			Layout::V1 => self.keyed("memory", "memory.oom_control", "oom_kill"),
			_ => self.keyed("", "memory.events", "oom_kill"),
		};
		match kills {
			Ok(kills) => Ok(kills > 0),
			// Kernels before 4.13 count no kills in v1: Docker's flag alone decides there.
			Err(e) if e.kind() == io::ErrorKind::InvalidData && self.layout == Layout::V1 => Ok(false),
			Err(e) => Err(e),
		}
	}

	/// The cgroup of run `name` and the container cgroups left below it.
	pub async fn remove_named(layout: Layout, name: &str) {
		Self::existing(layout, name).remove().await
	}

	/// Removes the cgroup and the container cgroups left below it, in every hierarchy (Docker
	/// makes the run's parent in all of them on v1).
	pub async fn remove(&self) {
		if self.layout == Layout::V2Systemd {
			// systemd removes the slice's tree; a unit that is not loaded is already gone.
			let _ = systemctl(&["stop", &slice(&self.name)]).await;
			return;
		}
		let dirs = match self.layout {
			Layout::V1 => {
				let Ok(hierarchies) = std::fs::read_dir(ROOT) else { return };
				hierarchies.flatten().map(|h| h.path().join(self.layout.relative(&self.name))).collect()
			}
			_ => self.layout.dirs(&self.name),
		};
		for path in dirs {
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

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn run_names_survive_the_trip_through_a_systemd_slice() {
		let name = "modicum-1a2b3c4d-5e6f7a8b-provider-match-7-m1";
		let unit = slice(name);
		assert_eq!(unit, "modicum-modicum_1a2b3c4d_5e6f7a8b_provider_match_7_m1.slice");
		assert_eq!(unslice(&unit).as_deref(), Some(name));
		assert_eq!(Layout::V2Systemd.relative(name), Path::new("modicum.slice").join(&unit));
	}
}
