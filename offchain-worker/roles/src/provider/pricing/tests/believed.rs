//! Which electricity prices are believed: the bounds, the change limit and the confirmation of
//! a sustained move ([`guard`]), and how a refusal is reported.

use super::*;
use guard::{Guard, Refusal, Verdict};
use std::sync::Mutex as SyncMutex;

/// The events logged on this thread while it lives, one line each: `LEVEL target field=value…`.
struct Logged {
	lines: Arc<SyncMutex<Vec<String>>>,
	_default: tracing::subscriber::DefaultGuard,
}

impl Logged {
	fn start() -> Self {
		let lines = Arc::new(SyncMutex::new(Vec::new()));
		let default = tracing::subscriber::set_default(Capture(lines.clone()));
		Self { lines, _default: default }
	}

	/// Whether one line holds every part of `parts`.
	fn has(&self, parts: &[&str]) -> bool {
		let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
		lines.iter().any(|line| parts.iter().all(|part| line.contains(part)))
	}
}

/// A subscriber writing each event as a line.
struct Capture(Arc<SyncMutex<Vec<String>>>);

impl tracing::Subscriber for Capture {
	fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
		true
	}
	fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
		tracing::span::Id::from_u64(1)
	}
	fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
	fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
	fn event(&self, event: &tracing::Event<'_>) {
		struct Line(String);
		impl tracing::field::Visit for Line {
			fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
				self.0.push_str(&format!(" {}={value:?}", field.name()));
			}
		}
		let metadata = event.metadata();
		let mut line = Line(format!("{} {}", metadata.level(), metadata.target()));
		event.record(&mut line);
		self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line.0);
	}
	fn enter(&self, _: &tracing::span::Id) {}
	fn exit(&self, _: &tracing::span::Id) {}
}

/// The rejections counted under `rule`.
fn rejected(registry: &substrate_prometheus_endpoint::Registry, rule: &str) -> f64 {
	metric(registry, "modicum_provider_price_rejected_total", Some(("rule", rule)))
}

/// The last good price, planck per kWh.
fn believed(pricing: &mut Pricing) -> Option<Balance> {
	terms(pricing).reading.map(|r| r.kwh_price)
}

#[tokio::test]
async fn a_price_source_jumping_a_thousandfold_keeps_the_last_good_price_and_is_reported() {
	let scratch = Scratch::new("pricing-jump");
	let tariff = scratch.0.join("electricity-price");
	let shown = tariff.display().to_string();
	write(&tariff, "100 MDC");
	let (mut pricing, registry) = measured(&electricity(&shown, ""));
	let logged = Logged::start();
	let t0 = Instant::now();
	let good = ask(1_200_000, MICRO_MDC);
	assert_eq!(pricing.quote(t0, &[]).await, good);

	// A thousandfold rise, then a thousandfold fall: neither is taken, each is reported with
	// the value and the rule.
	for (i, (text, price)) in
		[("100000 MDC", 100_000 * MDC), ("0.1 MDC", MDC / 10)].iter().enumerate()
	{
		write(&tariff, text);
		let now = t0 + (2 * i as u32 + 2) * S;
		assert_eq!(pricing.quote(now, &[]).await, good, "{text}: the last good price stays");
		assert_eq!(believed(&mut pricing), Some(100 * MDC));
		assert!(
			logged.has(&[
				"WARN modicum",
				"not believed",
				&format!(" price={price} "),
				"rule=\"max_change_percent\"",
				"`price.max_change_percent` 50 %",
			]),
			"{text} is reported: {:?}",
			logged.lines.lock().unwrap_or_else(|e| e.into_inner())
		);
	}
	assert_eq!(rejected(&registry, "max_change_percent"), 2.0);
	assert_eq!(rejected(&registry, "max_price"), 0.0);
	assert_eq!(metric(&registry, "modicum_provider_electricity_price", None), 100e12);
	assert_eq!(metric(&registry, "modicum_provider_cpu_ask", None), 1_200_000.0);

	// Back to normal, the source is believed at once. Glitches that never last
	// `confirm_readings` (3) reads in a row are never taken, however often they come back.
	for (seconds, text, taken) in [
		(6, "100 MDC", true),
		(8, "100000 MDC", false),
		(10, "100000 MDC", false),
		(12, "100 MDC", true),
	] {
		write(&tariff, text);
		let at = t0 + seconds * S;
		assert_eq!(pricing.quote(at, &[]).await, good, "{text} at {seconds} s");
		assert_eq!(believed(&mut pricing), Some(100 * MDC));
		assert_eq!(
			terms(&mut pricing).reading.map(|r| r.at == at),
			Some(taken),
			"{text} at {seconds} s"
		);
	}
	assert_eq!(rejected(&registry, "max_change_percent"), 4.0);

	// The error names the source, the value, the rule and the last good price.
	write(&tariff, "100000 MDC");
	let error = terms(&mut pricing).refresh(t0 + 14 * S).await.expect_err("a jump");
	let PricingError::Refused { kwh_price, refusal, .. } = &error else { panic!("{error}") };
	assert_eq!(*kwh_price, 100_000 * MDC);
	assert_eq!(
		*refusal,
		Refusal::TooFast { last: 100 * MDC, max_change_percent: 50, seen: 1, needed: 3 }
	);
	assert_eq!(refusal.rule(), "max_change_percent");
	let message = error.to_string();
	for part in [
		shown.as_str(),
		"100000 MDC per kWh",
		"`price.max_change_percent` 50 %",
		"100 MDC;",
		"not taken",
	] {
		assert!(message.contains(part), "{message} should say {part}");
	}
}

#[tokio::test]
async fn a_price_outside_the_bounds_is_never_believed() {
	let scratch = Scratch::new("pricing-bounds");
	let tariff = scratch.0.join("electricity-price");
	let shown = tariff.display().to_string();
	let (mut pricing, registry) =
		measured(&electricity(&shown, "min_price = \"10 MDC\"\nmax_price = \"1000 MDC\""));
	let t0 = Instant::now();

	// The first price has nothing to compare with, but the bounds hold for it too.
	write(&tariff, "5 MDC");
	assert_eq!(pricing.quote(t0, &[]).await, Quote::Withdraw { reason: Unpriced::NeverRead });
	assert_eq!(rejected(&registry, "min_price"), 1.0);
	write(&tariff, "100 MDC");
	assert_eq!(pricing.quote(t0 + 2 * S, &[]).await, ask(1_200_000, MICRO_MDC));

	// Above max_price: refused at every read, more often than any move would need to be
	// confirmed; the last good price ages meanwhile, and past max_age_seconds every offer goes.
	write(&tariff, "2000 MDC");
	for seconds in [4, 6, 8, 10, 12] {
		assert_eq!(pricing.quote(t0 + seconds * S, &[]).await, ask(1_200_000, MICRO_MDC));
	}
	assert_eq!(
		pricing.quote(t0 + 14 * S, &[]).await,
		Quote::Withdraw { reason: Unpriced::Stale { age: 12 * S, max_age: 10 * S } }
	);
	assert_eq!(believed(&mut pricing), Some(100 * MDC));
	assert_eq!(rejected(&registry, "max_price"), 6.0);
	assert_eq!(rejected(&registry, "max_change_percent"), 0.0, "the bound refuses first");
	let error = terms(&mut pricing).refresh(t0 + 16 * S).await.expect_err("above the bound");
	let message = error.to_string();
	assert!(
		message.contains("2000 MDC per kWh")
			&& message.contains("above `price.max_price` 1000 MDC"),
		"{message}"
	);
	write(&tariff, "9.999 MDC");
	let error = terms(&mut pricing).refresh(t0 + 18 * S).await.expect_err("below the bound");
	assert!(error.to_string().contains("below `price.min_price` 10 MDC"), "{error}");

	// The bounds themselves are believable prices.
	let mut guard = Guard::new(PriceGuard {
		min_price: Some(10),
		max_price: Some(1000),
		max_change_percent: 10_000,
		confirm_readings: 2,
	});
	assert_eq!(guard.judge(10, None), Verdict::Taken { confirmed: false });
	assert_eq!(guard.judge(1000, Some(10)), Verdict::Taken { confirmed: false });
	assert_eq!(guard.judge(9, Some(1000)), Verdict::Refused(Refusal::BelowMin { min: 10 }));
	assert_eq!(guard.judge(1001, Some(1000)), Verdict::Refused(Refusal::AboveMax { max: 1000 }));
}

#[tokio::test]
async fn a_sustained_real_move_is_followed_after_k_readings() {
	let scratch = Scratch::new("pricing-move");
	let tariff = scratch.0.join("electricity-price");
	let (mut pricing, registry) = measured(&electricity(&tariff.display().to_string(), ""));
	let logged = Logged::start();
	let t0 = Instant::now();
	write(&tariff, "100 MDC");
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));

	// The tariff triples and stays there (give or take): the 1st and 2nd readings at the new
	// level are refused, a read that fails in between neither counts nor breaks the run, and
	// the 3rd (`confirm_readings`) is taken.
	write(&tariff, "300 MDC");
	assert_eq!(pricing.quote(t0 + 2 * S, &[]).await, ask(1_200_000, MICRO_MDC));
	std::fs::remove_file(&tariff).expect("removed");
	assert_eq!(pricing.quote(t0 + 4 * S, &[]).await, ask(1_200_000, MICRO_MDC));
	write(&tariff, "290 MDC");
	assert_eq!(pricing.quote(t0 + 6 * S, &[]).await, ask(1_200_000, MICRO_MDC));
	write(&tariff, "310 MDC");
	// 310 MDC at 36 W: 3.1 uMDC per cpu unit, 3.72 uMDC with the 20 % margin.
	assert_eq!(pricing.quote(t0 + 8 * S, &[]).await, ask(3_720_000, 3_100_000));
	assert_eq!(rejected(&registry, "max_change_percent"), 2.0);
	assert!(logged.has(&[
		"WARN modicum",
		"taking it",
		&format!(" price={} ", 310 * MDC),
		"readings=3"
	]));
	// From the new level, small moves are taken at once.
	write(&tariff, "320 MDC");
	assert_eq!(pricing.quote(t0 + 10 * S, &[]).await, ask(3_840_000, 3_200_000));

	// The rule alone, with `confirm_readings` = 2: a run counts readings within
	// `max_change_percent` of its first; one that is not starts a new run, and one back near
	// the last good price ends it.
	let mut guard = Guard::new(PriceGuard {
		min_price: None,
		max_price: None,
		max_change_percent: 50,
		confirm_readings: 2,
	});
	let too_fast = |seen| {
		Verdict::Refused(Refusal::TooFast { last: 100, max_change_percent: 50, seen, needed: 2 })
	};
	assert_eq!(
		guard.judge(100_000, None),
		Verdict::Taken { confirmed: false },
		"the first: only the bounds"
	);
	assert_eq!(guard.judge(1000, Some(100)), too_fast(1));
	assert_eq!(guard.judge(120, Some(100)), Verdict::Taken { confirmed: false });
	assert_eq!(guard.judge(1000, Some(100)), too_fast(1), "the run was ended");
	assert_eq!(guard.judge(5000, Some(100)), too_fast(1), "not within 50 % of 1000: a new run");
	assert_eq!(guard.judge(4000, Some(100)), Verdict::Taken { confirmed: true });
	assert_eq!(
		guard.judge(7000, Some(4000)),
		Verdict::Refused(Refusal::TooFast {
			last: 4000,
			max_change_percent: 50,
			seen: 1,
			needed: 2
		})
	);
}

#[test]
fn the_change_limit_is_exact_at_its_edges_and_never_overflows() {
	assert!(guard::within(150, 100, 50) && guard::within(50, 100, 50));
	assert!(!guard::within(151, 100, 50) && !guard::within(49, 100, 50));
	assert!(guard::within(100, 100, 1));
	// 1 % of 150 is 1.5: 151 is within, 152 is not.
	assert!(guard::within(151, 150, 1) && !guard::within(152, 150, 1));
	assert!(guard::within(0, 100, 100), "100 % allows any fall");
	assert!(
		guard::within(300 * MDC, 100 * MDC, 200) && !guard::within(300 * MDC + 1, 100 * MDC, 200)
	);
	// Near u128::MAX nothing overflows: the bound is computed in parts.
	let half = Balance::MAX / 2 + 1;
	assert!(guard::within(Balance::MAX, half, 100));
	assert!(!guard::within(Balance::MAX, Balance::MAX / 3, 100));
	assert!(!guard::within(Balance::MAX, 1, 10_000));
	assert!(guard::within(1, Balance::MAX, 10_000), "a bound beyond u128 bounds nothing");
}
