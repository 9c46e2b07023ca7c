//! A run: the container created under the hardened profile in the run's tmpfs and cgroup, with
//! its view of the host, watched until it ends, and what it left measured into an [`Execution`].

use super::*;

impl Executor {
	pub(crate) async fn run(
		&self,
		job: &Job,
		image: &Image,
		cores: &Cores,
		archive_to: &Path,
		cancel: watch::Receiver<bool>,
	) -> Result<Execution, ExecutorError> {
		let run_dir = self.work_dir.join(&job.run_id);
		let storage_bytes = job.limits.storage.checked_mul(MIB).ok_or(ExecutorError::Capacity)?;
		let (out_dir, tmp_dir) = mount_run_fs(&run_dir, storage_bytes).await?;
		let memory = memory_limit(&job.limits).ok_or(ExecutorError::Capacity)?;
		// The host's CPUs, memory, uptime and load as the match's terms describe them, on every
		// host alike.
		let view = write_view(&run_dir, &mask::files(job.cores, memory))?;
		let cgroup =
			RunCgroup::create(self.layout, &self.name(&job.run_id)).await.map_err(host("cgroup"))?;
		let container = self.name(&job.run_id);
		let ulimit = |name: &str, value: i64| ResourcesUlimits {
			name: Some(name.into()),
			soft: Some(value),
			hard: Some(value),
		};
		let config = ContainerCreateBody {
			image: Some(image.reference.clone()),
			user: Some(JOB_USER.into()),
			hostname: Some(JOB_HOSTNAME.into()),
			domainname: Some(String::new()),
			network_disabled: Some(true),
			attach_stdout: Some(true),
			attach_stderr: Some(true),
			// Whatever the image says, no command of its own runs beside the job.
			healthcheck: Some(bollard::models::HealthConfig {
				test: Some(vec!["NONE".into()]),
				..Default::default()
			}),
			host_config: Some(HostConfig {
				network_mode: Some("none".into()),
				readonly_rootfs: Some(true),
				cap_drop: Some(vec!["ALL".into()]),
				security_opt: Some(vec!["no-new-privileges".into()]),
				pids_limit: Some(PIDS_LIMIT),
				// tmpfs pages are charged to the container: memory covers memory + storage.
				memory: Some(memory as i64),
				memory_swap: Some(memory as i64),
				nano_cpus: Some((job.cpu_rate * 1e9) as i64),
				cpuset_cpus: Some(cores.cpuset()),
				cgroup_parent: Some(cgroup.parent()),
				ulimits: Some(vec![
					ulimit("nofile", NOFILE_LIMIT),
					ulimit("fsize", (storage_bytes + STORAGE_OVERSHOOT) as i64),
				]),
				// Logs are read from the attached streams: nothing of them reaches the host's disk.
				log_config: Some(HostConfigLogConfig {
					typ: Some("none".into()),
					config: Some(HashMap::new()),
				}),
				ipc_mode: Some("private".into()),
				// Docker's own list (replaced, not extended, when given) and what else names this
				// host: its kernel build and its boot.
				masked_paths: Some(MASKED_PATHS.iter().map(|path| path.to_string()).collect()),
				shm_size: Some(MIB as i64),
				binds: Some(
					[format!("{}:/out:rw", out_dir.display()), format!("{}:/tmp:rw", tmp_dir.display())]
						.into_iter()
						.chain(view)
						.collect(),
				),
				..Default::default()
			}),
			..Default::default()
		};
		let create = CreateContainerOptions { name: Some(container.clone()), ..Default::default() };
		docker_call(
			"container create",
			DOCKER_TIMEOUT,
			self.docker.create_container(Some(create), config),
		)
		.await?;
		let attach = AttachContainerOptions {
			stdout: true,
			stderr: true,
			stream: true,
			..Default::default()
		};
		let output = docker_call(
			"attach",
			DOCKER_TIMEOUT,
			self.docker.attach_container(&container, Some(attach)),
		)
		.await?
		.output;
		let started = Instant::now();
		let start = self.docker.start_container(&container, None);
		match tokio::time::timeout(DOCKER_TIMEOUT, start).await {
			Ok(Ok(())) => {}
			// Docker answers 400 for what the image asks and cannot be (no such executable,
			// not executable, …): the job's doing, the same on every host.
			Ok(Err(bollard::errors::Error::DockerResponseServerError { status_code: 400, message })) => {
				tracing::info!(run = %job.run_id, message, "the image's container cannot start");
				return Ok(Execution::refused(ResultStatus::JobDescriptionError));
			}
			Ok(Err(e)) => {
				return Err(ExecutorError::Docker { call: "container start", message: e.to_string() })
			}
			Err(_) => return Err(ExecutorError::Timeout("container start")),
		}
		tracing::debug!(run = %job.run_id, "container started");

		let mut logs = Logs::default();
		let ending = self.watch(job, &container, &cgroup, output, &mut logs, cancel).await?;
		let wall = started.elapsed();
		let inspect =
			docker_call("inspect", DOCKER_TIMEOUT, self.docker.inspect_container(&container, None))
				.await?;
		let state = inspect.state.unwrap_or_default();
		if state.running == Some(true) {
			// The wait ended without an exit (the engine's connection broke): not the job's end.
			return Err(ExecutorError::Docker { call: "wait", message: "ended while the container runs".into() });
		}
		let exit_code = state.exit_code;
		let cpu = cgroup.cpu_ms().map_err(host("cpu time"))?;
		let peak = cgroup.peak_memory(memory).map_err(host("peak memory"))?;
		let oom_killed =
			state.oom_killed == Some(true) || cgroup.oom_killed().map_err(host("OOM kills"))?;

		// Measuring and archiving read what the job wrote: off the async runtime.
		let archive_cap =
			job.limits.bandwidth.saturating_sub(image.layer_kib).saturating_mul(1024);
		let (out, tmp, dest) = (out_dir.clone(), tmp_dir.clone(), archive_to.to_path_buf());
		let (stored, archive, archive_fits) = tokio::task::spawn_blocking(move || {
			let stored = archive::stored_bytes(&[&out, &tmp], storage_bytes)?;
			let over_storage = !matches!(stored, Ok(bytes) if bytes <= storage_bytes);
			let full = (!over_storage)
				.then(|| archive::write_archive(Some(&out), &logs.stdout, &logs.stderr, &dest, archive_cap))
				.transpose()?
				.flatten();
			let fits = full.is_some() || over_storage;
			// Beyond storage or bandwidth, the archive keeps the logs only.
			let archive = match full {
				Some(written) => written,
				None => archive::write_archive(None, &logs.stdout, &logs.stderr, &dest, u64::MAX)?
					.ok_or_else(|| std::io::Error::other("an uncapped archive was refused"))?,
			};
			Ok::<_, std::io::Error>((stored, archive, fits))
		})
		.await
		.map_err(|e| ExecutorError::Host { what: "archiving", source: std::io::Error::other(e) })?
		.map_err(host("result archive"))?;
		let over_storage = !matches!(stored, Ok(bytes) if bytes <= storage_bytes);
		let usage = Resources {
			cpu,
			// The container's limit is memory + storage plus the few KiB a file may overshoot;
			// page cache counts toward the peak without a kill. Reported up to the limit the
			// chain holds a completed run to, so the rounding of a peak at the limit never
			// makes an honest receipt unpostable.
			memory: peak.div_ceil(MIB).min(job.limits.memory.saturating_add(job.limits.storage)),
			storage: match stored {
				Ok(bytes) => bytes.div_ceil(MIB),
				Err(archive::TooDeep) => job.limits.storage.saturating_add(1),
			},
			bandwidth: image.layer_kib + archive.size.div_ceil(1024),
		};
		let status = match ending {
			Ending::CpuLimit => ResultStatus::CpuExceeded,
			_ if cpu > job.limits.cpu => ResultStatus::CpuExceeded,
			_ if oom_killed => ResultStatus::MemoryExceeded,
			_ if over_storage => ResultStatus::StorageExceeded,
			_ if !archive_fits => ResultStatus::BandwidthExceeded,
			Ending::WallLimit => ResultStatus::ExceptionOccurred,
			Ending::Exited if exit_code != Some(0) => ResultStatus::ExceptionOccurred,
			Ending::Exited => ResultStatus::Completed,
		};
		tracing::info!(
			run = %job.run_id, ?status, ?exit_code, cpu_ms = usage.cpu, memory_mib = usage.memory,
			storage_mib = usage.storage, bandwidth_kib = usage.bandwidth, wall_ms = wall.as_millis() as u64,
			"job ended"
		);
		let archive =
			ArchiveFile { path: archive_to.to_path_buf(), size: archive.size, digest: archive.digest };
		Ok(Execution { status, usage, archive: Some(archive), wall })
	}

	/// Waits for the container to exit while keeping the first [`LOG_LIMIT`] bytes of its
	/// output, killing it when its cgroup's CPU time passes the limit (`--cpus` only caps a
	/// rate), the wall-time bound passes, or the run is cancelled.
	async fn watch(
		&self,
		job: &Job,
		container: &str,
		cgroup: &RunCgroup,
		output: impl Stream<Item = Result<LogOutput, bollard::errors::Error>>,
		logs: &mut Logs,
		mut cancel: watch::Receiver<bool>,
	) -> Result<Ending, ExecutorError> {
		let wait = self.docker.wait_container(container, None);
		futures::pin_mut!(wait, output);
		let deadline = tokio::time::sleep(job.wall_limit);
		tokio::pin!(deadline);
		let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
		let mut output_open = true;
		let ending = loop {
			tokio::select! {
				// A non-zero exit comes as an error item; either way the container is done.
				_ = wait.next() => break Some(Ending::Exited),
				item = output.next(), if output_open => match item {
					Some(Ok(item)) => logs.keep(item),
					_ => output_open = false,
				},
				_ = &mut deadline => break Some(Ending::WallLimit),
				Ok(_) = cancel.wait_for(|cancelled| *cancelled) => break None,
				_ = watchdog.tick() => {
					cgroup.sample_memory();
					if cgroup.cpu_ms().map_err(host("cpu time"))? > job.limits.cpu {
						break Some(Ending::CpuLimit);
					}
				},
			}
		};
		if ending != Some(Ending::Exited) {
			tracing::info!(run = %job.run_id, ?ending, "killing the job");
			let kill = KillContainerOptions { signal: "SIGKILL".into() };
			// The container may have exited on its own meanwhile: then there is nothing to kill.
			let _ = docker_call(
				"kill",
				DOCKER_TIMEOUT,
				self.docker.kill_container(container, Some(kill)),
			)
			.await;
			let _ = tokio::time::timeout(DOCKER_TIMEOUT, wait.next()).await;
		}
		let ending = ending.ok_or(ExecutorError::Cancelled)?;
		// What the job wrote before it ended is still on its way.
		if output_open {
			docker_call("attach", DOCKER_TIMEOUT, async {
				while let Some(item) = output.next().await {
					logs.keep(item?);
				}
				Ok(())
			})
			.await?;
		}
		Ok(ending)
	}
}

/// The first [`LOG_LIMIT`] bytes of stdout and of stderr, raw.
#[derive(Default)]
pub(crate) struct Logs {
	stdout: Vec<u8>,
	stderr: Vec<u8>,
}

impl Logs {
	pub(crate) fn keep(&mut self, item: LogOutput) {
		let (buffer, message) = match item {
			LogOutput::StdOut { message } => (&mut self.stdout, message),
			LogOutput::StdErr { message } => (&mut self.stderr, message),
			_ => return,
		};
		let room = LOG_LIMIT.saturating_sub(buffer.len());
		buffer.extend_from_slice(&message[..message.len().min(room)]);
	}
}

/// How the watch of a container ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
	Exited,
	CpuLimit,
	WallLimit,
}

/// The container's memory limit in bytes: memory + storage (tmpfs pages are charged to the
/// Paths the job reads as empty: Docker's default masked paths, and files that differ from host
/// to host (the kernel's version and build, the boot's id, memory and disk counters).
const MASKED_PATHS: [&str; 16] = [
	"/proc/asound",
	"/proc/acpi",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
	"/proc/version",
	"/proc/sys/kernel/random/boot_id",
	"/proc/vmstat",
	"/proc/diskstats",
];

/// container) and the storage overshoot; `None` beyond what any host has.
pub(crate) fn memory_limit(limits: &Resources) -> Option<u64> {
	let bytes = limits.memory.checked_add(limits.storage)?.checked_mul(MIB)?;
	bytes.checked_add(STORAGE_OVERSHOOT).filter(|b| *b <= i64::MAX as u64 / 2)
}

