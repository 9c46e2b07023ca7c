//! Metering noise (docs/performance.md): how much the CPU time the executor measures for the
//! same job varies from run to run, alone and beside a busy neighbour, and the TooMuchCost
//! tolerance and floor that cover it. Needs Docker and a registry with the jobs:
//! `scripts/metering.sh` sets them up and runs this (`--quick` for a short pass).

use modicum_common::digest::Sha256;
use modicum_executor::{Executor, Job};
use pallet_market::{Architecture, Resources, ResultStatus};
use std::{process::Command, time::Duration};

/// The margin the defaults add over the largest measured spread.
const MARGIN: f64 = 1.5;

struct Series {
	job: String,
	neighbour: bool,
	cpu_ms: Vec<u64>,
}

fn env(name: &str) -> String {
	std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/metering.sh"))
}

/// A busy neighbour: one CPU-bound process per core, outside any job.
struct Neighbour(Vec<std::process::Child>);

impl Neighbour {
	fn start() -> Self {
		let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
		Self(
			(0..cores)
				.map(|_| Command::new("sha256sum").arg("/dev/zero").spawn().expect("sha256sum"))
				.collect(),
		)
	}
}

impl Drop for Neighbour {
	fn drop(&mut self) {
		for child in &mut self.0 {
			let _ = child.kill();
			let _ = child.wait();
		}
	}
}

#[tokio::main]
async fn main() {
	let registry = env("MODICUM_METERING_REGISTRY");
	let base = env("MODICUM_METERING_BASE").parse::<Sha256>().expect("base layer digest");
	let quick = env("MODICUM_METERING_QUICK") == "1";
	let work = std::env::temp_dir().join(format!("modicum-metering-{}", std::process::id()));
	let executor = Executor::connect(work.join("runs"), &format!("metering-{}", std::process::id()))
		.await
		.expect("Docker and cgroups");
	let (_cancel, cancelled) = tokio::sync::watch::channel(false);
	let mut all = Vec::new();
	for entry in env("MODICUM_METERING_JOBS").split_whitespace() {
		let (name, digest) = entry.split_once('=').expect("job=digest");
		let seconds: u64 = name.rsplit('-').next().and_then(|s| s.parse().ok()).expect("job-seconds");
		let runs = match (quick, seconds) {
			(true, 60) => continue,
			(true, _) => 5,
			(false, 1) => 30,
			(false, 10) => 10,
			(false, _) => 3,
		};
		for neighbour in [false, true] {
			let _busy = neighbour.then(Neighbour::start);
			let mut series = Series { job: name.into(), neighbour, cpu_ms: Vec::new() };
			for k in 0..runs {
				let job = Job {
					run_id: format!("{name}-{k}"),
					endpoint: registry.clone(),
					repository: format!("metering/{name}"),
					digest: digest.parse::<Sha256>().expect("digest").0,
					base_layer: base.0,
					architecture: Architecture::Amd64,
					limits: Resources {
						cpu: seconds * 4_000,
						memory: 256,
						storage: 16,
						bandwidth: 65_536,
					},
					cpu_rate: 1.0,
					cores: 1,
					wall_limit: Duration::from_secs(seconds * 8 + 30),
					fetch_limit: Duration::from_secs(60),
				};
				let archive = work.join("archive.tar");
				let execution =
					executor.execute(&job, &archive, cancelled.clone()).await.expect("the run");
				assert_eq!(execution.status, ResultStatus::Completed, "{name}: {execution:?}");
				series.cpu_ms.push(execution.usage.cpu);
			}
			report(&series);
			all.push(series);
		}
	}
	let _ = std::fs::remove_dir_all(&work);
	defaults(&all);
}

fn report(series: &Series) {
	let (min, max) = (series.cpu_ms.iter().min().unwrap(), series.cpu_ms.iter().max().unwrap());
	let mean = series.cpu_ms.iter().sum::<u64>() as f64 / series.cpu_ms.len() as f64;
	println!(
		"metering: {:<7} {:<10} {:>2} runs  cpu ms min {:>6} mean {:>8.0} max {:>6}  max/min {:.3}  max-min {:>4}",
		series.job,
		if series.neighbour { "neighbour" } else { "alone" },
		series.cpu_ms.len(),
		min,
		mean,
		max,
		*max as f64 / *min as f64,
		max - min,
	);
}

/// The tolerance covers the relative spread of jobs of 10 s and more, the floor the absolute
/// spread of the short ones, each times [`MARGIN`]; then every pair of runs is checked: an
/// honest claim (the largest run) never exceeds the bound over the smallest single measurement.
fn defaults(all: &[Series]) {
	let spread = |s: &Series| {
		let (min, max) = (*s.cpu_ms.iter().min().unwrap(), *s.cpu_ms.iter().max().unwrap());
		(max as f64 / min as f64 - 1.0, max - min, min, max)
	};
	let long = all.iter().filter(|s| !s.job.ends_with("-1"));
	let ratio = long.map(|s| spread(s).0).fold(0.0, f64::max);
	let short = all.iter().filter(|s| s.job.ends_with("-1"));
	let absolute = short.map(|s| spread(s).1).max().unwrap_or(0);
	let tolerance_percent = (ratio * MARGIN * 100.0).ceil() as u64;
	let floor = ((absolute as f64) * MARGIN).ceil() as u64;
	println!("metering: largest relative spread (jobs >= 10 s) {:.1} %, largest absolute spread (1 s jobs) {absolute} ms", ratio * 100.0);
	println!("metering: defaults with margin {MARGIN}: TooMuchCostTolerance {tolerance_percent} %, TooMuchCostFloor {floor} ms");
	for s in all {
		let (_, _, min, max) = spread(s);
		let allowed = min + min * tolerance_percent / 100 + floor;
		assert!(max <= allowed, "{} ({}): honest {max} ms exceeds {allowed} ms", s.job, s.neighbour);
		println!(
			"metering: {:<7} {:<10} honest claim {max} <= {allowed} allowed over the smallest run; headroom over the largest run {} ms ({:.1} %)",
			s.job,
			if s.neighbour { "neighbour" } else { "alone" },
			max + max * tolerance_percent / 100 + floor - max,
			((max * tolerance_percent / 100 + floor) as f64 / max as f64) * 100.0,
		);
	}
}
