//! The executor: runs one job in Docker under the hardened profile, meters it in a cgroup of its
//! own, and turns every way a run can end into a result status, usage and canonical archive
//! (docs/protocol.md, "Jobs"). Providers, mediators and job-creator verifiers run jobs through the
//! same code with bounds taken from the match's terms alone, so honest runs on different hosts
//! agree, and a job reads the terms, not the host, in `/proc` and `/sys` (`mask`). What a run
//! creates (container, tmpfs, view of the host, cgroup, loaded image) is removed by a guard on
//! every path, and named after the chain, account and role so two chains or nodes sharing a
//! Docker engine never touch each other's runs.

pub mod archive;
mod cgroup;
mod cores;
mod guard;
mod host;
pub mod image;
mod load;
mod mask;
mod run;

use bollard::{
	container::LogOutput,
	models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits},
	query_parameters::{
		AttachContainerOptions, CreateContainerOptions, KillContainerOptions,
		ListContainersOptions, RemoveContainerOptions,
	},
	Docker,
};
use cgroup::{Layout, RunCgroup};
pub use cores::allowed_cores;
use cores::{CorePool, Cores};
use guard::RunGuard;
use host::{is_mount_point, mount_run_fs, run_command, write_view};
use run::memory_limit;
use futures::{Stream, StreamExt};
use image::Image;
use modicum_registry::Answer;
use modicum_runtime::{BlockNumber, Runtime, MILLI_SECS_PER_BLOCK};
use pallet_market::{Architecture, Digest, MatchOf, Resources, ResultStatus};
use std::{
	collections::{BTreeSet, HashMap},
	future::Future,
	path::{Path, PathBuf},
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};
use tokio::sync::watch;

/// Who runs the job inside the container: `nobody`, never root.
const JOB_USER: &str = "65534:65534";

/// The hostname every job sees, whatever host runs it.
const JOB_HOSTNAME: &str = "job";

/// The most processes a job may have; a fork bomb stops here.
const PIDS_LIMIT: i64 = 64;

/// The most files a job may hold open.
const NOFILE_LIMIT: i64 = 1024;

/// The most bytes of stdout and of stderr kept in the result archive (docs/protocol.md's `LogCap`).
pub const LOG_LIMIT: usize = 1 << 20;

/// The most entries a job may create under `/out` and `/tmp` together; the kernel refuses more.
pub const MAX_ENTRIES: u64 = 65_536;

/// How far the kernel lets a job's files go past its storage limit: reaching the kernel's
/// bound (tmpfs full, file-size limit, out of inodes) always means exceeding the limit, so the
/// status is `StorageExceeded` on every host, never a failure the job chose.
const STORAGE_OVERSHOOT: u64 = 64 << 10;

/// Docker's least memory limit for a container.
const DOCKER_MIN_MEMORY: u64 = 6 * MIB;

/// How long a Docker call other than an image load may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long loading an image into Docker may take.
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// How often the watchdog reads the cgroup's CPU time.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(50);

const MIB: u64 = 1 << 20;

/// A job to run: the match's terms as the executor needs them.
#[derive(Clone, Debug)]
pub struct Job {
	/// Names the container, cgroup and work directory (`match-7`, `match-7-m1`).
	pub run_id: String,
	/// The directory's registry URL.
	pub endpoint: String,
	/// Repository of the image.
	pub repository: String,
	/// Manifest digest of the image.
	pub digest: Digest,
	/// The base layer's uncompressed `diff_id`.
	pub base_layer: Digest,
	/// The image's architecture.
	pub architecture: Architecture,
	/// The job's limits.
	pub limits: Resources,
	/// CPUs the job may use at once.
	pub cpu_rate: f64,
	/// Cores the job sees (its CPU affinity and `/proc/cpuinfo`), whatever the host has.
	pub cores: usize,
	/// Wall time after which the job is killed.
	pub wall_limit: Duration,
	/// How long fetching its image may take, tries included: the match's fetch bound
	/// (⌈bandwidth / reference bandwidth⌉ + fetch grace blocks). A directory that has not served
	/// the image by then is unavailable to the run.
	pub fetch_limit: Duration,
}

impl Job {
	/// The job of a match, bounded by the match's terms alone (docs/protocol.md, "Result"): its CPU
	/// limit at the reference machine's rate (`ReferenceSpeed` per block) as the CPU quota, as
	/// many cores as that rate needs, and R blocks of wall time. Never the host's core count or
	/// the provider's speed: runs on any host end with the same status.
	pub fn for_match(
		run_id: String,
		terms: &MatchOf<Runtime>,
		endpoint: String,
		architecture: Architecture,
	) -> Self {
		let reference = u64::from(terms.parameters.reference_speed.max(1));
		// R was fixed from the same limits; a reference speed changed since cannot make the
		// quota slower than R allows.
		let cpu_blocks = terms
			.limits
			.cpu
			.div_ceil(reference)
			.clamp(1, u64::from(terms.run_length.max(1)));
		let cpu_rate = (terms.limits.cpu as f64
			/ (cpu_blocks.saturating_mul(MILLI_SECS_PER_BLOCK)) as f64)
			.max(0.01);
		Self {
			run_id,
			endpoint,
			repository: String::from_utf8_lossy(&terms.image.repository).into_owned(),
			digest: terms.image.digest,
			base_layer: terms.base_layer,
			architecture,
			limits: terms.limits,
			cpu_rate,
			cores: cpu_rate.ceil() as usize,
			// One block of grace for start-up: a job using its whole cpu limit at the quota's
			// rate ends by its cpu, never racing the wall time.
			wall_limit: Duration::from_millis(
				u64::from(terms.run_length.saturating_add(1)).saturating_mul(MILLI_SECS_PER_BLOCK),
			),
			fetch_limit: Duration::from_millis(
				u64::from(terms.parameters.fetch_bound(&terms.limits).unwrap_or(BlockNumber::MAX))
					.saturating_mul(MILLI_SECS_PER_BLOCK),
			),
		}
	}
}

/// The result archive of a run, written to the file the caller named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveFile {
	/// Where it is.
	pub path: PathBuf,
	/// Its size in bytes.
	pub size: u64,
	/// Its sha256: the result digest.
	pub digest: Digest,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Execution {
	/// The status to post.
	pub status: ResultStatus,
	/// What the run used.
	pub usage: Resources,
	/// The canonical result archive, when the container started.
	pub archive: Option<ArchiveFile>,
	/// Wall time of the container.
	pub wall: Duration,
}

impl Execution {
	/// A job decided before its container started: no usage, no archive.
	fn refused(status: ResultStatus) -> Self {
		debug_assert!(status.never_started(), "{status:?} is decided by a run");
		Self { status, usage: Resources::default(), archive: None, wall: Duration::ZERO }
	}
}

/// A failure of the executor's own machinery (Docker or the host), never of the job: the run
/// gives no result, and a provider or mediator tries again.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
	/// The Docker engine refused or failed a call.
	#[error("docker {call}: {message}")]
	Docker {
		/// The call.
		call: &'static str,
		/// Docker's answer.
		message: String,
	},
	/// A Docker call timed out.
	#[error("docker {0} timed out")]
	Timeout(&'static str),
	/// The image the executor checked could not be fetched as configured (this host's
	/// credentials or trusted CAs) or loaded into Docker.
	#[error("loading {reference}: {message}")]
	Load {
		/// The image.
		reference: String,
		/// Docker's answer.
		message: String,
	},
	/// The host refused a file, mount or cgroup operation (disk full, …).
	#[error("{what}: {source}")]
	Host {
		/// What was being done.
		what: &'static str,
		/// The cause.
		source: std::io::Error,
	},
	/// The job's memory and storage are beyond what this host can give.
	#[error("the job's memory and storage limits are beyond this host")]
	Capacity,
	/// The host cannot give the job the cores its terms need.
	#[error("the job needs {needed} cores and this executor may use {available}")]
	Cores {
		/// Cores the job's terms need.
		needed: usize,
		/// Cores this executor may use.
		available: usize,
	},
	/// The run was cancelled (its match closed or moved on).
	#[error("run cancelled")]
	Cancelled,
}

fn host(what: &'static str) -> impl FnOnce(std::io::Error) -> ExecutorError {
	move |source| ExecutorError::Host { what, source }
}

/// Runs one Docker call with a timeout.
async fn docker_call<T>(
	call: &'static str,
	limit: Duration,
	future: impl Future<Output = Result<T, bollard::errors::Error>>,
) -> Result<T, ExecutorError> {
	tokio::time::timeout(limit, future)
		.await
		.map_err(|_| ExecutorError::Timeout(call))?
		.map_err(|e| ExecutorError::Docker { call, message: e.to_string() })
}

/// Runs jobs in the local Docker engine.
#[derive(Clone)]
pub struct Executor {
	docker: Docker,
	work_dir: PathBuf,
	/// `modicum-<chain>-<account>-<role>`: prefixes every container and cgroup of this executor.
	prefix: String,
	/// Host cores this executor pins runs to, each run its own.
	cores: Arc<CorePool>,
	/// The host's cgroup tree and Docker's driver in it.
	layout: Layout,
	/// Images loaded for runs, with how many runs use each now.
	images: Arc<Mutex<HashMap<String, usize>>>,
	/// The CA and credentials of directories' registries, which images are fetched from.
	registries: modicum_registry::Registries,
	/// Held while an image is loaded or removed: a run's load never meets another's removal
	/// of the same image.
	image_turn: Arc<tokio::sync::Mutex<()>>,
}

impl Executor {
	/// Connects to the local engine, negotiating the API version (Docker 20.10 speaks 1.41),
	/// checks the host can meter runs in cgroups (v1 or v2, as its Docker uses them), and
	/// removes what an earlier process of this executor's namespace (`<chain>-<account>-<role>`)
	/// left behind.
	pub async fn connect(work_dir: PathBuf, namespace: &str) -> Result<Self, ExecutorError> {
		if !rustix::process::geteuid().is_root() {
			// Found now, not at the first job: a run that fails on the host ends in `Declined`.
			return Err(ExecutorError::Host {
				what: "privileges",
				source: std::io::Error::other("the executor runs as root: it mounts each run's tmpfs and makes its cgroup"),
			});
		}
		let docker = Docker::connect_with_unix_defaults()
			.map_err(|e| ExecutorError::Docker { call: "connect", message: e.to_string() })?;
		let docker =
			docker_call("version negotiation", DOCKER_TIMEOUT, docker.negotiate_version()).await?;
		let info = docker_call("info", DOCKER_TIMEOUT, docker.info()).await?;
		let driver = info.cgroup_driver.map(|d| d.to_string()).unwrap_or_else(|| "cgroupfs".into());
		let version = info.cgroup_version.map(|v| v.to_string()).unwrap_or_else(|| "1".into());
		let layout = Layout::detect(&driver, &version).await?;
		tracing::debug!(?layout, driver, version, "cgroups");
		std::fs::create_dir_all(&work_dir).map_err(host("work directory"))?;
		let cores = allowed_cores().map_err(host("CPU affinity"))?;
		let executor = Self {
			docker,
			work_dir,
			prefix: format!("modicum-{namespace}"),
			cores: CorePool::new(&cores),
			layout,
			images: Default::default(),
			image_turn: Default::default(),
			registries: Default::default(),
		};
		executor.clean_leftovers().await?;
		Ok(executor)
	}

	/// The same executor pinning jobs only to `cores` (a host with fewer CPUs).
	pub fn with_cores(mut self, cores: Vec<usize>) -> Self {
		self.cores = CorePool::new(&cores);
		self
	}

	/// The same executor reaching directories' registries with `registries` (`[[registry]]`).
	pub fn with_registries(mut self, registries: modicum_registry::Registries) -> Self {
		self.registries = registries;
		self
	}

	/// How this executor reaches directories' registries.
	pub fn registries(&self) -> &modicum_registry::Registries {
		&self.registries
	}

	/// How many host cores this executor pins runs to.
	pub fn cores(&self) -> usize {
		self.cores.total()
	}

	/// The container and cgroup name of a run.
	fn name(&self, run_id: &str) -> String {
		format!("{}-{run_id}", self.prefix)
	}

	async fn clean_leftovers(&self) -> Result<(), ExecutorError> {
		let prefix = format!("{}-", self.prefix);
		let options = ListContainersOptions {
			all: true,
			filters: Some(HashMap::from([("name".to_string(), vec![prefix.clone()])])),
			..Default::default()
		};
		let containers =
			docker_call("list", DOCKER_TIMEOUT, self.docker.list_containers(Some(options))).await?;
		// Docker's name filter matches anywhere in the name: keep only this prefix's.
		let mut runs: BTreeSet<String> = containers
			.iter()
			.flat_map(|c| c.names.iter().flatten())
			.filter_map(|name| name.trim_start_matches('/').strip_prefix(&prefix))
			.map(String::from)
			.collect();
		let dirs = std::fs::read_dir(&self.work_dir).map_err(host("work directory"))?;
		runs.extend(dirs.flatten().map(|dir| dir.file_name().to_string_lossy().into_owned()));
		runs.extend(self.layout.leftovers(&prefix));
		for run in runs {
			tracing::info!(run, "removing a run left by an earlier process");
			self.discard(&run).await;
		}
		Ok(())
	}

	/// Runs `job` once, writing its archive to `archive_to`. A job that fails is an `Ok` with
	/// its status; `Err` is the executor's own failure or a cancellation (`cancel` turning
	/// true). Nothing of the run but the archive is left behind, on any path.
	pub async fn execute(
		&self,
		job: &Job,
		archive_to: &Path,
		mut cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let memory = memory_limit(&job.limits).ok_or(ExecutorError::Capacity)?;
		if memory < DOCKER_MIN_MEMORY {
			return Ok(Execution::refused(ResultStatus::JobDescriptionError));
		}
		if job.cores > self.cores.total() {
			return Err(ExecutorError::Cores { needed: job.cores, available: self.cores.total() });
		}
		let mut guard = RunGuard::new(self.clone(), &job.run_id);
		// Checking and fetching wait on the directory: a cancel ends them at once.
		let prepared = tokio::select! {
			prepared = self.prepare(job, &mut guard) => prepared?,
			Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(ExecutorError::Cancelled),
		};
		let image = match prepared {
			Ok(image) => image,
			Err(refused) => {
				tracing::info!(run = %job.run_id, status = ?refused.status, "job refused before running");
				return Ok(Execution::refused(refused.status));
			}
		};
		// Cores of its own: a run beside others (slots, confirming runs) waits for them.
		let cores = tokio::select! {
			cores = self.cores.take(job.cores) => cores.ok_or(ExecutorError::Cores { needed: job.cores, available: self.cores.total() })?,
			Ok(_) = cancel.wait_for(|cancelled| *cancelled) => return Err(ExecutorError::Cancelled),
		};
		// The cores go back only once the container is gone, on every path: the guard holds
		// them, a dropped run's too.
		let cores = guard.cores.insert(cores);
		let result = self.run(job, &image, cores, archive_to, cancel).await;
		guard.release().await;
		result
	}

	/// Checks the image within the job's fetch bound ([`Self::fetch_image`]) and loads the
	/// layers the check fetched into Docker;
	/// `Ok(Err(_))` is the status that ends the job. This host's own failure to read the
	/// directory (its credentials, its trusted CAs) is an `Err`: never the job's status.
	async fn prepare(
		&self,
		job: &Job,
		guard: &mut RunGuard,
	) -> Result<Result<Image, image::Refused>, ExecutorError> {
		// What an earlier attempt of this run left goes first: the check writes the image's
		// archive into the run's directory.
		self.discard(&job.run_id).await;
		let keep = image::Keep {
			path: self.work_dir.join(&job.run_id).join("image.tar"),
			// Named after the executor and the manifest: runs of one image share it, other
			// executors never see it.
			tag: format!("{}/job:{}", self.prefix.to_ascii_lowercase(), hex::encode(job.digest)),
		};
		let checked = self.fetch_image(job, Some(&keep)).await?;
		let Ok(image) = checked else { return Ok(checked) };
		guard.image = Some(self.load(&keep, &modicum_common::digest::digest_string(&job.base_layer)).await?);
		// Docker's own reading of the config decides: a config written to read one way to
		// the check and another to Docker (duplicate keys, …) is refused here.
		let inspect =
			docker_call("image inspect", DOCKER_TIMEOUT, self.docker.inspect_image(&image.reference))
				.await?;
		if let Some(why) =
			image::refused_by_docker(&inspect).or_else(|| image::loaded_otherwise(&inspect, &image))
		{
			tracing::info!(run = %job.run_id, why, "image refused as Docker reads it");
			return Ok(Err(ResultStatus::JobDescriptionError.into()));
		}
		Ok(Ok(image))
	}

	/// Checks `job`'s image at its directory, writing it to `keep` when given, trying again
	/// while the directory does not answer, within the job's fetch bound in all: a directory
	/// that trickles or stalls cannot hold a run past it (its status is then
	/// `DirectoryUnavailable`), and a blip is not reported as its outage. `Ok(Err(_))` is the
	/// status that ends the job; `Err` this host's own failure to read the directory (its
	/// credentials, its trusted CAs, its disk).
	pub async fn fetch_image(
		&self,
		job: &Job,
		keep: Option<&image::Keep>,
	) -> Result<Result<Image, image::Refused>, ExecutorError> {
		let fetched = modicum_registry::within(job.fetch_limit, &job.run_id, || async {
			match image::check(job, &self.registries, keep).await {
				Ok(Err(refused)) if refused.status == ResultStatus::DirectoryUnavailable => {
					Answer::Missing
				},
				checked => Answer::Given(checked),
			}
		})
		.await;
		fetched.unwrap_or_else(|| {
			tracing::warn!(run = %job.run_id, limit_s = job.fetch_limit.as_secs(), "the directory did not serve the image within the fetch bound");
			Ok(Err(ResultStatus::DirectoryUnavailable.into()))
		})
	}
}
