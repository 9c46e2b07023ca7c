//! Worker metrics on the node's Prometheus endpoint (`--prometheus-port`), all prefixed
//! `modicum_`.

use pallet_market::ResultStatus;
use substrate_prometheus_endpoint::{
	register, CounterVec, Gauge, HistogramOpts, HistogramVec, Opts, PrometheusError, Registry, U64,
};

/// Counters and gauges of the node's workers.
#[derive(Clone)]
pub struct Metrics {
	runs: CounterVec<U64>,
	run_seconds: HistogramVec,
	queue: Gauge<U64>,
	transactions: CounterVec<U64>,
}

impl Metrics {
	/// Registers the metrics; a node without Prometheus gets unregistered ones.
	pub fn new(registry: Option<&Registry>) -> Result<Self, PrometheusError> {
		let metrics = Self {
			runs: CounterVec::new(
				Opts::new("modicum_job_runs_total", "Job runs by role and result status"),
				&["role", "status"],
			)?,
			run_seconds: HistogramVec::new(
				HistogramOpts::new("modicum_job_run_seconds", "Wall time of job runs by role")
					.buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0]),
				&["role"],
			)?,
			queue: Gauge::new(
				"modicum_job_queue_length",
				"Matched jobs waiting to run or running",
			)?,
			transactions: CounterVec::new(
				Opts::new(
					"modicum_worker_transactions_total",
					"Worker transactions by call and outcome",
				),
				&["call", "outcome"],
			)?,
		};
		if let Some(registry) = registry {
			register(metrics.runs.clone(), registry)?;
			register(metrics.run_seconds.clone(), registry)?;
			register(metrics.queue.clone(), registry)?;
			register(metrics.transactions.clone(), registry)?;
		}
		Ok(metrics)
	}

	/// Counts one run that ended in `status`, taking `seconds`.
	pub fn run(&self, role: &str, status: ResultStatus, seconds: f64) {
		self.runs.with_label_values(&[role, &format!("{status:?}")]).inc();
		self.run_seconds.with_label_values(&[role]).observe(seconds);
	}

	/// Sets how many jobs are queued or running.
	pub fn queue(&self, length: usize) {
		self.queue.set(length as u64);
	}

	/// Counts one submitted transaction.
	pub fn transaction(&self, call: &str, accepted: bool) {
		self.transactions
			.with_label_values(&[call, if accepted { "submitted" } else { "refused" }])
			.inc();
	}
}
