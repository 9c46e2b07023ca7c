//! The solver: each best block, pairs open job offers with open resource offers and posts the
//! matches. Offers are grouped by architecture; within a group resource offers are taken
//! cheapest first, jobs earliest deadline first, each job with the cheapest mediator both sides
//! trust and whose fee both offers accept. Every rule `post_match` enforces is checked here with
//! the pallet's own functions — bonds with what earlier proposals of the same round reserve —
//! and each match is dry-run on chain (`check_match`) before it is posted.

use crate::{
	chain::{Chain, Heads},
	config::SolverConfig,
	context::Context,
	handler::{self, Handler},
	metrics::Metrics,
	registration::RESUBMIT_AFTER,
	tasks::Tasks,
	WorkerError,
};
use futures::future::BoxFuture;
use modicum_runtime::{AccountId, Balance, BlockNumber, MarketCall, Runtime};
use pallet_market::{
	ActorsOf, Architecture, DirectoryInfo, JobOfferOf, MarketParametersOf, MediatorInfo, OfferId,
	OfferState, Reputation, ResourceOfferOf,
};
use std::collections::HashMap;

type Market = pallet_market::Pallet<Runtime>;

/// A match the solver proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
	/// The job offer.
	pub job_offer: OfferId,
	/// The resource offer.
	pub resource_offer: OfferId,
	/// The mediator, trusted by both.
	pub mediator: AccountId,
}

/// Finds a set of feasible, pairwise disjoint matches among the open offers at block `now`.
pub fn solve(
	now: BlockNumber,
	parameters: &MarketParametersOf<Runtime>,
	actors: &ActorsOf<Runtime>,
	jobs: &[(OfferId, JobOfferOf<Runtime>)],
	resources: &[(OfferId, ResourceOfferOf<Runtime>)],
) -> Vec<Proposal> {
	let creators: HashMap<&AccountId, _> =
		actors.job_creators.iter().map(|(a, i)| (a, i)).collect();
	let providers: HashMap<&AccountId, _> =
		actors.resource_providers.iter().map(|(a, i)| (a, i)).collect();
	let directories: HashMap<&AccountId, &DirectoryInfo<Runtime>> =
		actors.directories.iter().map(|(a, i)| (a, i)).collect();
	let reputations: HashMap<&AccountId, &Reputation> =
		actors.provider_reputations.iter().map(|(a, r)| (a, r)).collect();
	let no_reputation = Reputation::default();
	// What each bond can still reserve, counting this round's proposals; a bond below the
	// minimum is not matched at all.
	let unreserved = |bond: Balance, reserved: Balance| {
		(bond >= parameters.min_bond).then(|| bond.saturating_sub(reserved))
	};
	let mut mediator_free: HashMap<&AccountId, Balance> = actors
		.mediators
		.iter()
		.filter_map(|(a, i)| Some((a, unreserved(i.bond, i.reserved)?)))
		.collect();
	let mut directory_free: HashMap<&AccountId, Balance> = actors
		.directories
		.iter()
		.filter_map(|(a, i)| Some((a, unreserved(i.bond, i.reserved)?)))
		.collect();

	// Resource offers that can be matched now, by architecture, cheapest first.
	let mut groups: HashMap<Architecture, Vec<&(OfferId, ResourceOfferOf<Runtime>)>> =
		HashMap::new();
	for offer in resources {
		let (_, resource) = offer;
		if resource.state == OfferState::Open
			&& resource.valid_from <= now
			&& now <= resource.valid_to
			&& providers.contains_key(&resource.provider)
		{
			groups.entry(resource.architecture).or_default().push(offer);
		}
	}
	for group in groups.values_mut() {
		group.sort_by_key(|(id, r)| (r.cpu_price, r.bandwidth_price, *id));
	}
	let mut free: HashMap<Architecture, FreeList> =
		groups.iter().map(|(arch, group)| (*arch, FreeList::new(group.len()))).collect();

	// Jobs most urgent first; among equals, the best bids first.
	let mut order: Vec<&(OfferId, JobOfferOf<Runtime>)> = jobs
		.iter()
		.filter(|(_, job)| {
			job.state == OfferState::Open
				&& now <= job.completion_deadline
				&& creators.contains_key(&job.creator)
				&& directories.contains_key(&job.directory)
				&& job.directory != job.creator
		})
		.collect();
	order.sort_by_key(|(id, job)| (job.completion_deadline, core::cmp::Reverse(job.cpu_bid), *id));

	// The mediators every party trusts, cheapest first, per (creator, provider, directory,
	// layer, architecture).
	let mut mediators: HashMap<
		(&AccountId, &AccountId, &AccountId, [u8; 32], Architecture),
		Vec<(&AccountId, &MediatorInfo<Runtime>)>,
	> = HashMap::new();
	let mut proposals = Vec::new();
	for (job_id, job) in order {
		let (Some(group), Some(free)) =
			(groups.get(&job.architecture), free.get_mut(&job.architecture))
		else {
			continue;
		};
		let (Some(&directory), Some(creator), Ok(estimated)) = (
			directories.get(&job.directory),
			creators.get(&job.creator),
			Market::estimated_price(job),
		) else {
			continue;
		};
		let directory_fee = directory.fee;
		let Ok((mediator_share, directory_share)) =
			Market::reservations(estimated, parameters.verification_count)
		else {
			continue;
		};
		if directory_fee > job.max_fees.directory
			|| directory_free.get(&job.directory).is_none_or(|free| *free < directory_share)
		{
			continue;
		}
		let mut slot = free.next(0);
		while let Some(index) = slot {
			let (resource_id, resource) = group[index];
			// Sorted by cpu price: no later offer is within the bid either.
			if resource.cpu_price > job.cpu_bid {
				break;
			}
			slot = free.next(index + 1);
			let Some(provider) = providers.get(&resource.provider) else { continue };
			let reputation = reputations.get(&resource.provider).copied().unwrap_or(&no_reputation);
			let fits = Market::check_pair(job, resource, provider, now).is_ok()
				&& directory_fee <= resource.max_fees.directory
				&& Market::check_reputation(job, reputation).is_ok();
			if !fits {
				continue;
			}
			let key = (
				&job.creator,
				&resource.provider,
				&job.directory,
				job.base_layer,
				job.architecture,
			);
			// Every rule but capacity depends on the key alone: the pallet's own checks, once
			// per key; capacity per job.
			let candidates = mediators.entry(key).or_insert_with(|| {
				let mut candidates: Vec<(&AccountId, &MediatorInfo<Runtime>)> = actors
					.mediators
					.iter()
					.filter(|(who, info)| {
						Market::check_mediator_for(
							job, resource, who, info, creator, provider, directory,
						)
						.is_ok()
					})
					.map(|(who, info)| (who, info))
					.collect();
				candidates.sort_by(|(a, fa), (b, fb)| (fa.fee, a).cmp(&(fb.fee, b)));
				candidates
			});
			let fee_cap = job.max_fees.mediator.min(resource.max_fees.mediator);
			let mediator = candidates.iter().find(|(who, info)| {
				info.fee <= fee_cap
					&& Market::check_mediator_capacity(&job.limits, info).is_ok()
					&& mediator_free.get(who).is_some_and(|free| *free >= mediator_share)
			});
			let mediator = mediator.map(|(who, info)| (*who, info.fee));
			let Some((mediator, mediator_fee)) = mediator else { continue };
			let Ok(minimum) =
				Market::minimum_deposit(estimated, parameters, mediator_fee, directory_fee)
			else {
				continue;
			};
			if job.deposit < minimum || resource.deposit < minimum {
				continue;
			}
			free.take(index);
			mediator_free.entry(mediator).and_modify(|free| *free -= mediator_share);
			directory_free.entry(&job.directory).and_modify(|free| *free -= directory_share);
			proposals.push(Proposal {
				job_offer: *job_id,
				resource_offer: *resource_id,
				mediator: mediator.clone(),
			});
			break;
		}
	}
	proposals
}

/// The untaken positions of a sorted group: `next(i)` skips taken runs in near-constant time
/// (union-find with path halving).
struct FreeList {
	next: Vec<usize>,
}

impl FreeList {
	fn new(len: usize) -> Self {
		Self { next: (0..=len).collect() }
	}

	/// The first untaken position at or after `i`.
	fn next(&mut self, mut i: usize) -> Option<usize> {
		let end = self.next.len() - 1;
		while i < end && self.next[i] != i {
			self.next[i] = self.next[self.next[i]];
			i = self.next[i];
		}
		(i < end).then_some(i)
	}

	fn take(&mut self, i: usize) {
		self.next[i] = i + 1;
	}
}

/// The solver's loop: solve on each best block, dry-run, post.
pub fn start(chain: Chain, config: SolverConfig, metrics: Metrics) -> BoxFuture<'static, ()> {
	tracing::info!(target: "modicum", account = %chain.account(), "solver ready");
	Box::pin(handler::run(Solver { ctx: Context { chain, config, metrics }, pending: HashMap::new() }))
}

struct Solver {
	ctx: Context<SolverConfig>,
	/// Offers in a match already posted, with the block it was posted at.
	pending: HashMap<OfferId, BlockNumber>,
}

impl Handler for Solver {
	type Output = ();
	const ROLE: &'static str = "solver";

	fn chain(&self) -> &Chain {
		&self.ctx.chain
	}

	async fn on_block(&mut self, heads: Heads, _: &mut Tasks<()>) -> Result<(), WorkerError> {
		let best = heads.best;
		let state = self.ctx.chain.state();
		let parameters = state.parameters(best.hash)?;
		let actors = state.actors(best.hash)?;
		let jobs = state.open_job_offers(best.hash)?;
		let resources = state.open_resource_offers(best.hash)?;
		self.pending.retain(|_, sent| best.number < sent.saturating_add(RESUBMIT_AFTER));
		// The next block is the earliest the match can land in.
		let now = best.number.saturating_add(1);
		let mut posted = 0;
		for proposal in solve(now, &parameters, &actors, &jobs, &resources) {
			if posted == self.ctx.config.matches_per_block {
				break;
			}
			if self.pending.contains_key(&proposal.job_offer) ||
				self.pending.contains_key(&proposal.resource_offer)
			{
				continue;
			}
			let check = state.check_match(
				best.hash,
				proposal.job_offer,
				proposal.resource_offer,
				&proposal.mediator,
			);
			if let Err(e) = check {
				tracing::debug!(target: "modicum", ?proposal, error = %e, "solver: dry-run refused the match");
				continue;
			}
			let call = MarketCall::post_match {
				job_offer: proposal.job_offer,
				resource_offer: proposal.resource_offer,
				mediator: proposal.mediator.clone(),
			};
			if self.ctx.submit("post_match", call.into()).await {
				tracing::info!(
					target: "modicum",
					job_offer = proposal.job_offer,
					resource_offer = proposal.resource_offer,
					mediator = %proposal.mediator,
					"solver: match posted"
				);
				self.pending.insert(proposal.job_offer, best.number);
				self.pending.insert(proposal.resource_offer, best.number);
				posted += 1;
			}
		}
		Ok(())
	}
}

/// A reproducible market of many offers, for the solver's benchmark and tests.
pub mod synthetic {
	use super::*;
	use pallet_market::{
		Ending, ImageOf, JobCreatorInfo, MaxFees, MinReputation, Outcome, ResourceProviderInfo,
		Resources,
	};
	use sp_core::crypto::AccountId32;

	/// Everything `solve` takes.
	pub struct SyntheticMarket {
		/// Block the market is solved at.
		pub now: BlockNumber,
		/// Chain parameters.
		pub parameters: MarketParametersOf<Runtime>,
		/// Registered actors.
		pub actors: ActorsOf<Runtime>,
		/// Open job offers.
		pub jobs: Vec<(OfferId, JobOfferOf<Runtime>)>,
		/// Open resource offers.
		pub resources: Vec<(OfferId, ResourceOfferOf<Runtime>)>,
	}

	/// xorshift64*: reproducible without a dependency.
	struct Rng(u64);

	impl Rng {
		fn next(&mut self) -> u64 {
			self.0 ^= self.0 >> 12;
			self.0 ^= self.0 << 25;
			self.0 ^= self.0 >> 27;
			self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
		}

		fn range(&mut self, low: u64, high: u64) -> u64 {
			low + self.next() % (high - low + 1)
		}
	}

	fn account(kind: u8, index: u32) -> AccountId {
		let mut raw = [0u8; 32];
		raw[0] = kind;
		raw[1..5].copy_from_slice(&index.to_le_bytes());
		AccountId32::new(raw)
	}

	/// `jobs` job offers and `resources` resource offers from 100 job creators, 500 providers,
	/// 8 mediators and 4 directories, on two architectures and four base layers.
	pub fn market(seed: u64, jobs: u32, resources: u32) -> SyntheticMarket {
		let mut rng = Rng(seed.max(1));
		let parameters = modicum_runtime::genesis_config_presets::market_parameters();
		let layers: Vec<[u8; 32]> = (0..4u8).map(|i| [i + 1; 32]).collect();
		let directories: Vec<AccountId> = (0..4).map(|i| account(4, i)).collect();
		let mediators: Vec<AccountId> = (0..8).map(|i| account(3, i)).collect();
		let architecture =
			|i: u64| if i % 4 == 0 { Architecture::Arm64 } else { Architecture::Amd64 };
		let trust = |list: &[AccountId]| list.to_vec().try_into().expect("within bounds");
		let base_layers = |list: &[[u8; 32]]| list.to_vec().try_into().expect("within bounds");
		let actors = ActorsOf::<Runtime> {
			job_creators: (0..100)
				.map(|i| (account(1, i), JobCreatorInfo { trusted_mediators: trust(&mediators) }))
				.collect(),
			resource_providers: (0..500u32)
				.map(|i| {
					let info = ResourceProviderInfo {
						architecture: architecture(i.into()),
						speed: 1_000,
						trusted_mediators: trust(&mediators[(i as usize % 2)..]),
						trusted_directories: trust(&directories),
						base_layers: base_layers(&layers[..(1 + i as usize % 4)]),
					};
					(account(2, i), info)
				})
				.collect(),
			mediators: mediators
				.iter()
				.enumerate()
				.map(|(i, who)| {
					let info = MediatorInfo {
						architecture: architecture(i as u64),
						// The cheapest runs only small jobs: the solver passes it over for
						// the others.
						capacity: if i == 0 {
							Resources { cpu: 10_000, memory: 64, storage: 16, bandwidth: 4_096 }
						} else {
							Resources { cpu: u64::MAX, memory: 65_536, storage: 65_536, bandwidth: u64::MAX }
						},
						slots: 1,
						busy_until: 0,
						fee: parameters.match_incentive * (1 + i as u128),
						trusted_directories: trust(&directories),
						base_layers: base_layers(&layers),
						// The last two cannot be matched: one below the minimum bond, one
						// with its whole bond reserved by open matches.
						bond: if i == 7 { parameters.min_bond - 1 } else { parameters.min_bond },
						reserved: if i == 6 { parameters.min_bond } else { 0 },
					};
					(who.clone(), info)
				})
				.collect(),
			directories: directories
				.iter()
				.enumerate()
				.map(|(i, who)| {
					let info = DirectoryInfo {
						endpoint: b"http://127.0.0.1:5000".to_vec().try_into().expect("short"),
						fee: parameters.match_incentive,
						bond: parameters.min_bond,
						reserved: 0,
						last_heartbeat: 0,
						// The last directory does not trust the first two mediators.
						trusted_mediators: trust(&mediators[if i == 3 { 2 } else { 0 }..]),
					};
					(who.clone(), info)
				})
				.collect(),
			// A tenth of the providers have a record: half good, half poor.
			provider_reputations: (0..500u32)
				.step_by(10)
				.map(|i| {
					let mut reputation = Reputation::default();
					let outcome = if i % 20 == 0 { Outcome::Success } else { Outcome::Failure };
					for _ in 0..5 {
						reputation.record(Ending::Accepted, outcome, parameters.reputation_decay);
					}
					(account(2, i), reputation)
				})
				.collect(),
		};
		let now = 100;
		// Most offers accept every fee of the market; some only the cheaper mediators.
		let max_fees = |rng: &mut Rng| MaxFees {
			mediator: parameters.match_incentive * rng.range(4, 9) as u128,
			directory: parameters.match_incentive,
		};
		let deposit = 1_000 * modicum_runtime::MDC;
		let resources = (0..resources)
			.map(|i| {
				let provider = rng.range(0, 499) as u32;
				let offer = ResourceOfferOf::<Runtime> {
					provider: account(2, provider),
					capacity: Resources {
						cpu: rng.range(10, 600) * 1_000,
						memory: rng.range(1, 16) * 256,
						storage: rng.range(1, 64) * 64,
						bandwidth: rng.range(1, 100) * 1_024,
					},
					architecture: architecture(provider.into()),
					cpu_price: rng.range(1, 100) as u128 * 1_000,
					bandwidth_price: rng.range(1, 100) as u128 * 100,
					valid_from: now - rng.range(0, 50) as BlockNumber,
					valid_to: now + rng.range(200, 2_000) as BlockNumber,
					max_fees: max_fees(&mut rng),
					deposit,
					state: OfferState::Open,
				};
				(2 * u64::from(i) + 1, offer)
			})
			.collect();
		let jobs = (0..jobs)
			.map(|i| {
				let offer = JobOfferOf::<Runtime> {
					creator: account(1, rng.range(0, 99) as u32),
					limits: Resources {
						cpu: rng.range(1, 300) * 1_000,
						memory: rng.range(1, 8) * 256,
						storage: rng.range(1, 32) * 64,
						bandwidth: rng.range(1, 50) * 1_024,
					},
					architecture: architecture(rng.range(0, 3)),
					image: ImageOf::<Runtime> {
						repository: b"jobs/synthetic".to_vec().try_into().expect("short"),
						digest: [9; 32],
					},
					base_layer: layers[rng.range(0, 3) as usize],
					directory: directories[rng.range(0, 3) as usize].clone(),
					cpu_bid: rng.range(1, 100) as u128 * 1_000,
					bandwidth_bid: rng.range(1, 100) as u128 * 100,
					completion_deadline: now + rng.range(300, 1_500) as BlockNumber,
					max_fees: max_fees(&mut rng),
					// Some jobs only for providers with a good record.
					min_reputation: (rng.range(0, 9) == 0).then_some(MinReputation {
						score: sp_runtime::Perbill::from_percent(70),
						counted: 3,
					}),
					run_length: 0,
					deposit,
					state: OfferState::Open,
				};
				let run_length = parameters.run_length(&offer.limits).expect("limits fit");
				(2 * u64::from(i), JobOfferOf::<Runtime> { run_length, ..offer })
			})
			.collect();
		SyntheticMarket { now, parameters, actors, jobs, resources }
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use sp_runtime::BuildStorage;
	use std::collections::HashSet;

	/// Every proposed match passes the chain's own `check_match`, and no offer is used twice.
	#[test]
	fn every_proposal_is_feasible_on_chain_and_offers_are_used_once() {
		let market = synthetic::market(7, 200, 200);
		let proposals =
			solve(market.now, &market.parameters, &market.actors, &market.jobs, &market.resources);
		assert!(proposals.len() > 30, "a market this size has many matches: {}", proposals.len());

		let mut used = HashSet::new();
		for proposal in &proposals {
			assert!(used.insert(proposal.job_offer) && used.insert(proposal.resource_offer));
		}

		let storage = modicum_runtime::RuntimeGenesisConfig {
			market: modicum_runtime::MarketConfig { parameters: market.parameters.clone(), grant_terms: None },
			..Default::default()
		}
		.build_storage()
		.unwrap();
		sp_io::TestExternalities::new(storage).execute_with(|| {
			frame_system::Pallet::<Runtime>::set_block_number(market.now);
			let actors = &market.actors;
			for (who, info) in &actors.job_creators {
				pallet_market::JobCreators::<Runtime>::insert(who, info);
			}
			for (who, info) in &actors.resource_providers {
				pallet_market::ResourceProviders::<Runtime>::insert(who, info);
			}
			for (who, info) in &actors.mediators {
				pallet_market::Mediators::<Runtime>::insert(who, info);
			}
			for (who, info) in &actors.directories {
				pallet_market::Directories::<Runtime>::insert(who, info);
			}
			for (who, reputation) in &actors.provider_reputations {
				pallet_market::Reputations::<Runtime>::insert(
					who,
					pallet_market::Role::ResourceProvider,
					reputation,
				);
			}
			for (id, offer) in &market.jobs {
				pallet_market::JobOffers::<Runtime>::insert(id, offer);
			}
			for (id, offer) in &market.resources {
				pallet_market::ResourceOffers::<Runtime>::insert(id, offer);
			}
			for proposal in &proposals {
				let feasible = Market::feasibility(
					proposal.job_offer,
					proposal.resource_offer,
					&proposal.mediator,
				);
				assert!(feasible.is_ok(), "{proposal:?}: {feasible:?}");
			}
			// Greedy is maximal: no open job has a feasible free resource offer left.
			let taken: HashSet<OfferId> = used.iter().copied().collect();
			for (job, _) in market.jobs.iter().filter(|(id, _)| !taken.contains(id)) {
				for (resource, _) in market.resources.iter().filter(|(id, _)| !taken.contains(id)) {
					for (mediator, _) in &actors.mediators {
						assert!(
							Market::feasibility(*job, *resource, mediator).is_err(),
							"job {job} and resource {resource} were left unmatched"
						);
					}
				}
			}
		});
	}
}
