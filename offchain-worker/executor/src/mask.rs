//! What a job reads of the machine under it. `/proc` and `/sys` describe the host — its CPUs,
//! memory, uptime and load — and would make honest runs on different hosts differ, so every run
//! lays files of its own, read-only, over those paths. Their content comes from the match's
//! terms (the job's cores, its container's memory limit) and fixed values alone
//! (docs/protocol.md, "Jobs and their runs").

/// A file a job reads in place of the host's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Masked {
	/// Where the job sees it.
	pub(crate) path: &'static str,
	/// Its name in the run's directory.
	pub(crate) name: &'static str,
	/// What it holds.
	pub(crate) content: String,
}

/// Lines of `/proc/meminfo` that hold 0: no buffers, caches, swap or kernel memory to see.
const ZERO_MEMINFO: [&str; 19] = [
	"Buffers",
	"Cached",
	"SwapCached",
	"Active",
	"Inactive",
	"SwapTotal",
	"SwapFree",
	"Dirty",
	"Writeback",
	"AnonPages",
	"Mapped",
	"Shmem",
	"Slab",
	"SReclaimable",
	"SUnreclaim",
	"KernelStack",
	"PageTables",
	"CommitLimit",
	"Committed_AS",
];

/// The ten counters of a `/proc/stat` cpu line (user … guest_nice), never counted.
const ZERO_TIMES: &str = "0 0 0 0 0 0 0 0 0 0";

/// The files of a job given `cores` cores and a container memory limit of `memory` bytes.
pub(crate) fn files(cores: usize, memory: u64) -> [Masked; 6] {
	// Every job runs on one core at least (its quota is never 0).
	let cores = cores.max(1);
	[
		Masked { path: "/proc/cpuinfo", name: "cpuinfo", content: cpuinfo(cores) },
		Masked { path: "/proc/meminfo", name: "meminfo", content: meminfo(memory) },
		Masked { path: "/proc/stat", name: "stat", content: stat(cores) },
		Masked { path: "/proc/uptime", name: "uptime", content: "0.00 0.00\n".into() },
		Masked { path: "/proc/loadavg", name: "loadavg", content: "0.00 0.00 0.00 1/1 1\n".into() },
		Masked { path: "/sys/devices/system/cpu/online", name: "cpu-online", content: online(cores) },
	]
}

/// One entry per core, each the same virtual CPU: no vendor, model, speed or flag of the host.
fn cpuinfo(cores: usize) -> String {
	(0..cores)
		.map(|n| {
			format!(
				"processor\t: {n}\n\
				 vendor_id\t: Modicum\n\
				 cpu family\t: 0\n\
				 model\t\t: 0\n\
				 model name\t: Modicum virtual CPU\n\
				 stepping\t: 0\n\
				 cpu MHz\t\t: 1000.000\n\
				 cache size\t: 0 KB\n\
				 physical id\t: 0\n\
				 siblings\t: {cores}\n\
				 core id\t\t: {n}\n\
				 cpu cores\t: {cores}\n\
				 flags\t\t:\n\
				 bogomips\t: 2000.00\n\n"
			)
		})
		.collect()
}

/// The container's memory limit as all the memory there is, all of it free; in the kernel's
/// layout (`Name:` padded to 16, the value to 8, then ` kB`).
fn meminfo(memory: u64) -> String {
	let line = |name: &str, kib: u64| {
		let label = format!("{name}:");
		format!("{label:<16}{kib:>8} kB\n")
	};
	let total = memory / 1024;
	["MemTotal", "MemFree", "MemAvailable"]
		.into_iter()
		.map(|name| line(name, total))
		.chain(ZERO_MEMINFO.into_iter().map(|name| line(name, 0)))
		.collect()
}

/// An aggregate and one line per core, nothing ever counted, the boot at the epoch.
fn stat(cores: usize) -> String {
	let per_core: String = (0..cores).map(|n| format!("cpu{n} {ZERO_TIMES}\n")).collect();
	format!(
		"cpu  {ZERO_TIMES}\n{per_core}\
		 intr 0\nctxt 0\nbtime 0\nprocesses 0\nprocs_running 1\nprocs_blocked 0\n"
	)
}

/// The cores online, numbered from 0 whichever host cores the run is pinned to.
fn online(cores: usize) -> String {
	match cores {
		1 => "0\n".into(),
		n => format!("0-{}\n", n - 1),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	const MIB: u64 = 1 << 20;

	/// 64 MiB of memory, 8 of storage and the 64 KiB overshoot: 73 792 KiB.
	const MEMORY: u64 = 72 * MIB + (64 << 10);

	fn content<'a>(masked: &'a [Masked; 6], path: &str) -> &'a str {
		&masked.iter().find(|f| f.path == path).unwrap().content
	}

	#[test]
	fn the_same_terms_give_the_same_bytes() {
		assert_eq!(files(2, MEMORY), files(2, MEMORY));
		let paths: Vec<_> = files(1, MEMORY).iter().map(|f| f.path).collect();
		let expected = [
			"/proc/cpuinfo",
			"/proc/meminfo",
			"/proc/stat",
			"/proc/uptime",
			"/proc/loadavg",
			"/sys/devices/system/cpu/online",
		];
		assert_eq!(paths, expected);
		let names: std::collections::BTreeSet<_> = files(1, MEMORY).iter().map(|f| f.name).collect();
		assert_eq!(names.len(), 6, "each file has a name of its own in the run's directory");
	}

	#[test]
	fn the_core_count_follows_the_job() {
		for cores in [1, 3] {
			let masked = files(cores, MEMORY);
			let cpuinfo = content(&masked, "/proc/cpuinfo");
			assert_eq!(cpuinfo.matches("processor\t: ").count(), cores);
			assert_eq!(cpuinfo.matches("model name\t: Modicum virtual CPU\n").count(), cores);
			assert!(cpuinfo.contains(&format!("cpu cores\t: {cores}\n")));
			let stat = content(&masked, "/proc/stat");
			assert!(stat.contains(&format!("cpu{} 0", cores - 1)) && !stat.contains(&format!("cpu{cores} ")));
		}
		assert_eq!(content(&files(1, MEMORY), "/sys/devices/system/cpu/online"), "0\n");
		assert_eq!(content(&files(3, MEMORY), "/sys/devices/system/cpu/online"), "0-2\n");
		assert_eq!(files(0, MEMORY), files(1, MEMORY), "no job has fewer than one core");
	}

	#[test]
	fn the_files_read_as_the_kernel_writes_them() {
		let masked = files(2, MEMORY);
		let meminfo = content(&masked, "/proc/meminfo");
		assert!(meminfo.starts_with(
			"MemTotal:          73792 kB\nMemFree:           73792 kB\nMemAvailable:      73792 kB\nBuffers:               0 kB\n"
		));
		assert_eq!(meminfo.lines().count(), 22);
		assert_eq!(
			content(&masked, "/proc/stat"),
			"cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n\
			 intr 0\nctxt 0\nbtime 0\nprocesses 0\nprocs_running 1\nprocs_blocked 0\n"
		);
		assert_eq!(content(&masked, "/proc/uptime"), "0.00 0.00\n");
		assert_eq!(content(&masked, "/proc/loadavg"), "0.00 0.00 0.00 1/1 1\n");
		assert!(content(&masked, "/proc/cpuinfo").starts_with("processor\t: 0\nvendor_id\t: Modicum\n"));
	}

	#[test]
	fn nothing_of_the_host_shows() {
		let all: String = files(1, MEMORY).iter().map(|f| f.content.as_str()).collect();
		let host = |path: &str, field: &str| -> Option<String> {
			let text = std::fs::read_to_string(path).ok()?;
			let line = text.lines().find(|line| line.starts_with(field))?;
			Some(line.split_once(':')?.1.trim().trim_end_matches(" kB").to_string())
		};
		if let Some(total) = host("/proc/meminfo", "MemTotal:") {
			assert!(!all.contains(&total), "the host's MemTotal {total} shows");
		}
		if let Some(model) = host("/proc/cpuinfo", "model name") {
			assert!(!all.contains(&model), "the host's CPU model {model} shows");
		}
		if let Some(vendor) = host("/proc/cpuinfo", "vendor_id") {
			assert!(!all.contains(&vendor), "the host's CPU vendor {vendor} shows");
		}
	}
}
