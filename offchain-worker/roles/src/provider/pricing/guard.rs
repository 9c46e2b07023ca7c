//! Which electricity prices are believed (`docs/how-to/price-by-electricity.md#which-prices-are-believed`).
//!
//! - A price below `min_price` or above `max_price` is never taken, however often it is read.
//! - A price more than `max_change_percent` away from the last good price is not taken at once:
//!   a source that glitches once, or is tampered with for a moment, does not move the ask.
//! - Such a move is taken when `confirm_readings` readings in a row all lie within
//!   `max_change_percent` of the first of them: a real, sustained move of the tariff is followed
//!   after `confirm_readings` reads. A reading that fits the last good price, or falls outside
//!   the bounds, ends the run; a read that gives no price at all leaves it as it is.
//! - The first price since the start has nothing to compare with: only the bounds apply.
//!
//! Pure: the last good price is the caller's, the guard keeps only the run of readings beyond
//! the limit.

use crate::config::PriceGuard;
use modicum_common::amount::mdc;
use modicum_runtime::Balance;

/// What becomes of one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
	/// It is the new good price; `confirmed` when it moved beyond `max_change_percent` and was
	/// confirmed by `confirm_readings` readings in a row.
	Taken {
		/// Whether it was taken by confirmation.
		confirmed: bool,
	},
	/// It is not believed: the last good price stays (and ages).
	Refused(Refusal),
}

/// Why a reading is not believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
	/// Below `min_price`.
	BelowMin {
		/// `min_price`, planck per kWh.
		min: Balance,
	},
	/// Above `max_price`.
	AboveMax {
		/// `max_price`, planck per kWh.
		max: Balance,
	},
	/// More than `max_change_percent` away from the last good price, and not yet confirmed.
	TooFast {
		/// The last good price, planck per kWh.
		last: Balance,
		/// `max_change_percent`.
		max_change_percent: u32,
		/// Readings in a row at this new level, this one included.
		seen: u32,
		/// `confirm_readings`: the readings in a row that take it.
		needed: u32,
	},
}

impl Refusal {
	/// The rule that refused: the key of `[price]` that sets it, and the `rule` label of
	/// `modicum_provider_price_rejected_total`.
	pub fn rule(&self) -> &'static str {
		match self {
			Refusal::BelowMin { .. } => "min_price",
			Refusal::AboveMax { .. } => "max_price",
			Refusal::TooFast { .. } => "max_change_percent",
		}
	}
}

impl std::fmt::Display for Refusal {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Refusal::BelowMin { min } => write!(f, "below `price.min_price` {}", mdc(*min)),
			Refusal::AboveMax { max } => write!(f, "above `price.max_price` {}", mdc(*max)),
			Refusal::TooFast { last, max_change_percent, seen, needed } => write!(
				f,
				"more than `price.max_change_percent` {max_change_percent} % away from the last good price {}; read {seen} time(s) in a row at this level, taken at {needed} (`price.confirm_readings`)",
				mdc(*last)
			),
		}
	}
}

/// The readings in a row beyond the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
	/// The first of them: the others lie within `max_change_percent` of it.
	first: Balance,
	/// How many.
	seen: u32,
}

/// The guard of one price source: its rules and the run of readings beyond the limit.
#[derive(Clone, Debug)]
pub struct Guard {
	terms: PriceGuard,
	run: Option<Run>,
}

impl Guard {
	/// A guard with `terms` and no reading yet.
	pub fn new(terms: PriceGuard) -> Self {
		Self { terms, run: None }
	}

	/// Judges `price`, planck per kWh, just read, against `last`, the last good price (`None`
	/// before the first): whether it becomes the new good price.
	pub fn judge(&mut self, price: Balance, last: Option<Balance>) -> Verdict {
		let terms = self.terms;
		if let Some(min) = terms.min_price.filter(|min| price < *min) {
			self.run = None;
			return Verdict::Refused(Refusal::BelowMin { min });
		}
		if let Some(max) = terms.max_price.filter(|max| price > *max) {
			self.run = None;
			return Verdict::Refused(Refusal::AboveMax { max });
		}
		let Some(last) = last else {
			self.run = None;
			return Verdict::Taken { confirmed: false };
		};
		if within(price, last, terms.max_change_percent) {
			self.run = None;
			return Verdict::Taken { confirmed: false };
		}
		let run = match self.run {
			Some(run) if within(price, run.first, terms.max_change_percent) => {
				Run { first: run.first, seen: run.seen.saturating_add(1) }
			}
			_ => Run { first: price, seen: 1 },
		};
		if run.seen >= terms.confirm_readings {
			self.run = None;
			return Verdict::Taken { confirmed: true };
		}
		self.run = Some(run);
		Verdict::Refused(Refusal::TooFast {
			last,
			max_change_percent: terms.max_change_percent,
			seen: run.seen,
			needed: terms.confirm_readings,
		})
	}
}

/// Whether `price` lies within `percent` % of `reference`: |price − reference| ≤
/// reference × percent / 100, computed without overflow (a bound beyond `u128` bounds nothing).
pub(super) fn within(price: Balance, reference: Balance, percent: u32) -> bool {
	let percent = Balance::from(percent);
	// reference = 100 q + r: reference × percent / 100 = q × percent + r × percent / 100, whose
	// floor is q × percent + ⌊r × percent / 100⌋; the difference is whole, so comparing with
	// the floor is exact.
	let allowed = (reference / 100)
		.checked_mul(percent)
		.and_then(|whole| whole.checked_add(reference % 100 * percent / 100));
	allowed.is_none_or(|allowed| price.abs_diff(reference) <= allowed)
}
