//! Pricing a job offer before anything is held: the directory, the mediators, the bids, the
//! completion deadline, the fees and the deposit, each from the chain's own state and the
//! pallet's own rules.

use crate::chain::{Chain, ChainError};
use modicum_runtime::{AccountId, Balance, BlockNumber, Runtime};
use pallet_market::{
	ActorsOf, Architecture, Digest, ImageOf, JobOfferOf, MaxFees,
	MinReputation, OfferId, OfferState, Resources, ResourceOfferOf,
};
use modicum_common::amount::mdc;
use serde::Serialize;
use sp_core::crypto::Ss58Codec;

type Market = pallet_market::Pallet<Runtime>;

/// What the job creator asks for; `None` takes the default.
#[derive(Clone, Debug)]
pub struct Request {
	/// The job's limits; bandwidth `0` means: the image plus the largest archive.
	pub limits: Resources,
	/// The machine architecture: the image's.
	pub architecture: Architecture,
	/// Price per cpu unit (ms) offered.
	pub cpu_bid: Option<Balance>,
	/// Price per KiB offered.
	pub bandwidth_bid: Option<Balance>,
	/// Blocks from now until the result is due.
	pub deadline_in: Option<BlockNumber>,
	/// The most a mediator may charge.
	pub max_mediator_fee: Option<Balance>,
	/// The most a directory may charge.
	pub max_directory_fee: Option<Balance>,
	/// Mediators a new job creator trusts (required when several could serve it).
	pub trust_mediators: Vec<AccountId>,
	/// The provider reputation required.
	pub min_reputation: Option<MinReputation>,
	/// The deposit to hold (at least the minimum).
	pub deposit: Option<Balance>,
}

/// Why a job offer cannot be priced.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
	/// Reading the chain failed.
	#[error(transparent)]
	Chain(#[from] ChainError),
	/// No directory can take the image.
	#[error("no suitable directory: {0}")]
	NoDirectory(String),
	/// No mediator can serve the job creator and the directory.
	#[error("no suitable mediator: {0}")]
	NoMediator(String),
	/// No price can be derived from the market.
	#[error("no open resource offer can take this job now ({0}); give --cpu-bid and --bandwidth-bid to post it anyway, and `modicum why-no-match ID` explains what each offer lacks")]
	NoProvider(String),
	/// The image alone exceeds the bandwidth limit.
	#[error("the image's layers above its base are {image_kib} KiB, more than --bandwidth {bandwidth} KiB; raise --bandwidth to cover the image and the result archive")]
	ImageOverBandwidth {
		/// KiB of the image above its base.
		image_kib: u64,
		/// The limit given.
		bandwidth: u64,
	},
	/// A value is out of the market's bounds.
	#[error("{0}")]
	Invalid(String),
	/// The account cannot pay the deposit.
	#[error("insufficient balance: the deposit is {needed} and the account can spend {spendable}; fund {account} (e.g. a transfer in Polkadot.js Apps) or lower the limits or bids")]
	InsufficientBalance {
		/// The deposit.
		needed: String,
		/// What the account can spend.
		spendable: String,
		/// The account.
		account: String,
	},
}

/// A priced job offer, shown before it is posted.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
	/// The offer as it will be posted (its run length fixed as the chain will fix it).
	pub offer: JobOfferOf<Runtime>,
	/// Mediators it will trust when it registers now (empty when already registered).
	pub register_trusting: Vec<String>,
	/// The directory's registry.
	pub endpoint: String,
	/// KiB of the image above its base.
	pub image_kib: u64,
	/// π̂_c.
	pub estimated_price: Balance,
	/// Open resource offers that can take the job now, at its bids.
	pub fitting_offers: Vec<OfferId>,
}

impl Plan {
	/// The plan in words, for the confirmation prompt.
	pub fn describe(&self) -> String {
		let o = &self.offer;
		let creator = o.creator.to_ss58check();
		let mut text = String::new();
		if !self.register_trusting.is_empty() {
			text += &format!(
				"register {creator} as a job creator trusting mediator(s) {}\n",
				self.register_trusting.join(", ")
			);
		}
		let l = &o.limits;
		text += &format!(
			"job offer by {creator}\n  image      {} (layers above the base: {} KiB)\n  directory  {} at {}\n  limits     cpu {} ms, memory {} MiB, storage {} MiB, bandwidth {} KiB (R = {} blocks)\n  deadline   result due by block #{}\n  bids       {} per cpu ms, {} per KiB → estimated price π̂_c {}\n  fees       at most {} (mediator) + {} (directory)\n  deposit    {} held until the match closes (π̂_c·(θ+n) + incentive + fees + storage)\n  providers  {} open resource offer(s) can take it now\n",
			image_name(&o.image),
			self.image_kib,
			o.directory.to_ss58check(),
			self.endpoint,
			l.cpu,
			l.memory,
			l.storage,
			l.bandwidth,
			o.run_length,
			o.completion_deadline,
			mdc(o.cpu_bid),
			mdc(o.bandwidth_bid),
			mdc(self.estimated_price),
			mdc(o.max_fees.mediator),
			mdc(o.max_fees.directory),
			mdc(o.deposit),
			self.fitting_offers.len(),
		);
		text
	}
}

/// `repository@sha256:…`.
pub fn image_name(image: &ImageOf<Runtime>) -> String {
	format!("{}@sha256:{}", String::from_utf8_lossy(&image.repository), hex::encode(image.digest))
}

/// Whether `offer` could take a job with these terms at block `now`, by the chain's own rules
/// between a job offer and a resource offer (window, deadline, capacity, architecture, base
/// layer, directory trust, prices) and the job's least reputation: an offer that can never
/// match must not set the job's bids. The mediator's rules are checked at match time.
pub fn fits(
	offer: &ResourceOfferOf<Runtime>,
	actors: &ActorsOf<Runtime>,
	job: &JobOfferOf<Runtime>,
	now: BlockNumber,
) -> bool {
	let reputation = actors
		.provider_reputations
		.iter()
		.find(|(who, _)| *who == offer.provider)
		.map(|(_, reputation)| *reputation)
		.unwrap_or_default();
	actors
		.resource_providers
		.iter()
		.find(|(who, _)| *who == offer.provider)
		.is_some_and(|(_, provider)| {
			Market::check_pair(job, offer, provider, now).is_ok()
				&& Market::check_reputation(job, &reputation).is_ok()
		})
}

/// The bases any registered provider keeps.
pub fn supported_bases(actors: &ActorsOf<Runtime>) -> Vec<Digest> {
	let mut bases: Vec<Digest> =
		actors.resource_providers.iter().flat_map(|(_, info)| info.base_layers.iter().copied()).collect();
	bases.sort();
	bases.dedup();
	bases
}

/// The directory to use: the one asked for, or the available one most providers trust.
pub async fn choose_directory(
	chain: &Chain,
	actors: &ActorsOf<Runtime>,
	asked: Option<&AccountId>,
	at: modicum_runtime::Hash,
) -> Result<(AccountId, String, Balance), OfferError> {
	let mut candidates = Vec::new();
	for (who, info) in &actors.directories {
		if asked.is_some_and(|a| a != who) {
			continue;
		}
		if !chain.directory_available(who, at).await? {
			continue;
		}
		// Trust by providers with successes counts first: registering providers costs nothing
		// and every counted success paid the reputation fee, so a crowd of new providers only
		// breaks ties.
		let trusting: Vec<&AccountId> = actors
			.resource_providers
			.iter()
			.filter(|(_, p)| p.trusted_directories.contains(who))
			.map(|(p, _)| p)
			.collect();
		let record: u64 = trusting
			.iter()
			.map(|p| {
				actors.provider_reputations.iter().find(|(a, _)| a == *p).map_or(0, |(_, r)| r.successes)
			})
			.sum();
		candidates.push(((record, trusting.len()), info.fee, who.clone(), String::from_utf8_lossy(&info.endpoint).into_owned()));
	}
	// Most trusted first, then the cheapest.
	candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
	match (candidates.into_iter().next(), asked) {
		(Some((_, fee, who, endpoint)), _) => Ok((who, endpoint, fee)),
		(None, Some(asked)) => Err(OfferError::NoDirectory(format!(
			"{} is not a registered directory with a recent heartbeat",
			asked.to_ss58check()
		))),
		(None, None) => Err(OfferError::NoDirectory(
			"no registered directory has a recent heartbeat; is the devnet's market node running?".into(),
		)),
	}
}

/// Prices a job offer of `image` (on `base_layer`, `image_kib` above it) in `directory`.
#[allow(clippy::too_many_arguments)]
pub async fn plan(
	chain: &Chain,
	request: &Request,
	actors: &ActorsOf<Runtime>,
	image: ImageOf<Runtime>,
	base_layer: Digest,
	image_kib: u64,
	directory: (AccountId, String, Balance),
) -> Result<Plan, OfferError> {
	let creator = chain.account()?;
	let best = chain.best().await?;
	let parameters = chain.parameters(best.hash).await?;
	let (directory, endpoint, directory_fee) = directory;

	let mut limits = request.limits;
	let archive_kib = limits.storage.saturating_mul(1024).saturating_add(2 * 1024 + 64);
	if limits.bandwidth == 0 {
		limits.bandwidth = image_kib.saturating_add(archive_kib);
	} else if limits.bandwidth <= image_kib {
		return Err(OfferError::ImageOverBandwidth { image_kib, bandwidth: limits.bandwidth });
	}
	let run_length = parameters
		.run_length(&limits)
		.filter(|r| *r <= parameters.max_job_duration)
		.ok_or_else(|| {
			OfferError::Invalid(format!(
				"these limits need more than the market's longest job ({} blocks): lower --cpu or --bandwidth",
				parameters.max_job_duration
			))
		})?;
	// Time to be matched, to pull, to run twice over and to upload; never beyond the market's
	// horizon.
	let deadline_in = request
		.deadline_in
		.unwrap_or_else(|| run_length.saturating_mul(2).saturating_add(30))
		.min(parameters.max_job_duration);
	if deadline_in <= run_length {
		return Err(OfferError::Invalid(format!(
			"a deadline {deadline_in} blocks ahead leaves no time for a run of R = {run_length} blocks"
		)));
	}
	let mut offer = JobOfferOf::<Runtime> {
		creator: creator.clone(),
		limits,
		architecture: request.architecture,
		image,
		base_layer,
		directory: directory.clone(),
		cpu_bid: 0,
		bandwidth_bid: 0,
		completion_deadline: best.number + deadline_in,
		// Set once the mediators are known.
		max_fees: MaxFees::default(),
		min_reputation: request.min_reputation,
		run_length,
		deposit: 0,
		state: OfferState::Open,
	};

	// Mediators: the job creator's own, or every one that can serve the job when it registers
	// now; either way one the chain would name for this job (the directory's trust both ways,
	// the base, the architecture, a capacity for its limits).
	let registered = actors.job_creators.iter().find(|(who, _)| *who == creator);
	let directory_info = actors
		.directories
		.iter()
		.find(|(who, _)| *who == directory)
		.map(|(_, info)| info)
		.ok_or_else(|| OfferError::NoDirectory(format!("{} is not registered", directory.to_ss58check())))?;
	let serves = |who: &AccountId| {
		actors
			.mediators
			.iter()
			.find(|(m, _)| m == who)
			.filter(|(m, info)| Market::check_mediator_serves(&offer, m, info, directory_info).is_ok())
	};
	// A job creator's trust list is its own choice; a new one trusts the one serving mediator
	// with the longest record of verdicts in time (then the cheapest), never every stranger
	// who registered one.
	let mediators: Vec<(AccountId, Balance)> = match registered {
		Some((_, info)) => info.trusted_mediators.iter().filter_map(serves).map(|(m, i)| (m.clone(), i.fee)).collect(),
		None => {
			let serving: Vec<(AccountId, Balance)> =
				actors.mediators.iter().filter(|(m, _)| serves(m).is_some()).map(|(m, i)| (m.clone(), i.fee)).collect();
			match (&request.trust_mediators[..], &serving[..]) {
				([], [only]) => vec![only.clone()],
				([], _) => return Err(OfferError::NoMediator(choose_mediator(chain, &serving, best.hash).await?)),
				(chosen, _) => {
					let chosen: Vec<_> = serving.iter().filter(|(m, _)| chosen.contains(m)).cloned().collect();
					if chosen.is_empty() {
						return Err(OfferError::NoMediator(choose_mediator(chain, &serving, best.hash).await?));
					}
					chosen
				}
			}
		}
	};
	if mediators.is_empty() {
		return Err(OfferError::NoMediator(format!(
			"no mediator {}can serve this job: one trusting directory {} and trusted by it, keeping this base layer and running jobs of these limits",
			if registered.is_some() { "of the job creator's trust list " } else { "" },
			directory.to_ss58check()
		)));
	}
	let register_trusting = match registered {
		Some(_) => Vec::new(),
		None => mediators.iter().map(|(m, _)| m.to_ss58check()).collect(),
	};

	offer.max_fees = MaxFees {
		mediator: request
			.max_mediator_fee
			.unwrap_or_else(|| mediators.iter().map(|(_, fee)| *fee).max().unwrap_or_default()),
		directory: request.max_directory_fee.unwrap_or(directory_fee),
	};

	let open = chain.open_resource_offers(best.hash).await?;
	// Offers that can take the job as the chain will check it, at whatever price they ask
	// (the bids come from them): the pair's rules, and a mediator of the job creator's the
	// provider trusts, at fees both accept.
	let unpriced = JobOfferOf::<Runtime> { cpu_bid: Balance::MAX, bandwidth_bid: Balance::MAX, ..offer.clone() };
	let fitting: Vec<&(OfferId, ResourceOfferOf<Runtime>)> = open
		.iter()
		// A match lands two blocks from now at the earliest.
		.filter(|(_, o)| fits(o, actors, &unpriced, best.number + 2))
		.filter(|(_, o)| {
			let trusted = actors
				.resource_providers
				.iter()
				.find(|(p, _)| *p == o.provider)
				.map(|(_, info)| info.trusted_mediators.to_vec())
				.unwrap_or_default();
			mediators.iter().any(|(m, fee)| {
				*m != o.provider && trusted.contains(m) && Market::check_fees(&offer, o, *fee, directory_fee).is_ok()
			})
		})
		.collect();
	// Bid the asks of the cheapest offer that can take the job: a stranger's absurd ask must
	// not raise the bid (and with it the deposit), and an offer that can never match must not
	// lower it below every real one. A dearer provider is taken only with --cpu-bid.
	let cheapest = fitting
		.iter()
		.min_by_key(|(_, o)| {
			u128::from(limits.cpu)
				.saturating_mul(o.cpu_price)
				.saturating_add(u128::from(limits.bandwidth).saturating_mul(o.bandwidth_price))
		})
		.map(|(_, o)| (o.cpu_price, o.bandwidth_price));
	offer.cpu_bid = match (request.cpu_bid, cheapest) {
		(Some(bid), _) => bid,
		(None, Some((ask, _))) => ask,
		(None, None) => return Err(no_provider(&open, &offer)),
	};
	offer.bandwidth_bid = match (request.bandwidth_bid, cheapest) {
		(Some(bid), _) => bid,
		(None, Some((_, ask))) => ask,
		(None, None) => return Err(no_provider(&open, &offer)),
	};
	let fitting: Vec<_> = fitting
		.into_iter()
		.filter(|(_, o)| Market::check_prices(&offer, o).is_ok())
		.collect();
	let estimated_price = Market::estimated_price(&offer)
		.map_err(|e| OfferError::Invalid(format!("the estimated price overflows: {e:?}")))?;
	let minimum = Market::minimum_job_deposit(&offer, &parameters)
		.map_err(|e| OfferError::Invalid(format!("the deposit overflows: {e:?}")))?;
	offer.deposit = match request.deposit {
		Some(deposit) if deposit < minimum => {
			return Err(OfferError::Invalid(format!(
				"--deposit {} is below this job's minimum {}",
				mdc(deposit),
				mdc(minimum)
			)))
		}
		Some(deposit) => deposit,
		None => minimum,
	};
	let spendable = chain.spendable(&creator, best.hash).await?;
	if spendable < offer.deposit {
		return Err(OfferError::InsufficientBalance {
			needed: mdc(offer.deposit),
			spendable: mdc(spendable),
			account: creator.to_ss58check(),
		});
	}
	Ok(Plan {
		register_trusting,
		endpoint,
		image_kib,
		estimated_price,
		fitting_offers: fitting.iter().map(|(id, _)| *id).collect(),
		offer,
	})
}

/// The mediators that could serve a new job creator, for it to choose from: the chain gives
/// each a say over its deposit, so none is trusted without being named.
async fn choose_mediator(
	chain: &Chain,
	serving: &[(AccountId, Balance)],
	at: modicum_runtime::Hash,
) -> Result<String, ChainError> {
	if serving.is_empty() {
		return Ok("no registered mediator can serve this job: none both trusts this directory and is trusted by it, keeps this base layer and runs jobs of these limits".into());
	}
	let mut text = String::from("a new job creator names the mediator(s) it trusts with --trust-mediator; these can serve this job:");
	for (m, fee) in serving {
		let record = chain.reputation(m, pallet_market::Role::Mediator, at).await?;
		let verdicts = record.endings.accepted + record.endings.creator_at_fault + record.endings.provider_at_fault;
		text += &format!(
			"\n  {}  fee {}, {} verdict(s) in time, {} timeout(s)",
			m.to_ss58check(),
			mdc(*fee),
			verdicts,
			record.endings.no_mediation_result
		);
	}
	Ok(text)
}

fn no_provider(open: &[(OfferId, ResourceOfferOf<Runtime>)], job: &JobOfferOf<Runtime>) -> OfferError {
	OfferError::NoProvider(if open.is_empty() {
		"there are no open resource offers".into()
	} else {
		format!(
			"{} open resource offer(s), none with capacity for cpu {} ms, memory {} MiB, storage {} MiB, bandwidth {} KiB on this base and directory until block #{}",
			open.len(),
			job.limits.cpu,
			job.limits.memory,
			job.limits.storage,
			job.limits.bandwidth,
			job.completion_deadline
		)
	})
}

