//! What this host has for jobs, as the provider divides it into slots and the mediator sizes
//! its largest run: cores, RAM and disk, and the cores a job's quota needs.

use modicum_runtime::MILLI_SECS_PER_BLOCK;
use std::path::Path;

const MIB: u64 = 1 << 20;

/// What the host has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
	/// The cores this process may run on.
	pub cores: Vec<usize>,
	/// RAM, MiB.
	pub memory: u64,
	/// Free disk of the work directory, MiB.
	pub disk: u64,
}

impl Host {
	/// Reads the host: cores from the process's affinity, RAM from /proc/meminfo, free disk
	/// where the work directory is.
	pub fn detect(cores: Vec<usize>, work_dir: &Path) -> std::io::Result<Self> {
		let meminfo = std::fs::read_to_string("/proc/meminfo")?;
		let memory_kib: u64 = meminfo
			.lines()
			.find_map(|line| line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse().ok())
			.ok_or_else(|| std::io::Error::other("no MemTotal in /proc/meminfo"))?;
		let fs = rustix::fs::statvfs(work_dir)?;
		Ok(Self { cores, memory: memory_kib / 1024, disk: fs.f_bavail.saturating_mul(fs.f_frsize) / MIB })
	}
}

/// Cores a job of up to `cpu` units needs at `reference_speed` units per block: the executor
/// gives a match's job a quota of at most one reference machine's rate.
pub fn cores_for(cpu: u64, reference_speed: u64) -> usize {
	cpu.min(reference_speed.max(1)).div_ceil(MILLI_SECS_PER_BLOCK).max(1) as usize
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_job_needs_the_cores_of_its_quota_at_the_reference_speed() {
		assert_eq!(cores_for(120_000, 2_000), 1, "one reference core whatever the cpu limit");
		assert_eq!(cores_for(500, 2_000), 1);
		assert_eq!(cores_for(120_000, 5_000), 3, "2.5 cores' rate needs three");
	}
}
