//! Role files (TOML), one per role flag of the node, loaded and checked with
//! `modicum_common::config`: unknown keys are errors, so a typo never silently falls back to a
//! default.

use modicum_common::amount::mdc;
pub use modicum_common::{
	amount::Amount,
	arch::Arch,
	config::{load, Account, ConfigError, Validate},
	digest::Sha256,
};
pub use modicum_registry::RegistryAccess;
use modicum_registry::validate_access;
use modicum_runtime::{Balance, BlockNumber};
use pallet_market::Resources;
use serde::Deserialize;
use std::{path::PathBuf, time::Duration};

/// `--provider <file>`: a resource provider.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
	/// SS58 account whose `mdcm` key signs; the keystore's only one if omitted.
	pub account: Option<Account>,
	/// The machine's architecture.
	pub architecture: Arch,
	/// Cpu units (ms of CPU time) the machine delivers to a job per block.
	pub speed: u64,
	/// Mediators accepted for matches.
	pub trusted_mediators: Vec<Account>,
	/// Directories images and results are exchanged through.
	pub trusted_directories: Vec<Account>,
	/// Base layers (uncompressed `diff_id`s) kept installed.
	pub base_layers: Vec<Sha256>,
	/// What each resource offer offers and asks: one slot's share of the machine.
	pub offer: OfferConfig,
	/// What of this host the provider may use, divided into slots of one offer each; what is
	/// omitted is detected.
	#[serde(default)]
	pub machine: MachineConfig,
	/// How the cpu ask is set; if omitted, the fixed `offer.cpu_price`.
	#[serde(default)]
	pub price: Option<PriceConfig>,
	/// `[[registry]]`: the CA and credentials of directories' registries.
	#[serde(default)]
	pub registry: Vec<RegistryAccess>,
}

/// What of the host a provider may use. Jobs' `/out` and `/tmp` are memory-backed (tmpfs), so
/// each slot takes an offer's memory + storage of RAM.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
	/// Cores jobs may use; if omitted, every core this process may run on.
	pub cores: Option<usize>,
	/// RAM jobs may use, MiB; if omitted, three quarters of the host's.
	pub memory: Option<u64>,
	/// Disk of the work directory that pulled layers and result archives may use, MiB; if
	/// omitted, three quarters of what is free.
	pub disk: Option<u64>,
	/// Jobs run at once, one resource offer each; if omitted, one (side-by-side jobs inflate
	/// each other's CPU time on many hosts: measure with `scripts/metering.sh` first).
	pub slots: Option<u32>,
}

/// The terms of the provider's resource offers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferConfig {
	/// Cpu units for one job.
	pub cpu: u64,
	/// Memory for one job, MiB.
	pub memory: u64,
	/// Storage for one job's `/out`, MiB.
	pub storage: u64,
	/// Bandwidth for one job, KiB.
	pub bandwidth: u64,
	/// Asked price per cpu unit.
	pub cpu_price: Amount,
	/// Asked price per KiB.
	pub bandwidth_price: Amount,
	/// Deposit held with each offer.
	pub deposit: Amount,
	/// Blocks each offer stays open (at most the chain's `max_offer_window`).
	pub window: BlockNumber,
	/// The highest mediator fee an offer accepts; if omitted, the highest fee of the trusted
	/// mediators when the offer is posted, so a fee raised later cannot reach the deposit.
	#[serde(default)]
	pub max_mediator_fee: Option<Amount>,
	/// The highest directory fee an offer accepts; if omitted, likewise from the trusted
	/// directories.
	#[serde(default)]
	pub max_directory_fee: Option<Amount>,
}

impl OfferConfig {
	/// The offered capacity.
	pub fn capacity(&self) -> Resources {
		Resources {
			cpu: self.cpu,
			memory: self.memory,
			storage: self.storage,
			bandwidth: self.bandwidth,
		}
	}
}

impl Validate for ProviderConfig {
	fn validate(&self) -> Result<(), String> {
		if self.speed == 0 {
			return Err("`speed` must be at least 1 cpu unit per block".into());
		}
		let offer = &self.offer;
		if offer.cpu == 0 || offer.memory < 4 || offer.storage == 0 {
			return Err(
				"`offer` needs cpu ≥ 1, memory ≥ 4 MiB (Docker's least) and storage ≥ 1".into()
			);
		}
		if offer.deposit.0 == 0 {
			return Err("`offer.deposit` must be more than nothing".into());
		}
		if offer.window < 2 {
			return Err("`offer.window` must be at least 2 blocks".into());
		}
		self.price_policy()?;
		validate_access(&self.registry)?;
		Ok(())
	}
}

impl ProviderConfig {
	/// The price policy of the `[price]` section, checked; `fixed` without one.
	pub fn price_policy(&self) -> Result<PricePolicy, String> {
		self.price.as_ref().map_or(Ok(PricePolicy::Fixed), PriceConfig::policy)
	}
}

/// `[price]` of a provider: how its cpu ask is set (`docs/how-to/price-by-electricity.md`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
	/// `fixed` or `electricity`.
	pub policy: PolicyName,
	/// Where the price of 1 kWh is read: an absolute file path, or an `http://` or `https://`
	/// URL.
	#[serde(default)]
	pub electricity_price: Option<String>,
	/// The machine's extra draw per busy core, W.
	#[serde(default)]
	pub watts_per_core: Option<u64>,
	/// The ask over the cost, percent.
	#[serde(default)]
	pub margin_percent: Option<u32>,
	/// Seconds between reads of the price (default 300).
	#[serde(default)]
	pub refresh_seconds: Option<u64>,
	/// Seconds the last good price is trusted while the source fails (default 3600).
	#[serde(default)]
	pub max_age_seconds: Option<u64>,
	/// Whether to ask the median bid of the open job offers that fit, when above the cost ask.
	#[serde(default)]
	pub follow_market: Option<bool>,
	/// The lowest price of 1 kWh believed; a reading below it is never taken (default: none).
	#[serde(default)]
	pub min_price: Option<Amount>,
	/// The highest price of 1 kWh believed; a reading above it is never taken (default: none).
	#[serde(default)]
	pub max_price: Option<Amount>,
	/// The most a reading may differ from the last good price, percent of it; a reading that
	/// differs more is not taken until confirmed (default 50).
	#[serde(default)]
	pub max_change_percent: Option<u32>,
	/// Readings in a row, each within `max_change_percent` of the first of them, that confirm a
	/// move beyond `max_change_percent`: the last of them is taken (default 3).
	#[serde(default)]
	pub confirm_readings: Option<u32>,
}

/// The policies a provider's ask can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyName {
	/// `offer.cpu_price`, always.
	Fixed,
	/// The cost of the electricity a busy core draws, plus a margin.
	Electricity,
}

/// A checked price policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PricePolicy {
	/// Ask `offer.cpu_price`.
	Fixed,
	/// Ask what the electricity of a cpu unit costs, plus a margin.
	Electricity(ElectricityPolicy),
}

/// The terms of the `electricity` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectricityPolicy {
	/// Where the price of 1 kWh is read.
	pub source: PriceSource,
	/// W per busy core.
	pub watts_per_core: u64,
	/// Percent over the cost.
	pub margin_percent: u32,
	/// How often the source is read.
	pub refresh: Duration,
	/// How long the last good price is trusted.
	pub max_age: Duration,
	/// Whether the ask follows the bids of the open job offers.
	pub follow_market: bool,
	/// Which readings are believed.
	pub guard: PriceGuard,
}

/// Which electricity prices are believed (`docs/how-to/price-by-electricity.md#which-prices-are-believed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceGuard {
	/// Planck per kWh: a reading below is never taken.
	pub min_price: Option<Balance>,
	/// Planck per kWh: a reading above is never taken.
	pub max_price: Option<Balance>,
	/// The most a reading may differ from the last good price, percent of it.
	pub max_change_percent: u32,
	/// Readings in a row within `max_change_percent` of the first of them that confirm a move.
	pub confirm_readings: u32,
}

/// Where a price is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceSource {
	/// A local file (a cron job's tariff).
	File(PathBuf),
	/// An `http://` or `https://` URL.
	Url(String),
}

impl std::fmt::Display for PriceSource {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			PriceSource::File(path) => write!(f, "{}", path.display()),
			PriceSource::Url(url) => f.write_str(url),
		}
	}
}

/// The highest `watts_per_core`: more than any CPU core draws, so a larger value is a typo.
const MAX_WATTS_PER_CORE: u64 = 1_000;

/// The highest `margin_percent`: an ask eleven times the cost.
const MAX_MARGIN_PERCENT: u32 = 1_000;

/// The shortest `refresh_seconds`.
const MIN_REFRESH_SECONDS: u64 = 2;

/// `max_change_percent` if omitted: a price may halve or rise by half from one reading to the
/// next.
const DEFAULT_MAX_CHANGE_PERCENT: u32 = 50;

/// The highest `max_change_percent`: a reading 101 times the last good price.
const MAX_CHANGE_PERCENT: u32 = 10_000;

/// `confirm_readings` if omitted.
const DEFAULT_CONFIRM_READINGS: u32 = 3;

/// The highest `confirm_readings`.
const MAX_CONFIRM_READINGS: u32 = 100;

impl PriceConfig {
	/// The policy these settings describe, or what is wrong with them.
	pub fn policy(&self) -> Result<PricePolicy, String> {
		if self.policy == PolicyName::Fixed {
			let electricity_only = [
				("electricity_price", self.electricity_price.is_some()),
				("watts_per_core", self.watts_per_core.is_some()),
				("margin_percent", self.margin_percent.is_some()),
				("refresh_seconds", self.refresh_seconds.is_some()),
				("max_age_seconds", self.max_age_seconds.is_some()),
				("follow_market", self.follow_market.is_some()),
				("min_price", self.min_price.is_some()),
				("max_price", self.max_price.is_some()),
				("max_change_percent", self.max_change_percent.is_some()),
				("confirm_readings", self.confirm_readings.is_some()),
			];
			if let Some((key, _)) = electricity_only.iter().find(|(_, set)| *set) {
				return Err(format!(
					"`price.{key}` is only read by policy \"electricity\"; policy \"fixed\" asks `offer.cpu_price`"
				));
			}
			return Ok(PricePolicy::Fixed);
		}
		let required = |key: &str| format!("policy \"electricity\" needs `price.{key}`");
		let source = price_source(
			self.electricity_price.as_deref().ok_or_else(|| required("electricity_price"))?,
		)?;
		let watts_per_core = self.watts_per_core.ok_or_else(|| required("watts_per_core"))?;
		if !(1..=MAX_WATTS_PER_CORE).contains(&watts_per_core) {
			return Err(format!(
				"`price.watts_per_core` {watts_per_core} must be 1 to {MAX_WATTS_PER_CORE} W"
			));
		}
		let margin_percent = self.margin_percent.ok_or_else(|| required("margin_percent"))?;
		if margin_percent > MAX_MARGIN_PERCENT {
			return Err(format!(
				"`price.margin_percent` {margin_percent} must be at most {MAX_MARGIN_PERCENT}"
			));
		}
		let refresh = self.refresh_seconds.unwrap_or(300);
		if refresh < MIN_REFRESH_SECONDS {
			return Err(format!(
				"`price.refresh_seconds` {refresh} must be at least {MIN_REFRESH_SECONDS}"
			));
		}
		let max_age = self.max_age_seconds.unwrap_or(3600);
		// A price trusted for less than the time between reads would expire between them.
		if max_age < refresh {
			return Err(format!(
				"`price.max_age_seconds` {max_age} must be at least `price.refresh_seconds` ({refresh})"
			));
		}
		Ok(PricePolicy::Electricity(ElectricityPolicy {
			source,
			watts_per_core,
			margin_percent,
			refresh: Duration::from_secs(refresh),
			max_age: Duration::from_secs(max_age),
			follow_market: self.follow_market.unwrap_or(false),
			guard: self.guard()?,
		}))
	}

	/// The bounds and the rate-of-change limit of the electricity price, checked.
	fn guard(&self) -> Result<PriceGuard, String> {
		let (min_price, max_price) = (self.min_price.map(|a| a.0), self.max_price.map(|a| a.0));
		// Every price read is more than nothing: a bound of 0 would refuse or admit them all.
		if min_price == Some(0) {
			return Err("`price.min_price` 0 MDC bounds nothing (a price of 0 is never taken); omit it or give the lowest believable price of 1 kWh".into());
		}
		if max_price == Some(0) {
			return Err("`price.max_price` 0 MDC would refuse every price; give the highest believable price of 1 kWh".into());
		}
		if let (Some(min), Some(max)) = (min_price, max_price) {
			if min > max {
				return Err(format!(
					"`price.min_price` {} must be at most `price.max_price` {}",
					mdc(min),
					mdc(max)
				));
			}
		}
		let max_change_percent = self.max_change_percent.unwrap_or(DEFAULT_MAX_CHANGE_PERCENT);
		if !(1..=MAX_CHANGE_PERCENT).contains(&max_change_percent) {
			return Err(format!(
				"`price.max_change_percent` {max_change_percent} must be 1 to {MAX_CHANGE_PERCENT}"
			));
		}
		let confirm_readings = self.confirm_readings.unwrap_or(DEFAULT_CONFIRM_READINGS);
		// One reading would confirm itself: no limit at all.
		if !(2..=MAX_CONFIRM_READINGS).contains(&confirm_readings) {
			return Err(format!(
				"`price.confirm_readings` {confirm_readings} must be 2 to {MAX_CONFIRM_READINGS} (1 would take any move at once)"
			));
		}
		Ok(PriceGuard { min_price, max_price, max_change_percent, confirm_readings })
	}
}

/// `electricity_price`: an absolute path, or an `http(s)://host[:port]/path` URL.
fn price_source(text: &str) -> Result<PriceSource, String> {
	if text.starts_with("http://") || text.starts_with("https://") {
		http_url("price.electricity_price", text)?;
		return Ok(PriceSource::Url(text.into()));
	}
	let path = PathBuf::from(text);
	if !path.is_absolute() {
		return Err(format!(
			"`price.electricity_price` {text} must be an absolute file path or an http:// or https:// URL"
		));
	}
	Ok(PriceSource::File(path))
}

/// Checks that `text`, the value of `key`, is an `http(s)://host[:port]/path` URL.
fn http_url(key: &str, text: &str) -> Result<(), String> {
	if !(text.starts_with("http://") || text.starts_with("https://")) {
		return Err(format!("`{key}` {text} must be an http:// or https:// URL"));
	}
	let uri: hyper::Uri = text.parse().map_err(|e| format!("`{key}` {text} is not a URL: {e}"))?;
	if uri.host().is_none_or(str::is_empty) {
		return Err(format!("`{key}` {text} names no host"));
	}
	Ok(())
}

/// `--mediator <file>`: a mediator.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediatorConfig {
	/// SS58 account whose `mdcm` key signs; the keystore's only one if omitted.
	pub account: Option<Account>,
	/// The machine's architecture.
	pub architecture: Arch,
	/// Availability fee per party and match.
	pub fee: Amount,
	/// Bond held while registered.
	pub bond: Amount,
	/// Directories accepted.
	pub trusted_directories: Vec<Account>,
	/// Base layers kept installed.
	pub base_layers: Vec<Sha256>,
	/// Disputes mediated at once, each re-executing its job n times in turn; if omitted, one
	/// (side-by-side runs inflate each other's CPU time on many hosts).
	#[serde(default)]
	pub slots: Option<u32>,
	/// The largest run each slot re-executes, registered on chain: the mediator is named only
	/// for jobs within it. What is omitted is detected from the host.
	#[serde(default)]
	pub capacity: CapacityConfig,
	/// `[reference]`: the download that proves the mediator's own link before it blames a
	/// directory for slowness.
	pub reference: ReferenceConfig,
	/// `[[registry]]`: the CA and credentials of directories' registries.
	#[serde(default)]
	pub registry: Vec<RegistryAccess>,
}

/// `[reference]` of a mediator: a large file on a fast server that is not a directory it
/// judges. A directory that did not serve a job within its fetch bound is at fault only once
/// the mediator has read as much of this file within the bound the market gives that size.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceConfig {
	/// `http://` or `https://` URL of the file (an `https://` server's certificate checked as a
	/// registry's, against the `ca_file` of its `[[registry]]` entry or the system's store).
	pub url: String,
	/// KiB each proof reads at most (fewer for a job of a smaller bandwidth limit); the file
	/// must hold at least this much.
	pub kib: u64,
}

/// The most KiB a reference proof may read: 1 GiB.
pub const MAX_REFERENCE_KIB: u64 = 1 << 20;

/// `[capacity]` of a mediator: the largest run of one slot.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
	/// Cpu units (ms of CPU time); if omitted, any a slot's cores run at the reference speed.
	pub cpu: Option<u64>,
	/// Memory, MiB; if omitted, three quarters of a slot's share of RAM.
	pub memory: Option<u64>,
	/// Storage, MiB (held in RAM beside the memory); if omitted, a quarter of the share.
	pub storage: Option<u64>,
	/// Bandwidth, KiB (job layers and the result archive on disk); if omitted, a slot's share
	/// of the work directory's free disk.
	pub bandwidth: Option<u64>,
}

impl Validate for MediatorConfig {
	fn validate(&self) -> Result<(), String> {
		if self.slots == Some(0) {
			return Err("`slots` must be at least 1".into());
		}
		http_url("reference.url", &self.reference.url)?;
		if !(1..=MAX_REFERENCE_KIB).contains(&self.reference.kib) {
			return Err(format!("`reference.kib` must be between 1 and {MAX_REFERENCE_KIB}"));
		}
		validate_access(&self.registry)
	}
}

/// `--directory <file>`: a directory in front of an OCI registry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
	/// SS58 account whose `mdcm` key signs; the keystore's only one if omitted.
	pub account: Option<Account>,
	/// URL of the registry as providers and mediators reach it (registered on chain).
	pub endpoint: String,
	/// Availability fee per party and match.
	pub fee: Amount,
	/// Bond held while registered.
	pub bond: Amount,
	/// Mediators accepted as judges of the directory's availability: a match's mediator must
	/// be one of them, since its verdict may take the directory's bond.
	pub trusted_mediators: Vec<Account>,
	/// Blocks a job's image and result stay in the registry after its match closes (or after
	/// its job offer is cancelled or expires unmatched) before the directory deletes them.
	/// Providers, mediators and job creators need both until the match closes; a job creator
	/// may fetch its result some time after. Default: a day of 2 s blocks.
	#[serde(default = "default_retention")]
	pub retention: BlockNumber,
	/// `[[registry]]`: the CA and credentials of its own registry, as the heartbeat checks it.
	#[serde(default)]
	pub registry: Vec<RegistryAccess>,
}

fn default_retention() -> BlockNumber {
	43_200
}

impl Validate for DirectoryConfig {
	fn validate(&self) -> Result<(), String> {
		if !(self.endpoint.starts_with("http://") || self.endpoint.starts_with("https://")) {
			return Err(format!("`endpoint` {} must be an http:// or https:// URL", self.endpoint));
		}
		if self.retention == 0 {
			return Err("`retention` must be at least 1 block".into());
		}
		validate_access(&self.registry)
	}
}

/// `--solver <file>`: a solver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverConfig {
	/// SS58 account whose `mdcm` key signs; the keystore's only one if omitted.
	pub account: Option<Account>,
	/// The most matches posted per block.
	#[serde(default = "default_matches_per_block")]
	pub matches_per_block: usize,
}

fn default_matches_per_block() -> usize {
	32
}

impl Validate for SolverConfig {
	fn validate(&self) -> Result<(), String> {
		if self.matches_per_block == 0 {
			return Err("`matches_per_block` must be at least 1".into());
		}
		Ok(())
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_typo_in_a_role_file_is_an_error() {
		let provider: Result<ProviderConfig, _> = toml::from_str(
			"architecture = \"amd64\"\nspeed = 1000\ntrusted_mediators = []\ntrusted_directories = []\nbase_layers = []\n[offer]\ncpu = 1\nmemory = 64\nstorage = 1\nbandwidth = 1\ncpu_price = 1000000\nbandwidth_price = \"1 uMDC\"\ndeposit = \"100 MDC\"\nwindow = 600\nsped = 1\n",
		);
		assert!(
			provider.unwrap_err().to_string().contains("unknown field `sped`"),
			"typos are errors"
		);
	}
}
