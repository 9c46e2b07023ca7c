//! The provider's price policy: the cpu ask its resource offers are posted with, and which of its
//! open offers to withdraw (`docs/how-to/price-by-electricity.md`).
//!
//! - `fixed` asks `offer.cpu_price` and never withdraws.
//! - `electricity` reads the price of 1 kWh from a file or URL every `refresh_seconds` and asks
//!   the electricity a busy core draws for one cpu unit (1 ms), rounded up, plus `margin_percent`;
//!   with `follow_market`, the median cpu bid of the open job offers that fit, when higher. An
//!   open offer asking less than that cost would lose money if matched: it is withdrawn. When the
//!   price is unknown — never read, or last read longer than `max_age_seconds` ago — every open
//!   offer is withdrawn and none is posted.
//! - A price read is believed only within `min_price` and `max_price`, and within
//!   `max_change_percent` of the last good price unless `confirm_readings` readings in a row
//!   confirm the move ([`guard`]); one not believed is reported, counted and changes nothing, so
//!   the last good price keeps ageing towards `max_age_seconds`.
//!
//! The bandwidth ask is `offer.bandwidth_price` under every policy: electricity prices the CPU a
//! job burns, not the bytes it moves.
//!
//! [`Pricing::quote`] reads the source when due ([`source`]: a file, or `http://` and
//! `https://` through the registry client's TLS stack); what it decides from a reading is pure
//! ([`guard`], [`Quote::to_withdraw`], [`fitting_bids`] and the functions below), so it is tested
//! apart from any I/O.

mod guard;
mod source;

use crate::{
	config::{ElectricityPolicy, PricePolicy, PriceSource, ProviderConfig},
	metrics::Metrics,
	WorkerError,
};
pub use guard::Refusal;
use guard::{Guard, Verdict};
use modicum_common::amount::mdc;
use modicum_registry::Registries;
use modicum_runtime::{Balance, BlockNumber, Runtime};
use pallet_market::{Architecture, JobOfferOf, OfferId, OfferState};
use source::{parse_price, Source, MAX_SOURCE_BYTES};
use std::time::{Duration, Instant};

type Market = pallet_market::Pallet<Runtime>;

/// How long one read of the source may take, connection, TLS and body included.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// W·ms in one kWh (1 000 W × 3 600 000 ms): a cpu unit is 1 ms of one core's time.
const WATT_MS_PER_KWH: Balance = 3_600_000_000;

/// What the provider's offers ask now, or that it must withdraw them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
	/// Post offers asking `cpu` per cpu unit and `bandwidth` per KiB; withdraw any open offer
	/// asking less than `floor` per cpu unit.
	Ask {
		/// Planck per cpu unit.
		cpu: Balance,
		/// Planck per KiB.
		bandwidth: Balance,
		/// Planck per cpu unit the electricity of one costs; 0 under the fixed policy.
		floor: Balance,
	},
	/// The cost is unknown: withdraw every open offer and post none.
	Withdraw {
		/// Why.
		reason: Unpriced,
	},
}

/// Why the cost of a cpu unit is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unpriced {
	/// The source was never read successfully.
	NeverRead,
	/// The last good read is older than `max_age_seconds`.
	Stale {
		/// Since the last good read.
		age: Duration,
		/// `max_age_seconds`.
		max_age: Duration,
	},
}

impl std::fmt::Display for Unpriced {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Unpriced::NeverRead => f.write_str("the electricity price was never read"),
			Unpriced::Stale { age, max_age } => write!(
				f,
				"the last electricity price read is {} s old, older than max_age_seconds = {}",
				age.as_secs(),
				max_age.as_secs()
			),
		}
	}
}

impl Quote {
	/// The open offers, given as (offer, its cpu ask), that would lose money if matched: those
	/// asking less than the cost floor, or all of them when the cost is unknown.
	pub fn to_withdraw(&self, open: &[(OfferId, Balance)]) -> Vec<OfferId> {
		match self {
			Quote::Ask { floor, .. } => {
				open.iter().filter(|(_, ask)| ask < floor).map(|(id, _)| *id).collect()
			}
			Quote::Withdraw { .. } => open.iter().map(|(id, _)| *id).collect(),
		}
	}
}

/// Why a price source gave no price; the last good price is kept.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
	/// The file or URL could not be read.
	#[error("cannot read the electricity price from {location}: {reason}")]
	Unreadable {
		/// The file or URL.
		location: String,
		/// The cause.
		reason: String,
	},
	/// The source did not answer in time.
	#[error("reading the electricity price from {location} took more than {} s", timeout.as_secs_f64())]
	TimedOut {
		/// The file or URL.
		location: String,
		/// How long it had.
		timeout: Duration,
	},
	/// The source holds more than a price.
	#[error("{location} holds more than {MAX_SOURCE_BYTES} bytes; it is not a price")]
	TooLarge {
		/// The file or URL.
		location: String,
	},
	/// The source holds something other than a price.
	#[error("{location} does not hold the price of 1 kWh: {reason}")]
	Invalid {
		/// The file or URL.
		location: String,
		/// What is wrong.
		reason: String,
	},
	/// The price is too large to compute with.
	#[error("the electricity price {kwh_price} planck per kWh from {location} overflows the cost of a cpu unit")]
	Overflow {
		/// The file or URL.
		location: String,
		/// The price read, planck per kWh.
		kwh_price: Balance,
	},
	/// The price is not believed: out of bounds, or a move not (yet) confirmed.
	#[error("the electricity price {} per kWh from {location} is {refusal}; it is not taken", mdc(*kwh_price))]
	Refused {
		/// The file or URL.
		location: String,
		/// The price read, planck per kWh.
		kwh_price: Balance,
		/// The rule it broke.
		refusal: Refusal,
	},
}

/// A good read of the source and the prices that follow from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reading {
	/// Planck per kWh.
	kwh_price: Balance,
	/// Planck per cpu unit the electricity costs, rounded up.
	floor: Balance,
	/// The floor plus the margin, rounded up.
	cost_ask: Balance,
	/// When it was read.
	at: Instant,
}

/// The provider's price policy; one per provider, asked each block.
pub struct Pricing {
	policy: Policy,
	/// `offer.bandwidth_price`, under every policy.
	bandwidth: Balance,
	metrics: Metrics,
	/// The last cpu ask quoted, `None` while withdrawing: changes are logged, not every quote.
	last_ask: Option<Balance>,
	/// Whether the last quote was `Withdraw`.
	withdrawing: bool,
}

enum Policy {
	Fixed { cpu: Balance },
	Electricity(Electricity),
}

struct Electricity {
	terms: ElectricityPolicy,
	source: Source,
	/// How long one read may take.
	timeout: Duration,
	/// The last good read.
	reading: Option<Reading>,
	/// Which readings become the good one.
	guard: Guard,
	/// When the source was last read, well or not.
	tried_at: Option<Instant>,
}

impl Pricing {
	/// The policy of `config`'s `[price]` section (`fixed` without one). Reads nothing: a source
	/// that fails must not keep a provider from finishing its matched jobs, so it only withdraws
	/// the offers. A URL source is read with the TLS trust of `config`'s `[[registry]]` entries.
	pub fn new(config: &ProviderConfig, metrics: Metrics) -> Result<Self, WorkerError> {
		let policy = config
			.price_policy()
			.map_err(|message| WorkerError::Invalid { role: "provider", message })?;
		let policy = match policy {
			PricePolicy::Fixed => Policy::Fixed { cpu: config.offer.cpu_price.0 },
			PricePolicy::Electricity(terms) => {
				let registries = match &terms.source {
					PriceSource::Url(_) => Registries::load(&config.registry)?,
					PriceSource::File(_) => Registries::default(),
				};
				Policy::Electricity(Electricity {
					source: Source::new(&terms.source, &registries),
					guard: Guard::new(terms.guard),
					terms,
					timeout: READ_TIMEOUT,
					reading: None,
					tried_at: None,
				})
			}
		};
		Ok(Self {
			policy,
			bandwidth: config.offer.bandwidth_price.0,
			metrics,
			last_ask: None,
			withdrawing: false,
		})
	}

	/// Whether the ask follows the open job offers' bids: only then does [`Self::quote`] need
	/// them ([`fitting_bids`]).
	pub fn follows_market(&self) -> bool {
		matches!(&self.policy, Policy::Electricity(e) if e.terms.follow_market)
	}

	/// What offers ask at `now`, reading the source first when `refresh_seconds` have passed
	/// since the last read (at most 10 s); `bids` are the cpu bids of the open job offers an
	/// offer could serve, read only when [`Self::follows_market`]. A failed read, or a price not
	/// believed (counted by its rule), keeps the last good price until `max_age_seconds`, with a
	/// warning.
	pub async fn quote(&mut self, now: Instant, bids: &[Balance]) -> Quote {
		let quote = match &mut self.policy {
			Policy::Fixed { cpu } => Quote::Ask { cpu: *cpu, bandwidth: self.bandwidth, floor: 0 },
			Policy::Electricity(electricity) => {
				if electricity.due(now) {
					let last_price = electricity.reading.map(|r| r.kwh_price);
					let last_read_s_ago =
						electricity.reading.map(|r| now.saturating_duration_since(r.at).as_secs());
					let max_age_s = electricity.terms.max_age.as_secs();
					match electricity.refresh(now).await {
						Ok(reading) => self.metrics.electricity_price(reading.kwh_price),
						Err(PricingError::Refused { location, kwh_price, refusal }) => {
							self.metrics.price_rejected(refusal.rule());
							tracing::warn!(
								target: "modicum",
								price = kwh_price,
								rule = refusal.rule(),
								source = %location,
								%refusal,
								last_price = ?last_price,
								last_read_s_ago = ?last_read_s_ago,
								max_age_s,
								"provider: an electricity price was not believed; keeping the last good one"
							)
						}
						Err(e) => tracing::warn!(
							target: "modicum",
							error = %e,
							last_price = ?last_price,
							last_read_s_ago = ?last_read_s_ago,
							max_age_s,
							"provider: the electricity price could not be read; keeping the last one"
						),
					}
				}
				electricity_quote(
					electricity.reading.as_ref(),
					&electricity.terms,
					self.bandwidth,
					now,
					bids,
				)
			}
		};
		self.observe(&quote, bids);
		quote
	}

	/// Logs and counts an open offer withdrawn on `quote`'s word (its `cancel_resource_offer`
	/// submitted); `cpu_ask` is what it asked.
	pub fn withdrawn(&self, offer: OfferId, cpu_ask: Balance, quote: &Quote) {
		match quote {
			Quote::Ask { floor, .. } => tracing::warn!(
				target: "modicum",
				offer,
				ask = cpu_ask,
				floor,
				"provider: withdrawing an offer that asks less than its electricity costs"
			),
			Quote::Withdraw { reason } => tracing::warn!(
				target: "modicum",
				offer,
				ask = cpu_ask,
				%reason,
				"provider: withdrawing an offer: its cost is unknown"
			),
		}
		self.metrics.offer_withdrawn();
	}

	/// Sets the metrics of a quote and logs its changes.
	fn observe(&mut self, quote: &Quote, bids: &[Balance]) {
		let reading = match &self.policy {
			Policy::Electricity(electricity) => electricity.reading,
			Policy::Fixed { .. } => None,
		};
		match *quote {
			Quote::Ask { cpu, bandwidth, floor } => {
				self.metrics.provider_price(cpu, floor);
				self.withdrawing = false;
				if self.last_ask == Some(cpu) {
					return;
				}
				self.last_ask = Some(cpu);
				match reading {
					None => {
						tracing::info!(target: "modicum", policy = "fixed", ask = cpu, bandwidth, "provider: cpu ask set")
					}
					Some(reading) => tracing::info!(
						target: "modicum",
						policy = "electricity",
						kwh_price = reading.kwh_price,
						floor,
						cost_ask = reading.cost_ask,
						market = ?self.follows_market().then(|| median(bids)).flatten(),
						ask = cpu,
						bandwidth,
						"provider: cpu ask changed"
					),
				}
			}
			Quote::Withdraw { reason } => {
				// Offers are not posted: no ask; the floor stays that of the last price known.
				self.metrics.provider_price(0, reading.map_or(0, |r| r.floor));
				self.last_ask = None;
				if !self.withdrawing {
					self.withdrawing = true;
					tracing::warn!(target: "modicum", %reason, "provider: the cost of a cpu unit is unknown; withdrawing every offer and posting none");
				}
			}
		}
	}
}

impl Electricity {
	/// Whether `refresh_seconds` have passed since the last read.
	fn due(&self, now: Instant) -> bool {
		self.tried_at.is_none_or(|at| now.saturating_duration_since(at) >= self.terms.refresh)
	}

	/// Reads the source; a good price the guard believes replaces the last one, anything else
	/// changes nothing (a refused price only advances the guard's count of a move).
	async fn refresh(&mut self, now: Instant) -> Result<Reading, PricingError> {
		self.tried_at = Some(now);
		let location = self.terms.source.to_string();
		let timeout = self.timeout;
		let bytes = tokio::time::timeout(timeout, self.source.fetch(&location))
			.await
			.map_err(|_| PricingError::TimedOut { location: location.clone(), timeout })??;
		let kwh_price = parse_price(&location, &bytes)?;
		let reading = reading(kwh_price, &self.terms, now)
			.ok_or_else(|| PricingError::Overflow { location: location.clone(), kwh_price })?;
		let last = self.reading.map(|r| r.kwh_price);
		match self.guard.judge(kwh_price, last) {
			Verdict::Refused(refusal) => {
				return Err(PricingError::Refused { location, kwh_price, refusal })
			}
			Verdict::Taken { confirmed: true } => tracing::warn!(
				target: "modicum",
				price = kwh_price,
				last_price = ?last,
				readings = self.terms.guard.confirm_readings,
				max_change_percent = self.terms.guard.max_change_percent,
				source = %location,
				"provider: the electricity price moved beyond max_change_percent and was read at its new level confirm_readings times in a row; taking it"
			),
			Verdict::Taken { confirmed: false } => {}
		}
		self.reading = Some(reading);
		Ok(reading)
	}
}

/// The prices that follow from `kwh_price` read at `at`; `None` if they overflow.
fn reading(kwh_price: Balance, terms: &ElectricityPolicy, at: Instant) -> Option<Reading> {
	let floor = cost_floor(kwh_price, terms.watts_per_core)?;
	let cost_ask = cost_ask(floor, terms.margin_percent)?;
	Some(Reading { kwh_price, floor, cost_ask, at })
}

/// Planck per cpu unit a busy core's electricity costs at `kwh_price` planck per kWh:
/// ⌈price × W / 3.6·10⁹⌉, rounded up so the floor never understates the cost.
fn cost_floor(kwh_price: Balance, watts_per_core: u64) -> Option<Balance> {
	Some(kwh_price.checked_mul(watts_per_core.into())?.div_ceil(WATT_MS_PER_KWH))
}

/// ⌈floor × (100 + margin) / 100⌉.
fn cost_ask(floor: Balance, margin_percent: u32) -> Option<Balance> {
	Some(floor.checked_mul(100 + Balance::from(margin_percent))?.div_ceil(100))
}

/// The median of `bids`: the lower of the middle two for an even count, so at least half the
/// bids reach it.
fn median(bids: &[Balance]) -> Option<Balance> {
	let mut sorted = bids.to_vec();
	sorted.sort_unstable();
	sorted.get(sorted.len().checked_sub(1)? / 2).copied()
}

/// The electricity policy's quote from its last good reading.
fn electricity_quote(
	reading: Option<&Reading>,
	terms: &ElectricityPolicy,
	bandwidth: Balance,
	now: Instant,
	bids: &[Balance],
) -> Quote {
	let Some(reading) = reading else { return Quote::Withdraw { reason: Unpriced::NeverRead } };
	let age = now.saturating_duration_since(reading.at);
	if age > terms.max_age {
		return Quote::Withdraw { reason: Unpriced::Stale { age, max_age: terms.max_age } };
	}
	let market = if terms.follow_market { median(bids) } else { None };
	Quote::Ask {
		cpu: market.map_or(reading.cost_ask, |market| market.max(reading.cost_ask)),
		bandwidth,
		floor: reading.floor,
	}
}

/// The cpu bids of the open job offers that a resource offer of `config`'s, open at `now` and
/// until `valid_to`, could serve by the rules of the offers alone: architecture, capacity, base
/// layer, trusted directory, bandwidth bid, window and the provider's speed. The mediator, fees,
/// deposits and reputation are the solver's to check; the median of these is what
/// `follow_market` asks at least.
pub fn fitting_bids(
	config: &ProviderConfig,
	now: BlockNumber,
	valid_to: BlockNumber,
	jobs: &[(OfferId, JobOfferOf<Runtime>)],
) -> Vec<Balance> {
	let architecture: Architecture = config.architecture.into();
	let offer = &config.offer;
	let capacity = offer.capacity();
	jobs.iter()
		.map(|(_, job)| job)
		.filter(|job| {
			job.state == OfferState::Open
				&& now <= job.completion_deadline
				&& job.completion_deadline <= valid_to
				&& job.architecture == architecture
				&& job.bandwidth_bid >= offer.bandwidth_price.0
				&& Market::check_capacity(&job.limits, &capacity).is_ok()
				&& config.base_layers.iter().any(|layer| layer.0 == job.base_layer)
				&& config.trusted_directories.iter().any(|d| d.0 == job.directory)
				&& Market::check_deadline(job, now, config.speed).is_ok()
		})
		.map(|job| job.cpu_bid)
		.collect()
}

#[cfg(test)]
mod tests;
