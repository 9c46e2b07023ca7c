//! The fuzzer's moves: each one a call drawn from the market's current state by a seeded
//! generator, from any of the accounts, or the chain advancing. Arguments are mostly what an
//! honest party would send (so calls reach deep into the protocol) and often what an attacker
//! would: boundary numbers, another party's step, absurd speeds, fees raised between offer and
//! match, directory verdicts on any dispute, mediators that never answer, parameters that
//! would stop the market; newcomers claiming join grants (again, late, early) and spending them
//! in every role, or trying to move them out with transfers.

use modicum_runtime::{AccountId, Balance, BlockNumber, Runtime, RuntimeCall, MDC, MILLI_MDC};
use pallet_market::{
	Architecture, Directories, ImageOf, JobCreators, JobOfferOf, MarketParametersOf, MatchState,
	Matches, MaxFees, Mediators, MinReputation, OfferState, Party, RejectReason, ResourceProviders,
	Resources, ResultStatus, Role,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use sp_runtime::Perbill;

type Market = pallet_market::Pallet<Runtime>;
type MarketCall = pallet_market::Call<Runtime>;

/// Who sends a call.
#[derive(Clone, Debug)]
pub enum Origin {
	/// A signed account.
	Signed(AccountId),
	/// Root (sudo).
	Root,
	/// An unsigned transaction (a join grant's claim).
	None,
}

/// One step of a run.
#[derive(Clone, Debug)]
pub enum Move {
	/// Dispatch `call` from `origin`.
	Call { origin: Origin, call: RuntimeCall },
	/// Produce this many blocks.
	Advance(u32),
}

/// What the generator draws, with its relative weight.
const KINDS: [(Kind, u32); 28] = [
	(Kind::Advance, 10),
	(Kind::RegisterJobCreator, 2),
	(Kind::RegisterResourceProvider, 2),
	(Kind::RegisterMediator, 2),
	(Kind::RegisterDirectory, 2),
	(Kind::UpdateResourceProvider, 1),
	(Kind::UpdateMediator, 2),
	(Kind::UpdateDirectory, 2),
	(Kind::Trust, 2),
	(Kind::DirectoryTrustsMediator, 3),
	(Kind::Distrust, 1),
	(Kind::Deregister, 1),
	(Kind::TopUpBond, 1),
	(Kind::Heartbeat, 2),
	(Kind::SetParameters, 1),
	(Kind::PostResourceOffer, 10),
	(Kind::PostJobOffer, 10),
	(Kind::CancelJobOffer, 2),
	(Kind::CancelResourceOffer, 2),
	(Kind::PostMatch, 12),
	(Kind::PostResult, 8),
	(Kind::AcceptResult, 4),
	(Kind::RejectResult, 4),
	(Kind::PostMediationResult, 5),
	(Kind::ClaimTimeout, 2),
	(Kind::Transfer, 1),
	(Kind::UpdateDirectoryFeeAfterOffer, 1),
	(Kind::ClaimJoinGrant, 2),
];

#[derive(Clone, Copy, Debug)]
enum Kind {
	Advance,
	RegisterJobCreator,
	RegisterResourceProvider,
	RegisterMediator,
	RegisterDirectory,
	UpdateResourceProvider,
	UpdateMediator,
	UpdateDirectory,
	Trust,
	/// A directory naming a registered mediator as a judge of its availability.
	DirectoryTrustsMediator,
	Distrust,
	Deregister,
	TopUpBond,
	Heartbeat,
	SetParameters,
	PostResourceOffer,
	PostJobOffer,
	CancelJobOffer,
	CancelResourceOffer,
	PostMatch,
	PostResult,
	AcceptResult,
	RejectResult,
	PostMediationResult,
	ClaimTimeout,
	Transfer,
	/// Front-running: a trusted directory raises its fee right before matches land.
	UpdateDirectoryFeeAfterOffer,
	ClaimJoinGrant,
}

const LAYERS: [[u8; 32]; 3] = [[1; 32], [2; 32], [3; 32]];
/// Accounts that join through a grant in a run.
const NEWCOMERS: u8 = 24;

/// The accounts with nothing that claim join grants in a run.
pub fn newcomers() -> Vec<AccountId> {
	(0..NEWCOMERS).map(|i| AccountId::new([0xA0 + i; 32])).collect()
}
const SPEEDS: [u64; 7] = [0, 1, 1_000, 10_000, 100_000, 100_000, u64::MAX];
const FEES: [Balance; 4] = [0, MILLI_MDC, 10 * MILLI_MDC, MDC];
/// Asks come from the first four; bids from all, the last making π̂_c larger than a bond.
const PRICES: [Balance; 6] = [0, 1, 1_000, 100_000, 1_000_000, 10_000_000_000];

/// The seeded generator of moves.
pub struct Generator {
	rng: StdRng,
	/// Every account a move may come from: the endowed ones, then each newcomer once it has
	/// tried to claim its grant.
	accounts: Vec<AccountId>,
	/// Accounts with nothing, that join through a grant.
	newcomers: Vec<AccountId>,
	/// The parameters root's changes start from, so the market keeps coming back to life.
	baseline: MarketParametersOf<Runtime>,
}

impl Generator {
	/// A generator over `accounts`, reproducible from `seed`; root's parameter changes start
	/// from `baseline`.
	pub fn new(seed: u64, accounts: Vec<AccountId>, baseline: MarketParametersOf<Runtime>) -> Self {
		Self { rng: StdRng::seed_from_u64(seed), accounts, newcomers: newcomers(), baseline }
	}

	/// The next move, drawn from the state the externalities hold now.
	pub fn next_move(&mut self) -> Move {
		let total: u32 = KINDS.iter().map(|(_, w)| w).sum();
		// A kind with nothing to act on (no match to post a result for, …) is drawn again.
		for _ in 0..16 {
			let mut draw = self.rng.gen_range(0..total);
			let kind = KINDS
				.iter()
				.find(|(_, w)| {
					let hit = draw < *w;
					draw = draw.saturating_sub(*w);
					hit
				})
				.map_or(Kind::Advance, |(kind, _)| *kind);
			if let Some(step) = self.draw(kind) {
				return step;
			}
		}
		Move::Advance(1)
	}

	fn draw(&mut self, kind: Kind) -> Option<Move> {
		let now = frame_system::Pallet::<Runtime>::block_number();
		let parameters = Market::parameters().ok()?;
		let signed = |who: AccountId, call: MarketCall| Move::Call {
			origin: Origin::Signed(who),
			call: RuntimeCall::Market(call),
		};
		Some(match kind {
			Kind::Advance => {
				let blocks = match self.rng.gen_range(0..100) {
					0..85 => 1,
					85..99 => self.rng.gen_range(2..6),
					_ => self.rng.gen_range(10..40),
				};
				Move::Advance(blocks)
			}
			Kind::RegisterJobCreator => {
				let who = self.account();
				let trusted_mediators = self.trust_list(&who, mediators());
				signed(who, MarketCall::register_job_creator { trusted_mediators })
			}
			Kind::RegisterResourceProvider => {
				let who = self.account();
				let call = MarketCall::register_resource_provider {
					architecture: self.architecture(),
					speed: self.one_of(&SPEEDS),
					trusted_mediators: self.trust_list(&who, mediators()),
					trusted_directories: self.trust_list(&who, directories()),
					base_layers: self.layers(),
				};
				signed(who, call)
			}
			Kind::RegisterMediator => {
				let who = self.account();
				let call = MarketCall::register_mediator {
					architecture: self.architecture(),
					capacity: self.mediator_capacity(),
					slots: self.one_of(&[0, 1, 1, 2, 4, pallet_market::MAX_MEDIATOR_SLOTS, u32::MAX]),
					fee: self.one_of(&FEES),
					trusted_directories: self.trust_list(&who, directories()),
					base_layers: self.layers(),
					bond: self.bond(&parameters),
				};
				signed(who, call)
			}
			Kind::RegisterDirectory => {
				let who = self.account();
				let call = MarketCall::register_directory {
					endpoint: self.endpoint(),
					fee: self.one_of(&FEES),
					trusted_mediators: self.trust_list(&who, mediators()),
					bond: self.bond(&parameters),
				};
				signed(who, call)
			}
			Kind::UpdateResourceProvider => {
				let who = self.registered(ResourceProviders::<Runtime>::iter_keys().collect());
				let call = MarketCall::update_resource_provider {
					architecture: self.architecture(),
					speed: self.one_of(&SPEEDS),
					base_layers: self.layers(),
				};
				signed(who, call)
			}
			Kind::UpdateMediator => {
				let who = self.registered(mediators());
				let call = MarketCall::update_mediator {
					architecture: self.architecture(),
					capacity: self.mediator_capacity(),
					slots: self.one_of(&[0, 1, 2, 4, pallet_market::MAX_MEDIATOR_SLOTS, u32::MAX]),
					fee: self.one_of(&FEES),
					base_layers: self.layers(),
				};
				signed(who, call)
			}
			Kind::UpdateDirectory | Kind::UpdateDirectoryFeeAfterOffer => {
				let who = self.registered(directories());
				let fee = match kind {
					Kind::UpdateDirectoryFeeAfterOffer => MDC,
					_ => self.one_of(&FEES),
				};
				signed(who, MarketCall::update_directory { endpoint: self.endpoint(), fee })
			}
			Kind::Trust | Kind::Distrust => {
				let who = self.account();
				let role = self.role();
				let trust = matches!(kind, Kind::Trust);
				let call = if self.rng.gen_bool(0.5) {
					let mediator = self.registered(mediators());
					if trust {
						MarketCall::trust_mediator { role, mediator }
					} else {
						MarketCall::distrust_mediator { role, mediator }
					}
				} else {
					let directory = self.registered(directories());
					if trust {
						MarketCall::trust_directory { role, directory }
					} else {
						MarketCall::distrust_directory { role, directory }
					}
				};
				signed(who, call)
			}
			Kind::DirectoryTrustsMediator => {
				let who = self.registered(directories());
				let mediator = self.registered(mediators());
				signed(who, MarketCall::trust_mediator { role: Role::Directory, mediator })
			}
			Kind::Deregister => {
				let who = self.account();
				signed(who, MarketCall::deregister { role: self.role() })
			}
			Kind::TopUpBond => {
				let who = self.account();
				let amount = self.one_of(&[0, MILLI_MDC, 100 * MDC, 10_000 * MDC]);
				signed(who, MarketCall::top_up_bond { role: self.role(), amount })
			}
			Kind::Heartbeat => {
				let who = self.registered(directories());
				signed(who, MarketCall::directory_heartbeat {})
			}
			Kind::SetParameters => Move::Call {
				origin: if self.rng.gen_bool(0.95) {
					Origin::Root
				} else {
					Origin::Signed(self.account())
				},
				call: RuntimeCall::Market(MarketCall::set_parameters {
					parameters: if self.rng.gen_bool(0.3) {
						self.baseline.clone()
					} else {
						self.parameters(self.baseline.clone())
					},
				}),
			},
			Kind::PostResourceOffer => {
				let who = self.registered(ResourceProviders::<Runtime>::iter_keys().collect());
				let architecture = ResourceProviders::<Runtime>::get(&who)
					.filter(|_| self.rng.gen_bool(0.95))
					.map_or_else(|| self.architecture(), |rp| rp.architecture);
				let valid_from = match self.rng.gen_range(0..20) {
					0 => now + self.rng.gen_range(1..5),
					_ => now.saturating_sub(self.rng.gen_range(0..3)),
				};
				let valid_to = match self.rng.gen_range(0..40) {
					0 => valid_from.saturating_sub(1),
					_ => now + self.rng.gen_range(0..45).max(self.rng.gen_range(0..45)),
				};
				let call = MarketCall::post_resource_offer {
					capacity: if self.rng.gen_bool(0.8) {
						Resources { cpu: 20_000, memory: 512, storage: 64, bandwidth: 4_096 }
					} else {
						self.resources(1)
					},
					architecture,
					cpu_price: self.one_of(&PRICES[..4]),
					bandwidth_price: self.one_of(&PRICES[..4]),
					valid_from,
					valid_to,
					max_fees: self.max_fees(),
					deposit: self.one_of(&[
						parameters.min_resource_deposit.saturating_sub(1),
						parameters.min_resource_deposit,
						MDC,
						10 * MDC,
						100 * MDC,
						// Enough for the largest bids, whose reservations exceed a bond.
						20_000 * MDC,
					]),
				};
				signed(who, call)
			}
			Kind::PostJobOffer => {
				let who = self.registered(JobCreators::<Runtime>::iter_keys().collect());
				let directory = self.registered(directories());
				let mut offer = JobOfferOf::<Runtime> {
					creator: who.clone(),
					limits: self.resources(1),
					architecture: if self.rng.gen_bool(0.9) {
						Architecture::Amd64
					} else {
						self.architecture()
					},
					image: ImageOf::<Runtime> {
						repository: b"jobs/fuzz".to_vec().try_into().expect("short"),
						digest: [7; 32],
					},
					base_layer: self.one_of(&LAYERS),
					directory,
					cpu_bid: self.one_of(&PRICES),
					bandwidth_bid: self.one_of(&PRICES),
					completion_deadline: now + self.rng.gen_range(0..35),
					max_fees: self.max_fees(),
					min_reputation: self.rng.gen_bool(0.2).then(|| MinReputation {
						score: Perbill::from_percent(self.rng.gen_range(0..80)),
						counted: self.rng.gen_range(0..3),
					}),
					run_length: 0,
					deposit: 0,
					state: OfferState::Open,
				};
				let minimum = Market::minimum_job_deposit(&offer, &parameters).unwrap_or(MDC);
				offer.deposit = match self.rng.gen_range(0..10) {
					0 => minimum.saturating_sub(1),
					1 => minimum,
					_ => minimum.saturating_add(self.one_of(&[MILLI_MDC, MDC, 10 * MDC])),
				};
				let call = MarketCall::post_job_offer {
					limits: offer.limits,
					architecture: offer.architecture,
					image: offer.image,
					base_layer: offer.base_layer,
					directory: offer.directory,
					cpu_bid: offer.cpu_bid,
					bandwidth_bid: offer.bandwidth_bid,
					completion_deadline: offer.completion_deadline,
					max_fees: offer.max_fees,
					min_reputation: offer.min_reputation,
					deposit: offer.deposit,
				};
				signed(who, call)
			}
			Kind::CancelJobOffer => {
				let (offer, owner) = self.pick(
					pallet_market::JobOffers::<Runtime>::iter()
						.map(|(id, o)| (id, o.creator))
						.collect(),
				)?;
				let who = self.usually(owner);
				signed(who, MarketCall::cancel_job_offer { offer })
			}
			Kind::CancelResourceOffer => {
				let (offer, owner) = self.pick(
					pallet_market::ResourceOffers::<Runtime>::iter()
						.map(|(id, o)| (id, o.provider))
						.collect(),
				)?;
				let who = self.usually(owner);
				signed(who, MarketCall::cancel_resource_offer { offer })
			}
			Kind::PostMatch => {
				let mut jobs = Market::open_job_offers();
				let resources = Market::open_resource_offers();
				// Mostly a pair a solver would find feasible: a few jobs are tried for one.
				let mut found = None;
				for _ in 0..4 {
					let Some((job_offer, job)) = self.pick(core::mem::take(&mut jobs)) else {
						break;
					};
					let feasible: Vec<_> = resources
						.iter()
						.filter(|(id, _)| {
							mediators()
								.iter()
								.any(|m| Market::feasibility(job_offer, *id, m).is_ok())
						})
						.cloned()
						.collect();
					let any = feasible.is_empty() || self.rng.gen_bool(0.2);
					let resource = self.pick(if any { resources.clone() } else { feasible });
					found = resource.map(|resource| ((job_offer, job), resource));
					if !any {
						break;
					}
					jobs = Market::open_job_offers();
				}
				let ((mut job_offer, job), (mut resource_offer, resource)) = found?;
				if self.rng.gen_bool(0.02) {
					// An offer that does not exist, or no longer does.
					(job_offer, resource_offer) = (job_offer + 1_000, resource_offer + 1_000);
				}
				// Mostly a mediator both trust, as a solver would pick.
				let trusted: Vec<AccountId> = JobCreators::<Runtime>::get(&job.creator)
					.map(|jc| jc.trusted_mediators.into_inner())
					.unwrap_or_default()
					.into_iter()
					.filter(|m| {
						ResourceProviders::<Runtime>::get(&resource.provider)
							.is_some_and(|rp| rp.trusted_mediators.contains(m))
					})
					.collect();
				let mediator = match self.pick(trusted) {
					Some(m) if self.rng.gen_bool(0.9) => m,
					_ => self.registered(mediators()),
				};
				let solver = self.account();
				signed(solver, MarketCall::post_match { job_offer, resource_offer, mediator })
			}
			Kind::PostResult => {
				let (match_id, m) = self.pick_match(|s| matches!(s, MatchState::Matched))?;
				let who = self.usually(m.provider.clone());
				let status = self.one_of(&ResultStatus::ALL);
				// Mostly a receipt as an honest provider posts it, often one that claims usage
				// without a run, an archive of no run, no archive of a run or usage over the
				// limits.
				let (honest, lie) = (self.rng.gen_bool(0.75), self.rng.gen_range(0..3));
				let mut usage = |over: u64| Resources {
					cpu: self.rng.gen_range(0..=m.limits.cpu.saturating_mul(over)),
					memory: self.rng.gen_range(0..=m.limits.memory.saturating_mul(over)),
					storage: self.rng.gen_range(0..=m.limits.storage.saturating_mul(over)),
					bandwidth: self.rng.gen_range(0..=m.limits.bandwidth.saturating_mul(over)),
				};
				let (usage, result_digest) = match (status.never_started(), honest, lie) {
					(true, true, _) => (Resources::default(), None),
					(true, false, 0) => (usage(1), None),
					(true, false, _) => (Resources::default(), Some([9; 32])),
					(false, true, _) => (usage(1), Some([9; 32])),
					(false, false, 0) => (usage(1), None),
					(false, false, _) => (usage(3), Some([9; 32])),
				};
				signed(who, MarketCall::post_result { match_id, status, usage, result_digest })
			}
			Kind::AcceptResult => {
				let (match_id, m) =
					self.pick_match(|s| matches!(s, MatchState::ResultPosted { .. }))?;
				let who = if self.rng.gen_bool(0.6) { m.creator } else { self.account() };
				signed(who, MarketCall::accept_result { match_id })
			}
			Kind::RejectResult => {
				let (match_id, m) =
					self.pick_match(|s| matches!(s, MatchState::ResultPosted { .. }))?;
				let who = self.usually(m.creator.clone());
				let reason = self.one_of(&[
					RejectReason::WrongResults,
					RejectReason::ResultNotFound,
					RejectReason::TooMuchCost,
					RejectReason::InvalidResultStatus,
				]);
				signed(who, MarketCall::reject_result { match_id, reason })
			}
			Kind::PostMediationResult => {
				let (match_id, m) =
					self.pick_match(|s| matches!(s, MatchState::InMediation { .. }))?;
				let who = self.usually(m.mediator.clone());
				// A mediator that never answers: one match in six (by its job offer) is left to
				// its mediation deadline, so every run sees mediators paying for their silence.
				if who == m.mediator && m.job_offer % 6 == 5 {
					return None;
				}
				let faulty_party = match m.state {
					// Where the chain takes a directory verdict (its availability disputed), the
					// mediator mostly names the directory, as when its heartbeats have stopped;
					// anywhere, any party sometimes.
					MatchState::InMediation { reason, receipt, .. }
						if Market::directory_may_be_at_fault(reason, &receipt)
							&& self.rng.gen_bool(0.8) =>
					{
						Party::Directory
					}
					_ => {
						self.one_of(&[Party::JobCreator, Party::ResourceProvider, Party::Directory])
					}
				};
				let result_digest = self.rng.gen_bool(0.5).then_some([8; 32]);
				signed(
					who,
					MarketCall::post_mediation_result { match_id, faulty_party, result_digest },
				)
			}
			Kind::ClaimTimeout => {
				let (match_id, _) = self.pick_match(|_| true)?;
				let who = self.account();
				signed(who, MarketCall::claim_timeout { match_id })
			}
			Kind::ClaimJoinGrant => {
				let terms = pallet_market::JoinGrantTerms::<Runtime>::get()?;
				// Mostly a newcomer's first claim; sometimes an account's second, or anyone's.
				let who = match self.rng.gen_range(0..10) {
					0..7 if !self.newcomers.is_empty() => {
						let index = self.rng.gen_range(0..self.newcomers.len());
						let who = self.newcomers.swap_remove(index);
						self.accounts.push(who.clone());
						who
					}
					_ => self.account(),
				};
				// Mostly the last block; sometimes one too old or not yet made.
				let block = match self.rng.gen_range(0..10) {
					0 => now,
					1 => now.saturating_sub(terms.proof_age + 1),
					_ => now.saturating_sub(1),
				};
				let call = MarketCall::claim_join_grant {
					who,
					proof: pallet_market::GrantProof { block, nonce: self.rng.gen() },
				};
				Move::Call { origin: Origin::None, call: RuntimeCall::Market(call) }
			}
			Kind::Transfer => {
				let (from, to) = (self.account(), self.account());
				let call = if self.rng.gen_bool(0.05) {
					pallet_balances::Call::transfer_all { dest: to.into(), keep_alive: false }
				} else {
					let free = pallet_balances::Pallet::<Runtime>::free_balance(&from);
					let value = free / 100 * Balance::from(self.rng.gen_range(1u32..=100));
					pallet_balances::Call::transfer_allow_death { dest: to.into(), value }
				};
				Move::Call { origin: Origin::Signed(from), call: RuntimeCall::Balances(call) }
			}
		})
	}

	fn account(&mut self) -> AccountId {
		let index = self.rng.gen_range(0..self.accounts.len());
		self.accounts[index].clone()
	}

	/// `owner` nine times out of ten, else any account: another party's step.
	fn usually(&mut self, owner: AccountId) -> AccountId {
		if self.rng.gen_bool(0.9) {
			owner
		} else {
			self.account()
		}
	}

	/// One of the `registered` accounts mostly, any account sometimes.
	fn registered(&mut self, registered: Vec<AccountId>) -> AccountId {
		match self.pick(registered) {
			Some(who) if self.rng.gen_bool(0.9) => who,
			_ => self.account(),
		}
	}

	fn pick<T>(&mut self, mut items: Vec<T>) -> Option<T> {
		if items.is_empty() {
			return None;
		}
		let index = self.rng.gen_range(0..items.len());
		Some(items.swap_remove(index))
	}

	/// A match in a state `state` accepts; now and then one in any state, or an id that is
	/// not (or no longer) a match, as a wrong or stale caller would send.
	fn pick_match(
		&mut self,
		state: impl Fn(&MatchState<BlockNumber>) -> bool,
	) -> Option<(u64, pallet_market::MatchOf<Runtime>)> {
		let any = self.rng.gen_bool(0.1);
		let (id, m) = self
			.pick(Matches::<Runtime>::iter().filter(|(_, m)| any || state(&m.state)).collect())?;
		Some((if self.rng.gen_bool(0.02) { id + 1_000 } else { id }, m))
	}

	fn one_of<T: Clone>(&mut self, items: &[T]) -> T {
		items[self.rng.gen_range(0..items.len())].clone()
	}

	fn architecture(&mut self) -> Architecture {
		self.one_of(&[Architecture::Amd64, Architecture::Amd64, Architecture::Arm64])
	}

	fn role(&mut self) -> Role {
		self.one_of(&[Role::JobCreator, Role::ResourceProvider, Role::Mediator, Role::Directory])
	}

	/// Mostly every `candidates` entry but `owner`; sometimes a short, self-naming or
	/// repeating list.
	fn trust_list<S: frame_support::traits::Get<u32>>(
		&mut self,
		owner: &AccountId,
		candidates: Vec<AccountId>,
	) -> frame_support::BoundedVec<AccountId, S> {
		let mut list: Vec<AccountId> = match self.rng.gen_range(0..10) {
			0 => vec![owner.clone()],
			1 => candidates.iter().take(1).chain(candidates.iter().take(1)).cloned().collect(),
			2 => Vec::new(),
			_ => candidates.into_iter().filter(|c| c != owner).collect(),
		};
		list.truncate(S::get() as usize);
		list.try_into().expect("truncated to the bound")
	}

	fn layers<S: frame_support::traits::Get<u32>>(
		&mut self,
	) -> frame_support::BoundedVec<[u8; 32], S> {
		let layers = match self.rng.gen_range(0..10) {
			0 => vec![LAYERS[0], LAYERS[0]],
			1 => vec![LAYERS[self.rng.gen_range(0..3)]],
			_ => LAYERS[..2].to_vec(),
		};
		layers.try_into().expect("within the bound")
	}

	fn endpoint<S: frame_support::traits::Get<u32>>(&mut self) -> frame_support::BoundedVec<u8, S> {
		let url: &[u8] = if self.rng.gen_bool(0.05) { b"ftp://x" } else { b"http://d.example" };
		url.to_vec().try_into().expect("short")
	}

	fn bond(&mut self, parameters: &MarketParametersOf<Runtime>) -> Balance {
		let min = parameters.min_bond;
		self.one_of(&[min.saturating_sub(1), min, min.saturating_mul(3), 10_000 * MDC])
	}

	fn max_fees(&mut self) -> MaxFees<Balance> {
		MaxFees { mediator: self.one_of(&FEES), directory: self.one_of(&FEES) }
	}

	/// A mediator's largest run: mostly one that covers any job, sometimes a small one.
	fn mediator_capacity(&mut self) -> Resources {
		if self.rng.gen_bool(0.8) {
			Resources { cpu: 40_000, memory: 1_024, storage: 128, bandwidth: 8_192 }
		} else {
			self.resources(1)
		}
	}

	/// Limits (`scale` 1) or capacities (`scale` 2).
	fn resources(&mut self, scale: u64) -> Resources {
		Resources {
			cpu: self.rng.gen_range(0..=20_000 * scale),
			memory: self.rng.gen_range(1..=512 * scale),
			storage: self.rng.gen_range(1..=64 * scale),
			bandwidth: self.rng.gen_range(0..=4_096 * scale),
		}
	}

	/// The current parameters with one to three fields set to boundary or ordinary values.
	fn parameters(&mut self, mut p: MarketParametersOf<Runtime>) -> MarketParametersOf<Runtime> {
		for _ in 0..self.rng.gen_range(1..=2) {
			match self.rng.gen_range(0..18) {
				0 => p.penalty_rate = self.one_of(&[0, 1, 3, 50]),
				1 => p.verification_count = self.one_of(&[0, 1, 2, 3]),
				2 => p.match_incentive = self.one_of(&[0, MILLI_MDC, 10 * MILLI_MDC]),
				3 => p.reaction_window = self.one_of(&[0, 1, 2, 3, 6]),
				4 => p.mediation_window = self.one_of(&[0, 3, 5, 8, 12]),
				5 => p.too_much_cost_tolerance = Perbill::from_percent(self.rng.gen_range(0..=100)),
				6 => p.too_much_cost_floor = self.one_of(&[0, 100, u64::MAX]),
				7 => p.min_resource_deposit = self.one_of(&[0, MILLI_MDC, MDC]),
				8 => p.min_bond = self.one_of(&[0, MDC, 100 * MDC, 100_000 * MDC]),
				9 => p.heartbeat_period = self.one_of(&[0, 1, 3, 6]),
				10 => p.reference_speed = self.one_of(&[0, 1, 100, 1_000, u64::MAX]),
				11 => p.reference_bandwidth = self.one_of(&[0, 1, 2_048]),
				16 => p.fetch_grace = self.one_of(&[0, 1, 10, BlockNumber::MAX]),
				12 => p.max_job_duration = self.one_of(&[0, 1, 10, 30, 60, BlockNumber::MAX]),
				13 => p.max_offer_window = self.one_of(&[0, 1, 20, 40, 80, BlockNumber::MAX]),
				14 => p.reputation_decay = Perbill::from_percent(self.rng.gen_range(0..=100)),
				15 => p.min_reputation_price = self.one_of(&[0, 1_000_000, MDC]),
				_ => p.reputation_fee = Perbill::from_percent(self.rng.gen_range(0..=100)),
			}
		}
		p
	}
}

/// Registered mediators.
fn mediators() -> Vec<AccountId> {
	Mediators::<Runtime>::iter_keys().collect()
}

/// Registered directories.
fn directories() -> Vec<AccountId> {
	Directories::<Runtime>::iter_keys().collect()
}
