//! Worker metrics on the node's Prometheus endpoint (`--prometheus-port`), all prefixed
//! `modicum_`.

use pallet_market::ResultStatus;
use substrate_prometheus_endpoint::{
	register, Counter, CounterVec, Gauge, HistogramOpts, HistogramVec, Opts, PrometheusError,
	Registry, F64, U64,
};

/// Counters and gauges of the node's workers.
#[derive(Clone)]
pub struct Metrics {
	runs: CounterVec<U64>,
	run_seconds: HistogramVec,
	queue: Gauge<U64>,
	transactions: CounterVec<U64>,
	cpu_ask: Gauge<F64>,
	cost_floor: Gauge<F64>,
	electricity_price: Gauge<F64>,
	offers_withdrawn: Counter<U64>,
	prices_rejected: CounterVec<U64>,
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
			cpu_ask: Gauge::new(
				"modicum_provider_cpu_ask",
				"Planck per cpu unit the provider's offers ask; 0 while it withdraws",
			)?,
			cost_floor: Gauge::new(
				"modicum_provider_cost_floor",
				"Planck per cpu unit below which an offer loses money; 0 for the fixed policy",
			)?,
			electricity_price: Gauge::new(
				"modicum_provider_electricity_price",
				"Planck per kWh, as last read from the price source",
			)?,
			offers_withdrawn: Counter::new(
				"modicum_provider_offers_withdrawn_total",
				"Resource offers the price policy withdrew",
			)?,
			prices_rejected: CounterVec::new(
				Opts::new(
					"modicum_provider_price_rejected_total",
					"Electricity prices read but not believed, by the [price] rule that refused them",
				),
				&["rule"],
			)?,
		};
		if let Some(registry) = registry {
			register(metrics.runs.clone(), registry)?;
			register(metrics.run_seconds.clone(), registry)?;
			register(metrics.queue.clone(), registry)?;
			register(metrics.transactions.clone(), registry)?;
			register(metrics.cpu_ask.clone(), registry)?;
			register(metrics.cost_floor.clone(), registry)?;
			register(metrics.electricity_price.clone(), registry)?;
			register(metrics.offers_withdrawn.clone(), registry)?;
			register(metrics.prices_rejected.clone(), registry)?;
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

	/// Sets the provider's cpu ask and cost floor, planck per cpu unit.
	pub fn provider_price(&self, cpu_ask: u128, cost_floor: u128) {
		self.cpu_ask.set(cpu_ask as f64);
		self.cost_floor.set(cost_floor as f64);
	}

	/// Sets the last electricity price read, planck per kWh.
	pub fn electricity_price(&self, planck_per_kwh: u128) {
		self.electricity_price.set(planck_per_kwh as f64);
	}

	/// Counts one resource offer withdrawn by the price policy.
	pub fn offer_withdrawn(&self) {
		self.offers_withdrawn.inc();
	}

	/// Counts one electricity price not believed, refused by `rule` (`min_price`, `max_price`
	/// or `max_change_percent`).
	pub fn price_rejected(&self, rule: &str) {
		self.prices_rejected.with_label_values(&[rule]).inc();
	}
}
