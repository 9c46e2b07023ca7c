//! Amounts of MDC as people write and read them.

use modicum_runtime::{Balance, MDC};
use serde::{de::Error as _, Deserialize, Deserializer};
use std::str::FromStr;

/// An amount of MDC: an integer of planck (10⁻¹² MDC), or a string with a unit —
/// `"100 MDC"`, `"0.5 MDC"`, `"10 mMDC"`, `"1 uMDC"`, `"1000 planck"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(pub Balance);

impl FromStr for Amount {
	type Err = String;
	fn from_str(text: &str) -> Result<Self, String> {
		let bad = || {
			format!("`{text}` is not an amount like \"100 MDC\", \"10 mMDC\" or \"1000 planck\"")
		};
		let (number, unit) = text.trim().split_once(' ').ok_or_else(bad)?;
		let decimals: u32 = match unit.trim() {
			"MDC" => 12,
			"mMDC" => 9,
			"uMDC" => 6,
			"planck" => 0,
			_ => return Err(bad()),
		};
		let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
		if fraction.len() > decimals as usize
			|| whole.is_empty()
			|| !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())
		{
			return Err(bad());
		}
		let digits = format!("{whole}{fraction:0<width$}", width = decimals as usize);
		digits.parse::<Balance>().map(Amount).map_err(|_| bad())
	}
}

impl<'de> Deserialize<'de> for Amount {
	fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		#[derive(Deserialize)]
		#[serde(untagged)]
		enum Raw {
			Planck(u64),
			Text(String),
		}
		match Raw::deserialize(deserializer)? {
			Raw::Planck(planck) => Ok(Amount(planck.into())),
			Raw::Text(text) => text.parse().map_err(D::Error::custom),
		}
	}
}

impl std::fmt::Display for Amount {
	/// In MDC with no trailing zeros (`0.03 MDC`): what [`Amount::from_str`] reads back.
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		let whole = self.0 / MDC;
		let fraction = self.0 % MDC;
		if fraction == 0 {
			return write!(f, "{whole} MDC");
		}
		let digits = format!("{fraction:012}");
		write!(f, "{whole}.{} MDC", digits.trim_end_matches('0'))
	}
}

/// An amount in MDC, for people.
pub fn mdc(amount: Balance) -> String {
	Amount(amount).to_string()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn amounts_read_back_what_they_print() {
		for planck in [0, 1, MDC, MDC / 100 * 3, 123 * MDC + 456_000, Balance::from(u64::MAX)] {
			assert_eq!(mdc(planck).parse::<Amount>(), Ok(Amount(planck)), "{}", mdc(planck));
		}
		assert_eq!(mdc(MDC * 3 / 100), "0.03 MDC");
		assert_eq!("10 mMDC".parse::<Amount>(), Ok(Amount(MDC / 100)));
		assert!("10 MDC extra".parse::<Amount>().is_err());
		assert_eq!("0.5 MDC".parse::<Amount>(), Ok(Amount(500_000_000_000)));
		assert_eq!("3 planck".parse::<Amount>(), Ok(Amount(3)));
		assert!("5 DOT".parse::<Amount>().is_err());
		assert!("-1 MDC".parse::<Amount>().is_err());
		assert!("0.0000000000001 MDC".parse::<Amount>().is_err());
	}
}
