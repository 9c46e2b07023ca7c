//! `modicum account`: a new key, and a new account's join grant earned with a proof of work.

use super::*;
use codec::Encode;
use modicum_cli::grant::{self, Outcome, Progress};
use modicum_runtime::MILLI_SECS_PER_BLOCK;
use pallet_market::{GrantProof, GrantPuzzle};
use sp_core::{sr25519, Pair};
use std::time::{Duration, Instant};

/// `modicum account new`: a fresh mnemonic and its address.
pub(crate) fn new_account(output: Output, out: Option<&std::path::Path>) -> Result<(), CliError> {
	let (pair, phrase, _) = sr25519::Pair::generate_with_phrase(None);
	let address = AccountId::from(pair.public()).to_ss58check();
	if let Some(path) = out {
		use std::os::unix::fs::OpenOptionsExt;
		let mut file = std::fs::OpenOptions::new()
			.write(true)
			.create_new(true)
			.mode(0o600)
			.open(path)
			.map_err(|e| CliError::Usage(format!("cannot create {}: {e}", path.display())))?;
		file.write_all(format!("{phrase}\n").as_bytes())
			.map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
	}
	let mnemonic = out.is_none().then_some(phrase.as_str());
	emit(output, &json!({ "account": address, "mnemonic": mnemonic, "file": out }), || {
		match out {
		Some(path) => format!("{address}\n  its mnemonic is in {} (use it with --seed-file)\n", path.display()),
		None => format!("{address}\n  mnemonic: {phrase}\n  keep it secret; anyone who has it holds the account\n"),
	}
	});
	Ok(())
}

/// The share of a search's expected hashes done, as a bar of 20 cells.
fn bar(progress: &Progress) -> String {
	let share = progress.hashes as f64 / progress.difficulty.max(1) as f64;
	let cells = ((share * 20.0) as usize).min(20);
	let left = progress.expected().saturating_sub(progress.elapsed);
	let when = if share < 1.0 {
		format!("~{} s left", left.as_secs())
	} else {
		"past the expected: luck decides".into()
	};
	format!(
		"[{}{}] {:>3.0}% of {:.1} M expected hashes, {:.2} M/s, {when}",
		"#".repeat(cells),
		".".repeat(20 - cells),
		(share * 100.0).min(999.0),
		progress.difficulty as f64 / 1e6,
		progress.rate() / 1e6,
	)
}

/// `modicum account join`: check the account may claim, search the proof on every core
/// (again on a newer block if the proof's block grows too old first), claim, show the grant.
pub(crate) async fn join(
	chain: &Chain,
	output: Output,
	threads: Option<usize>,
) -> Result<(), CliError> {
	let me = chain.account()?;
	let best = chain.best().await?;
	let Some((terms, _)) = chain.grant_terms(best.hash).await? else {
		return Err(CliError::Usage("this chain pays no join grants".into()));
	};
	if let Some(grant) = chain.grant(&me, best.hash).await? {
		return Err(CliError::Usage(format!(
			"{} has claimed its join grant already ({} left, expiring at #{})",
			me.to_ss58check(),
			mdc(grant.available),
			grant.expires_at
		)));
	}
	if chain.next_nonce(&me).await? != 0 {
		return Err(CliError::Usage(format!(
			"{} has sent transactions: only a new account claims a join grant (create one with `modicum account new`)",
			me.to_ss58check()
		)));
	}
	let (_, pool) = chain.welfare_pool(best.hash).await?;
	if pool < terms.amount {
		return Err(CliError::Usage(format!(
			"the welfare pool can pay {}, less than a grant of {}: try again once the market's tax and forfeits refill it",
			mdc(pool),
			mdc(terms.amount)
		)));
	}
	let threads = threads
		.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
		.max(1);
	let block_time = Duration::from_millis(MILLI_SECS_PER_BLOCK);
	let started = Instant::now();
	let mut total_hashes = 0u64;
	let mut last_bound = None;
	let (proof, bound) = loop {
		// A finalized block: its hash never changes under the proof.
		let (bound, best) = (chain.finalized().await?, chain.best().await?);
		if last_bound == Some(bound.number) {
			return Err(CliError::Usage(format!(
				"finality has stood at #{} for the proof's whole life: the node or its network is stalled",
				bound.number
			)));
		}
		last_bound = Some(bound.number);
		let Some((_, difficulty)) = chain.grant_terms(best.hash).await? else {
			return Err(CliError::Usage("this chain pays no join grants".into()));
		};
		// The search gives up with a quarter of the proof's life left for the claim to land,
		// counted from the finalized block it names.
		let lag = best.number.saturating_sub(bound.number);
		let life = block_time * (terms.proof_age - terms.proof_age / 4).saturating_sub(lag).max(1);
		progress(format!(
			"proof of work for {} on {threads} thread(s): {:.1} M expected hashes, bound to block #{}",
			me.to_ss58check(),
			difficulty as f64 / 1e6,
			bound.number
		));
		let (genesis, account, block_hash) = (chain.genesis(), me.encode(), bound.hash);
		let give_up = Instant::now() + life;
		let tty = std::io::stderr().is_terminal();
		let outcome = tokio::task::spawn_blocking(move || {
			// A terminal gets a bar redrawn in place; a log, a line every ten seconds.
			let mut logged = Instant::now();
			grant::search(
				genesis.as_ref(),
				&account,
				block_hash.as_ref(),
				difficulty,
				threads,
				|p| {
					if tty {
						eprint!("\r[modicum] {}   ", bar(&p));
					} else if logged.elapsed() >= Duration::from_secs(10) {
						logged = Instant::now();
						eprintln!("[modicum] {}", bar(&p));
					}
					Instant::now() < give_up
				},
			)
		})
		.await
		.map_err(|e| CliError::Usage(format!("the proof-of-work search failed: {e}")))?;
		if tty {
			eprintln!();
		}
		match outcome {
			Outcome::Solved { nonce, hashes } => {
				total_hashes += hashes;
				// A period may have ended during a long search and raised the difficulty.
				let best = chain.best().await?;
				let now = chain.grant_terms(best.hash).await?.map_or(difficulty, |(_, d)| d);
				let mut puzzle =
					GrantPuzzle::new(chain.genesis().as_ref(), &me.encode(), bound.hash.as_ref());
				if GrantPuzzle::meets(&puzzle.work(nonce), now) {
					break (GrantProof { block: bound.number, nonce }, bound);
				}
				progress(format!(
					"the difficulty rose to {:.1} M hashes during the search; again",
					now as f64 / 1e6
				));
				last_bound = None;
			}
			Outcome::GaveUp { hashes } => {
				total_hashes += hashes;
				progress(format!(
					"block #{} grows too old for a proof; again on a newer block",
					bound.number
				));
			}
		}
	};
	let seconds = started.elapsed().as_secs_f64();
	progress(format!(
		"solved after {:.1} M hashes in {seconds:.1} s; claiming",
		total_hashes as f64 / 1e6
	));
	let call = MarketCall::claim_join_grant { who: me.clone(), proof };
	// The claim is valid until its block is `GrantProofAge` old: no point waiting longer.
	let best = chain.best().await?;
	let left = (bound.number + terms.proof_age).saturating_sub(best.number).max(1);
	let included = chain.submit_unsigned(RuntimeCall::Market(call), left).await?;
	let claimed = included.events.iter().find_map(|event| match event {
		RuntimeEvent::Market(MarketEvent::JoinGrantClaimed {
			amount, held, expires_at, ..
		}) => Some((*amount, *held, *expires_at)),
		_ => None,
	});
	let Some((amount, held, expires_at)) = claimed else {
		return Err(CliError::Usage(format!(
			"block #{} has the claim but no grant event",
			included.block.number
		)));
	};
	let expires_in = block_time * expires_at.saturating_sub(included.block.number);
	let value = json!({
		"account": me.to_ss58check(),
		"amount": amount,
		"held": held,
		"block": included.block.number,
		"expiresAt": expires_at,
		"hashes": total_hashes,
		"seconds": seconds,
		"hashesPerSecond": total_hashes as f64 / seconds.max(1e-3),
	});
	emit(output, &value, || {
		format!(
			"{} joined in block #{}: a grant of {} ({} for the market's deposits, bonds and fees, the rest keeps the account alive)\n  what is left of it returns to the welfare pool at #{expires_at} (in about {} min)\n",
			me.to_ss58check(),
			included.block.number,
			mdc(amount),
			mdc(held),
			expires_in.as_secs() / 60
		)
	});
	Ok(())
}
