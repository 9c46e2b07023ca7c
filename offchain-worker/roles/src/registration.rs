//! A role's presence on chain: its registration sent until it shows, its bond topped up.

use crate::context::Context;
use modicum_common::{actors::is_registered, signing::MORTALITY};
use modicum_runtime::{Balance, BlockNumber, Runtime, RuntimeCall};
use pallet_market::{ActorsOf, Role};

/// Blocks a worker waits for its transaction to show before sending it again.
pub const RESUBMIT_AFTER: BlockNumber = 10;

/// What a bond top-up leaves spendable for the role's own transaction fees.
const TOP_UP_FEE_RESERVE: Balance = modicum_runtime::MILLI_MDC * 100;

/// A role's registration call, sent (and sent again while it does not show) until the account is
/// registered; for a bonded role, the bond topped up again to what the operator configured
/// whenever fees or faults took it lower (below `MinBond` the role is never matched).
pub(crate) struct Registration {
	role: Role,
	name: &'static str,
	call: RuntimeCall,
	sent: Option<BlockNumber>,
	bond: Option<Balance>,
	topped_up: Option<BlockNumber>,
}

impl Registration {
	pub(crate) fn new(role: Role, name: &'static str, call: RuntimeCall) -> Self {
		Self { role, name, call, sent: None, bond: None, topped_up: None }
	}

	/// The same, keeping the bond at `bond`.
	pub(crate) fn bonded(mut self, bond: Balance) -> Self {
		self.bond = Some(bond);
		self
	}

	/// Tops the held bond up to the configured one when it fell below it.
	async fn top_up<C>(&mut self, ctx: &Context<C>, actors: &ActorsOf<Runtime>, now: BlockNumber) {
		let Some(target) = self.bond else { return };
		let me = ctx.chain.account();
		let held = match self.role {
			Role::Mediator => actors.mediators.iter().find(|(a, _)| a == me).map(|(_, i)| i.bond),
			Role::Directory => actors.directories.iter().find(|(a, _)| a == me).map(|(_, i)| i.bond),
			_ => None,
		};
		let Some(held) = held.filter(|held| *held < target) else { return };
		// Once per era: a top-up still in the pool is never sent twice (the bond would
		// overshoot), and an account that cannot pay is not charged fees every few blocks.
		if self.topped_up.is_some_and(|sent| now < sent.saturating_add(MORTALITY as BlockNumber)) {
			return;
		}
		self.topped_up = Some(now);
		let best = ctx.chain.heads().best.hash;
		let spendable = ctx.chain.state().spendable_balance(best, me).unwrap_or_default();
		let amount = (target - held).min(spendable.saturating_sub(TOP_UP_FEE_RESERVE));
		if amount == 0 {
			tracing::warn!(target: "modicum", role = self.name, held, target, spendable, "the bond is below its configured amount and the account cannot top it up: fund it");
			return;
		}
		tracing::info!(target: "modicum", role = self.name, held, target, amount, "topping the bond up");
		let call = pallet_market::Call::<Runtime>::top_up_bond { role: self.role, amount };
		ctx.submit("top_up_bond", call.into()).await;
	}

	/// Whether the account is registered among `actors`; if not, sends the call when due.
	pub(crate) async fn ensure<C>(
		&mut self,
		ctx: &Context<C>,
		actors: &ActorsOf<Runtime>,
		now: BlockNumber,
	) -> bool {
		if is_registered(actors, ctx.chain.account(), self.role) {
			self.top_up(ctx, actors, now).await;
			return true;
		}
		if due(self.sent, now) {
			self.sent = Some(now);
			ctx.submit(self.name, self.call.clone()).await;
		}
		false
	}
}

/// Whether a transaction last sent at `sent` may be sent again at `now`.
pub(crate) fn due(sent: Option<BlockNumber>, now: BlockNumber) -> bool {
	sent.is_none_or(|sent| now >= sent.saturating_add(RESUBMIT_AFTER))
}

