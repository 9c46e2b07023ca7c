//! The price policy's arithmetic and sources; which prices are believed ([`believed`]) and
//! `https://` sources ([`https`]) have files of their own.

mod believed;
mod https;

use super::*;
use crate::config::{Amount, PriceGuard, Validate};
use modicum_common::scratch::Scratch;
use modicum_runtime::{MDC, MICRO_MDC};
use pallet_market::{ImageOf, MaxFees, Resources};
use std::{path::Path, sync::Arc};
use tokio::{
	io::{AsyncReadExt, AsyncWriteExt},
	sync::Mutex,
};

const DIRECTORY: &str = "5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy";
const LAYER: [u8; 32] = [7; 32];

/// A provider asking 2 uMDC per cpu unit and 1000 planck per KiB, with `price` as its
/// `[price]` section, checked as `load` checks it.
fn config(price: &str) -> Result<ProviderConfig, String> {
	let text = format!(
		"architecture = \"amd64\"\nspeed = 1000\ntrusted_mediators = []\ntrusted_directories = [\"{DIRECTORY}\"]\nbase_layers = [\"sha256:{}\"]\n[offer]\ncpu = 60000\nmemory = 256\nstorage = 16\nbandwidth = 1024\ncpu_price = \"2 uMDC\"\nbandwidth_price = \"1000 planck\"\ndeposit = \"100 MDC\"\nwindow = 600\n{price}",
		hex::encode(LAYER)
	);
	let config: ProviderConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
	config.validate()?;
	Ok(config)
}

/// `policy = "electricity"` reading `source`, 36 W per core, 20 % margin, a read every 2 s
/// trusted for 10 s; `more` adds lines.
fn electricity(source: &str, more: &str) -> ProviderConfig {
	config(&format!(
		"[price]\npolicy = \"electricity\"\nelectricity_price = \"{source}\"\nwatts_per_core = 36\nmargin_percent = 20\nrefresh_seconds = 2\nmax_age_seconds = 10\n{more}"
	))
	.expect("a valid configuration")
}

fn pricing(config: &ProviderConfig) -> Pricing {
	Pricing::new(config, Metrics::new(None).expect("metrics")).expect("a valid policy")
}

fn terms(pricing: &mut Pricing) -> &mut Electricity {
	match &mut pricing.policy {
		Policy::Electricity(electricity) => electricity,
		Policy::Fixed { .. } => panic!("not the electricity policy"),
	}
}

fn ask(cpu: Balance, floor: Balance) -> Quote {
	Quote::Ask { cpu, bandwidth: 1000, floor }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) {
	std::fs::write(path, bytes).expect("the scratch folder is writable");
}

/// The value of metric `name` in `registry`, of its series with `label` if given; 0 for a
/// series never counted.
fn metric(
	registry: &substrate_prometheus_endpoint::Registry,
	name: &str,
	label: Option<(&str, &str)>,
) -> f64 {
	let Some(family) = registry.gather().into_iter().find(|f| f.get_name() == name) else {
		return 0.0;
	};
	let series = family.get_metric().iter().find(|m| {
		label.is_none_or(|(key, value)| {
			m.get_label().iter().any(|l| l.get_name() == key && l.get_value() == value)
		})
	});
	match series {
		None => 0.0,
		Some(m) if name.ends_with("_total") => m.get_counter().get_value(),
		Some(m) => m.get_gauge().get_value(),
	}
}

/// Pricing whose metrics are registered in a registry of its own.
fn measured(config: &ProviderConfig) -> (Pricing, substrate_prometheus_endpoint::Registry) {
	let registry = substrate_prometheus_endpoint::Registry::new();
	let metrics = Metrics::new(Some(&registry)).expect("metrics register");
	(Pricing::new(config, metrics).expect("a valid policy"), registry)
}

const S: Duration = Duration::from_secs(1);

#[tokio::test]
async fn the_fixed_policy_asks_the_configured_prices_and_never_withdraws() {
	for section in ["", "[price]\npolicy = \"fixed\"\n"] {
		let mut pricing = pricing(&config(section).expect("a valid configuration"));
		assert!(!pricing.follows_market());
		let t0 = Instant::now();
		let quote = pricing.quote(t0, &[10 * MICRO_MDC]).await;
		assert_eq!(quote, ask(2 * MICRO_MDC, 0), "offer.cpu_price, bids or not");
		assert_eq!(pricing.quote(t0 + 100_000 * S, &[]).await, quote, "a fixed ask never ages");
		assert!(quote.to_withdraw(&[(1, 0), (2, MICRO_MDC)]).is_empty());
	}
}

#[tokio::test]
async fn the_electricity_ask_rounds_up_and_includes_the_margin() {
	// 100 MDC per kWh at 36 W per core: a cpu unit (1 ms) draws 36 W·ms = 36 / 3.6·10⁹ kWh,
	// so it costs 100 MDC × 10⁻⁸ = 10⁻⁶ MDC = 1 uMDC = 10⁶ planck, exactly.
	let price: Amount = "100 MDC".parse().expect("an amount");
	assert_eq!(price.0, 100 * MDC);
	assert_eq!(cost_floor(price.0, 36), Some(MICRO_MDC));
	assert_eq!(cost_ask(MICRO_MDC, 0), Some(MICRO_MDC));
	assert_eq!(cost_ask(MICRO_MDC, 20), Some(1_200_000));
	// 0.3 MDC per kWh at 35 W: 0.3·10¹² × 35 / 3.6·10⁹ = 2916.67 planck → 2917; × 1.2 =
	// 3500.4 → 3501. Any fraction of a planck rounds up, never down.
	let tariff: Amount = "300 mMDC".parse().expect("an amount");
	assert_eq!(cost_floor(tariff.0, 35), Some(2917));
	assert_eq!(cost_ask(2917, 20), Some(3501));
	assert_eq!(cost_floor(1, 1), Some(1), "a sliver of a planck is a planck");
	assert_eq!(cost_ask(1, 20), Some(2));

	let scratch = Scratch::new("pricing-margin");
	let tariff = scratch.0.join("electricity-price");
	write(&tariff, "100 MDC\n");
	let mut pricing = pricing(&electricity(&tariff.display().to_string(), ""));
	let quote = pricing.quote(Instant::now(), &[]).await;
	assert_eq!(
		quote,
		ask(1_200_000, MICRO_MDC),
		"the bandwidth ask stays offer.bandwidth_price"
	);
}

#[tokio::test]
async fn a_price_rise_withdraws_the_cheaper_offers_and_raises_the_ask() {
	let scratch = Scratch::new("pricing-rise");
	let tariff = scratch.0.join("electricity-price");
	write(&tariff, "100 MDC");
	// A doubling in one read: within a change limit of 100 %.
	let (mut pricing, registry) =
		measured(&electricity(&tariff.display().to_string(), "max_change_percent = 100"));
	let t0 = Instant::now();
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));

	write(&tariff, "200 MDC");
	assert_eq!(pricing.quote(t0 + S, &[]).await, ask(1_200_000, MICRO_MDC), "read every 2 s");
	let quote = pricing.quote(t0 + 2 * S, &[]).await;
	assert_eq!(quote, ask(2_400_000, 2 * MICRO_MDC));
	// Posted at the old ask, or anywhere below the new cost: matched, it would lose money.
	let open = [(7, 1_200_000), (8, 2 * MICRO_MDC - 1), (9, 2 * MICRO_MDC), (10, 2_400_000)];
	assert_eq!(quote.to_withdraw(&open), vec![7, 8]);
	for (offer, cpu_ask) in &open[..2] {
		pricing.withdrawn(*offer, *cpu_ask, &quote);
	}

	let value = |name: &str| metric(&registry, name, None);
	assert_eq!(value("modicum_provider_cpu_ask"), 2_400_000.0);
	assert_eq!(value("modicum_provider_cost_floor"), 2_000_000.0);
	assert_eq!(value("modicum_provider_electricity_price"), 200e12);
	assert_eq!(value("modicum_provider_offers_withdrawn_total"), 2.0);
}

#[tokio::test]
async fn a_failing_source_keeps_the_last_price_until_max_age_then_withdraws_everything() {
	let scratch = Scratch::new("pricing-stale");
	let tariff = scratch.0.join("electricity-price");
	let mut pricing = pricing(&electricity(&tariff.display().to_string(), ""));
	let t0 = Instant::now();
	// Never read: nothing to ask.
	let quote = pricing.quote(t0, &[]).await;
	assert_eq!(quote, Quote::Withdraw { reason: Unpriced::NeverRead });
	assert_eq!(quote.to_withdraw(&[(1, u128::MAX)]), vec![1]);

	write(&tariff, "100 MDC");
	assert_eq!(pricing.quote(t0 + 2 * S, &[]).await, ask(1_200_000, MICRO_MDC));
	std::fs::remove_file(&tariff).expect("removed");
	assert_eq!(pricing.quote(t0 + 4 * S, &[]).await, ask(1_200_000, MICRO_MDC));
	assert_eq!(pricing.quote(t0 + 12 * S, &[]).await, ask(1_200_000, MICRO_MDC), "10 s old");
	let quote = pricing.quote(t0 + 13 * S, &[]).await;
	assert_eq!(
		quote,
		Quote::Withdraw { reason: Unpriced::Stale { age: 11 * S, max_age: 10 * S } }
	);
	let Quote::Withdraw { reason } = quote else { panic!("{quote:?}") };
	assert!(reason.to_string().contains("is 11 s old, older than max_age_seconds = 10"));
	assert_eq!(quote.to_withdraw(&[(1, 5 * MICRO_MDC), (2, u128::MAX)]), vec![1, 2]);

	// The source back: the next read prices again.
	write(&tariff, "100 MDC");
	assert!(matches!(pricing.quote(t0 + 13 * S, &[]).await, Quote::Withdraw { .. }), "not due");
	assert_eq!(pricing.quote(t0 + 14 * S, &[]).await, ask(1_200_000, MICRO_MDC));
}

#[tokio::test]
async fn a_too_big_garbage_or_negative_source_is_an_error_that_changes_nothing() {
	let scratch = Scratch::new("pricing-hostile");
	let tariff = scratch.0.join("electricity-price");
	let shown = tariff.display().to_string();
	write(&tariff, "100 MDC");
	let mut pricing = pricing(&electricity(&shown, ""));
	let t0 = Instant::now();
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));
	let good = terms(&mut pricing).reading;

	let mut too_big = b"100 MDC".to_vec();
	too_big.resize(MAX_SOURCE_BYTES + 1, b' ');
	let cases: [(&[u8], &str); 7] = [
		(&too_big, "holds more than 4096 bytes"),
		(b"cheap", "does not hold the price of 1 kWh"),
		(b"-1 MDC", "does not hold the price of 1 kWh"),
		(b"0 MDC", "a price of 0"),
		(b"0.3", "does not hold the price of 1 kWh"),
		(b"1 MDC\n2 MDC", "does not hold the price of 1 kWh"),
		(b"\xff\xfe100 MDC", "not UTF-8"),
	];
	for (i, (bytes, expected)) in cases.into_iter().enumerate() {
		write(&tariff, bytes);
		let now = t0 + (i as u32 + 1) * S;
		let error =
			terms(&mut pricing).refresh(now).await.expect_err("not a price").to_string();
		assert!(error.contains(expected) && error.contains(&shown), "{error}");
		assert_eq!(terms(&mut pricing).reading, good, "the last good price stays");
		assert_eq!(pricing.quote(now, &[]).await, ask(1_200_000, MICRO_MDC));
	}
	// A full 4 KiB is still a price; an endless file is cut at the limit.
	let mut padded = b"100 MDC".to_vec();
	padded.resize(MAX_SOURCE_BYTES, b'\n');
	write(&tariff, padded);
	assert!(terms(&mut pricing).refresh(t0).await.is_ok());
	let mut endless = self::pricing(&electricity("/dev/zero", ""));
	let error = terms(&mut endless).refresh(t0).await.expect_err("endless");
	assert!(matches!(error, PricingError::TooLarge { .. }), "{error}");
}

#[tokio::test]
async fn an_absurd_price_overflows_into_an_error_not_a_panic() {
	assert_eq!(cost_floor(Balance::MAX, 2), None);
	assert_eq!(cost_floor(Balance::MAX, 1), Some(Balance::MAX.div_ceil(WATT_MS_PER_KWH)));
	assert_eq!(cost_ask(Balance::MAX / 100, 1), None);

	let scratch = Scratch::new("pricing-overflow");
	let tariff = scratch.0.join("electricity-price");
	write(&tariff, "100 MDC");
	let mut pricing = pricing(&electricity(&tariff.display().to_string(), ""));
	let t0 = Instant::now();
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));
	// 3·10³⁸ planck fits a u128; × 36 W does not.
	write(&tariff, "300000000000000000000000000 MDC");
	let error = terms(&mut pricing).refresh(t0 + 2 * S).await.expect_err("overflow");
	assert!(matches!(error, PricingError::Overflow { .. }), "{error}");
	// Beyond a u128 altogether: not an amount.
	write(&tariff, "1000000000000000000000000000 MDC");
	let error = terms(&mut pricing).refresh(t0 + 2 * S).await.expect_err("not an amount");
	assert!(matches!(error, PricingError::Invalid { .. }), "{error}");
	assert_eq!(pricing.quote(t0 + 2 * S, &[]).await, ask(1_200_000, MICRO_MDC));
}

/// A job offer a provider of `config` can serve at block 100 with an offer open until 700.
fn job(cpu_bid: Balance) -> (OfferId, JobOfferOf<Runtime>) {
	let directory = config("").expect("valid").trusted_directories[0].0.clone();
	let offer = JobOfferOf::<Runtime> {
		creator: sp_core::crypto::AccountId32::new([1; 32]),
		limits: Resources { cpu: 60_000, memory: 256, storage: 16, bandwidth: 1024 },
		architecture: Architecture::Amd64,
		image: ImageOf::<Runtime> {
			repository: b"jobs/fib".to_vec().try_into().expect("short"),
			digest: [9; 32],
		},
		base_layer: LAYER,
		directory,
		cpu_bid,
		bandwidth_bid: 1000,
		completion_deadline: 400,
		max_fees: MaxFees { mediator: MDC, directory: MDC },
		min_reputation: None,
		run_length: 60,
		deposit: 1_000 * MDC,
		state: OfferState::Open,
	};
	(cpu_bid as OfferId, offer)
}

#[tokio::test]
async fn follow_market_never_asks_below_cost_and_asks_the_median_of_fitting_bids() {
	assert_eq!(median(&[]), None);
	assert_eq!(median(&[5]), Some(5));
	assert_eq!(median(&[9, 1, 5]), Some(5));
	assert_eq!(median(&[4, 1, 3, 2]), Some(2), "the lower middle: half the bids reach it");

	// Which open job offers a resource offer could serve: one of each kind that cannot.
	let config = config("").expect("valid");
	let fits = job(3 * MICRO_MDC);
	let unfit = |change: fn(&mut JobOfferOf<Runtime>)| {
		let (id, mut offer) = job(99 * MICRO_MDC);
		change(&mut offer);
		(id, offer)
	};
	let jobs = [
		job(MICRO_MDC),
		fits.clone(),
		unfit(|j| j.architecture = Architecture::Arm64),
		unfit(|j| j.limits.cpu = 60_001),
		unfit(|j| j.limits.memory = 257),
		unfit(|j| j.base_layer = [8; 32]),
		unfit(|j| j.directory = sp_core::crypto::AccountId32::new([2; 32])),
		unfit(|j| j.bandwidth_bid = 999),
		unfit(|j| j.completion_deadline = 701),
		unfit(|j| j.completion_deadline = 99),
		// 60 000 cpu units at 1 000 per block need 60 blocks.
		unfit(|j| j.completion_deadline = 159),
		unfit(|j| j.state = OfferState::Matched(1)),
	];
	let mut bids = fitting_bids(&config, 100, 700, &jobs);
	bids.sort_unstable();
	assert_eq!(bids, vec![MICRO_MDC, 3 * MICRO_MDC]);

	let scratch = Scratch::new("pricing-market");
	let tariff = scratch.0.join("electricity-price");
	write(&tariff, "100 MDC");
	let source = tariff.display().to_string();
	let mut pricing = pricing(&electricity(&source, "follow_market = true"));
	assert!(pricing.follows_market());
	let t0 = Instant::now();
	let bids = [3 * MICRO_MDC, 2 * MICRO_MDC, 9 * MICRO_MDC];
	assert_eq!(pricing.quote(t0, &bids).await, ask(3 * MICRO_MDC, MICRO_MDC));
	let cheap = [500_000, 600_000, 9 * MICRO_MDC];
	assert_eq!(pricing.quote(t0, &cheap).await, ask(1_200_000, MICRO_MDC), "never below cost");
	assert_eq!(
		pricing.quote(t0, &[]).await,
		ask(1_200_000, MICRO_MDC),
		"no bids: the cost ask"
	);
	// An offer asking the market's price but below the cost floor still loses money.
	assert_eq!(
		ask(3 * MICRO_MDC, MICRO_MDC).to_withdraw(&[(1, 900_000), (2, MICRO_MDC)]),
		vec![1]
	);

	let mut own = self::pricing(&electricity(&source, ""));
	assert!(!own.follows_market());
	assert_eq!(own.quote(t0, &bids).await, ask(1_200_000, MICRO_MDC), "bids ignored");
}

/// An HTTP server answering every request with what `answer` holds (status, body), or
/// holding the connection without a word while it holds `None`.
async fn serve(answer: Arc<Mutex<Option<(u16, Vec<u8>)>>>) -> String {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
	let address = listener.local_addr().expect("bound");
	tokio::spawn(async move {
		while let Ok((mut socket, _)) = listener.accept().await {
			let answer = answer.clone();
			tokio::spawn(async move {
				let mut request = Vec::new();
				let mut buffer = [0u8; 1024];
				while !request.windows(4).any(|w| w == b"\r\n\r\n") {
					match socket.read(&mut buffer).await {
						Ok(0) | Err(_) => return,
						Ok(n) => request.extend_from_slice(&buffer[..n]),
					}
				}
				let Some((status, body)) = answer.lock().await.clone() else {
					tokio::time::sleep(Duration::from_secs(60)).await;
					return;
				};
				let head = format!(
					"HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
					body.len()
				);
				let _ = socket.write_all(head.as_bytes()).await;
				let _ = socket.write_all(&body).await;
			});
		}
	});
	format!("http://{address}/electricity-price")
}

#[tokio::test]
async fn a_price_served_over_http_is_read_with_a_size_cap_and_a_timeout() {
	let answer = Arc::new(Mutex::new(Some((200, b"100 MDC\n".to_vec()))));
	let url = serve(answer.clone()).await;
	let mut pricing = pricing(&electricity(&url, ""));
	let t0 = Instant::now();
	assert_eq!(pricing.quote(t0, &[]).await, ask(1_200_000, MICRO_MDC));

	*answer.lock().await = Some((200, vec![b'1'; MAX_SOURCE_BYTES + 1]));
	let error = terms(&mut pricing).refresh(t0).await.expect_err("too large");
	assert!(matches!(error, PricingError::TooLarge { .. }), "{error}");
	*answer.lock().await = Some((500, b"100 MDC".to_vec()));
	let error = terms(&mut pricing).refresh(t0).await.expect_err("an error status");
	assert!(error.to_string().contains("answered 500") && error.to_string().contains(&url));
	*answer.lock().await = Some((200, b"free".to_vec()));
	let error = terms(&mut pricing).refresh(t0).await.expect_err("garbage");
	assert!(matches!(error, PricingError::Invalid { .. }), "{error}");
	// A server that never answers costs the read's timeout, not the provider's loop.
	*answer.lock().await = None;
	terms(&mut pricing).timeout = Duration::from_millis(300);
	let started = Instant::now();
	let error = terms(&mut pricing).refresh(t0).await.expect_err("silent");
	assert!(matches!(error, PricingError::TimedOut { .. }), "{error}");
	assert!(started.elapsed() < Duration::from_secs(5));
	assert_eq!(
		pricing.quote(t0 + S, &[]).await,
		ask(1_200_000, MICRO_MDC),
		"the last price stays"
	);

	let mut closed = self::pricing(&electricity("http://127.0.0.1:1/price", ""));
	let error = terms(&mut closed).refresh(t0).await.expect_err("nobody listens");
	assert!(matches!(error, PricingError::Unreadable { .. }), "{error}");
}

#[test]
fn the_price_section_is_checked_field_by_field() {
	let electricity = |more: &str| {
		config(&format!("[price]\npolicy = \"electricity\"\nelectricity_price = \"/var/lib/modicum/electricity-price\"\nwatts_per_core = 35\nmargin_percent = 20\n{more}"))
	};
	let policy = electricity("").expect("defaults fill the rest").price_policy();
	let Ok(PricePolicy::Electricity(terms)) = policy else { panic!("{policy:?}") };
	assert_eq!((terms.refresh, terms.max_age, terms.follow_market), (300 * S, 3600 * S, false));
	let secure = "[price]\npolicy = \"electricity\"\nelectricity_price = \"https://tariff.example/kwh\"\nwatts_per_core = 35\nmargin_percent = 20\n";
	let policy = config(secure).expect("an https:// source").price_policy();
	let Ok(PricePolicy::Electricity(terms)) = policy else { panic!("{policy:?}") };
	assert_eq!(terms.source, PriceSource::Url("https://tariff.example/kwh".into()));

	let refused = [
		(electricity("refresh_seconds = 1"), "`price.refresh_seconds` 1 must be at least 2"),
		(electricity("refresh_seconds = 600\nmax_age_seconds = 300"), "must be at least `price.refresh_seconds`"),
		(electricity("sped = 1"), "unknown field `sped`"),
		(config("[price]\npolicy = \"solar\"\n"), "unknown variant `solar`"),
		(config("[price]\npolicy = \"electricity\"\n"), "needs `price.electricity_price`"),
		(config("[price]\npolicy = \"fixed\"\nwatts_per_core = 35\n"), "only read by policy \"electricity\""),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"price.txt\"\nwatts_per_core = 35\nmargin_percent = 20\n"), "absolute file path or an http:// or https:// URL"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"http:///kwh\"\nwatts_per_core = 35\nmargin_percent = 20\n"), "electricity_price"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"https:///kwh\"\nwatts_per_core = 35\nmargin_percent = 20\n"), "electricity_price"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"/p\"\nwatts_per_core = 0\nmargin_percent = 20\n"), "`price.watts_per_core` 0 must be 1 to 1000 W"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"/p\"\nwatts_per_core = -3\nmargin_percent = 20\n"), "watts_per_core"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"/p\"\nwatts_per_core = 35\n"), "needs `price.margin_percent`"),
		(config("[price]\npolicy = \"electricity\"\nelectricity_price = \"/p\"\nwatts_per_core = 35\nmargin_percent = 5000\n"), "`price.margin_percent` 5000 must be at most 1000"),
	];
	for (result, expected) in refused {
		let error = result.expect_err(expected);
		assert!(error.contains(expected), "{error} should say {expected}");
	}
}

#[test]
fn the_price_bounds_and_change_limit_are_checked_at_start() {
	let electricity = |more: &str| {
		config(&format!("[price]\npolicy = \"electricity\"\nelectricity_price = \"/p\"\nwatts_per_core = 35\nmargin_percent = 20\n{more}"))
	};
	let guard = |more: &str| match electricity(more).expect("valid").price_policy() {
		Ok(PricePolicy::Electricity(terms)) => terms.guard,
		other => panic!("{other:?}"),
	};
	let defaults =
		PriceGuard { min_price: None, max_price: None, max_change_percent: 50, confirm_readings: 3 };
	assert_eq!(guard(""), defaults, "no bounds, 50 % per read, a move taken at its 3rd reading");
	assert_eq!(
		guard("min_price = \"0.1 MDC\"\nmax_price = \"2 MDC\"\nmax_change_percent = 200\nconfirm_readings = 5"),
		PriceGuard {
			min_price: Some(MDC / 10),
			max_price: Some(2 * MDC),
			max_change_percent: 200,
			confirm_readings: 5
		}
	);
	let single = guard("min_price = \"1 MDC\"\nmax_price = \"1 MDC\"");
	assert_eq!((single.min_price, single.max_price), (Some(MDC), Some(MDC)), "one price alone");

	let refused = [
		("min_price = \"2 MDC\"\nmax_price = \"1 MDC\"", "`price.min_price` 2 MDC must be at most `price.max_price` 1 MDC"),
		("max_price = 0", "`price.max_price` 0 MDC would refuse every price"),
		("min_price = \"0 MDC\"", "`price.min_price` 0 MDC bounds nothing"),
		("max_price = \"cheap\"", "is not an amount"),
		("max_change_percent = 0", "`price.max_change_percent` 0 must be 1 to 10000"),
		("max_change_percent = 10001", "`price.max_change_percent` 10001 must be 1 to 10000"),
		("max_change_percent = -5", "max_change_percent"),
		("confirm_readings = 1", "`price.confirm_readings` 1 must be 2 to 100"),
		("confirm_readings = 101", "`price.confirm_readings` 101 must be 2 to 100"),
		("max_chnage_percent = 50", "unknown field `max_chnage_percent`"),
	];
	for (more, expected) in refused {
		let error = electricity(more).expect_err(expected);
		assert!(error.contains(expected), "{error} should say {expected}");
	}
	// Under the fixed policy nothing is read, so nothing is bounded.
	for key in ["min_price = \"1 MDC\"", "max_price = \"1 MDC\"", "max_change_percent = 50", "confirm_readings = 3"] {
		let error = config(&format!("[price]\npolicy = \"fixed\"\n{key}\n")).expect_err(key);
		assert!(error.contains("only read by policy \"electricity\""), "{key}: {error}");
	}
}
