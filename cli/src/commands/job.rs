//! `modicum job …`: a job offer built, priced, posted and followed; its result read, fetched
//! and settled.

use super::*;

/// The open match of a job, or what to do instead.
pub(crate) async fn open_match(chain: &Chain, id: OfferId) -> Result<(MatchId, MatchOf<Runtime>), CliError> {
	let status = status::track(chain, id, None).await?;
	match (status.match_id, status.terms) {
		(Some(match_id), Some(terms)) => Ok((match_id, terms)),
		_ => Err(CliError::Usage(format!("job {id} has no open match: it is {} ({})", status.state, status.next))),
	}
}

pub(crate) async fn verify(
	verifier: &Verifier,
	chain: &Chain,
	match_id: MatchId,
	terms: &MatchOf<Runtime>,
	requested: Option<f64>,
) -> Result<Decision, CliError> {
	if !matches!(terms.state, MatchState::ResultPosted { .. }) {
		return Err(CliError::Usage(format!("match {match_id} has no result waiting for a decision")));
	}
	let rate = verifier::rate_for(chain, terms, requested).await?;
	progress(format!("match {match_id}: result posted; verifying with p_v = {rate:.3}"));
	Ok(verifier.decide_and_act(match_id, terms, rate).await?)
}

pub(crate) fn decision_text(decision: &Decision) -> String {
	format!(
		"match {}: {}{} — {}\n",
		decision.match_id,
		decision.action,
		decision.reason.map(|r| format!(" ({r:?})")).unwrap_or_default(),
		decision.why
	)
}

/// `job run`: the image published, the job offer priced, confirmed and posted, then followed
/// with `--wait`.
pub(crate) async fn job_run(chain: &Chain, registries: &Registries, output: Output, args: RunArgs) -> Result<(), CliError> {
	let best = chain.best().await?;
	let actors = chain.actors(best.hash).await?;
	let asked = args
		.directory
		.as_deref()
		.map(|d| AccountId::from_ss58check(d).map_err(|_| CliError::Usage(format!("--directory {d} is not an SS58 account"))))
		.transpose()?;
	let directory = offer::choose_directory(chain, &actors, asked.as_ref(), best.hash).await?;
	let published = publish(chain, registries, &args, &actors, &directory.1).await?;
	let request = request(&args, published.architecture)?;
	let plan = offer::plan(chain, &request, &actors, published.image, published.base_layer, published.image_kib, directory).await?;
	confirm(&plan, args.yes)?;
	let (id, block) = post(chain, &plan).await?;
	if args.id_only {
		println!("{id}");
	} else if !args.wait {
		emit(output, &json!({ "job": id, "plan": plan, "block": block }), || {
			format!("job {id} posted in block #{block}: follow it with `modicum job describe {id}`\n")
		});
	}
	if args.wait {
		progress(format!("job {id} posted in block #{block}; waiting for a match"));
		let status = follow(chain, registries, id, args.verify_rate).await?;
		if !args.id_only {
			emit(output, &status, || status.describe());
		}
	}
	Ok(())
}

/// A job image at its directory, as a job offer names it.
pub(crate) struct Published {
	pub(crate) image: ImageOf<Runtime>,
	pub(crate) base_layer: pallet_market::Digest,
	architecture: pallet_market::Architecture,
	/// KiB of the layers above the base.
	image_kib: u64,
}

/// Builds the job's image (or takes `--image`), adds `--input`, and pushes it to the
/// directory's registry through the registry client; what the pushed image is, read back.
async fn publish(
	chain: &Chain,
	registries: &Registries,
	args: &RunArgs,
	actors: &pallet_market::ActorsOf<Runtime>,
	endpoint: &str,
) -> Result<Published, CliError> {
	let supported = offer::supported_bases(actors);
	let registry = registries.client(endpoint)?;

	let (name, local) = match (&args.dir, &args.image) {
		(Some(dir), _) => {
			let name = dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
			let repository = image::repository_for(name.as_deref().unwrap_or("job"));
			let tag = format!("modicum-{repository}:latest");
			progress(format!("building {} on a registered base", dir.display()));
			image::build(dir, args.input.as_deref(), &tag, &supported).await?;
			(repository, tag)
		}
		(None, Some(reference)) => {
			let repository = image::repository_for(reference.split([':', '@']).next().unwrap_or("job").rsplit('/').next().unwrap_or("job"));
			image::check_base(reference, &supported).await?;
			match &args.input {
				Some(input) => {
					let tag = format!("modicum-{repository}:latest");
					image::add_input(reference, input, &tag).await?;
					(repository, tag)
				}
				None => (repository, reference.clone()),
			}
		}
		(None, None) => return Err(CliError::Usage("give a folder with a Dockerfile, or --image".into())),
	};
	progress(format!("pushing {local} to the directory at {endpoint}"));
	push_image(&registry, &local, &name, &home(chain).join("push")).await
}

/// Pushes the local image `local` as `name` and reads back what a job offer names of it.
pub(crate) async fn push_image(registry: &Registry, local: &str, name: &str, work: &std::path::Path) -> Result<Published, CliError> {
	let digest = image::push(local, registry, name, work).await?;
	let manifest = registry.manifest(&name, &digest, 64 << 10).await?;
	let config = registry.image_config(&name, &manifest, 64 << 10).await?;
	let base_layer: modicum_common::digest::Sha256 = config
		.rootfs
		.diff_ids
		.first()
		.ok_or_else(|| CliError::Usage("the pushed image has no layers".into()))?
		.parse()
		.map_err(CliError::Usage)?;
	let image_bytes: u64 = manifest.layers.iter().skip(1).map(|l| l.size).sum();
	let architecture = modicum_common::arch::from_oci(&config.architecture)
		.ok_or_else(|| CliError::Usage(format!("the image is built for `{}`, which the market does not run", config.architecture)))?;
	let image = ImageOf::<Runtime> {
		repository: name.as_bytes().to_vec().try_into().map_err(|_| CliError::Usage(format!("repository name {name} is too long")))?,
		digest,
	};
	Ok(Published { image, base_layer: base_layer.0, architecture, image_kib: image_bytes.div_ceil(1024) })
}

/// What `job run`'s flags ask of the job offer.
fn request(args: &RunArgs, architecture: pallet_market::Architecture) -> Result<Request, CliError> {
	Ok(Request {
		limits: Resources { cpu: args.cpu, memory: args.memory, storage: args.storage, bandwidth: args.bandwidth.unwrap_or(0) },
		// The image's own: a job offer for another machine than the image's would fail on
		// every provider.
		architecture,
		cpu_bid: args.cpu_bid.map(|a| a.0),
		bandwidth_bid: args.bandwidth_bid.map(|a| a.0),
		deadline_in: args.deadline,
		max_mediator_fee: args.max_mediator_fee.map(|a| a.0),
		max_directory_fee: args.max_directory_fee.map(|a| a.0),
		trust_mediators: args
			.trust_mediator
			.iter()
			.map(|m| AccountId::from_ss58check(m).map_err(|_| CliError::Usage(format!("--trust-mediator {m} is not an SS58 account"))))
			.collect::<Result<_, _>>()?,
		min_reputation: args.min_reputation.map(|p| MinReputation { score: Perbill::from_percent(p.min(100)), counted: args.min_counted }),
		deposit: args.deposit.map(|a| a.0),
	})
}

/// Shows the plan and, unless `--yes`, asks at the terminal before anything is held.
fn confirm(plan: &offer::Plan, yes: bool) -> Result<(), CliError> {
	eprint!("{}", plan.describe());
	if !yes {
		if !std::io::stdin().is_terminal() {
			return Err(CliError::Usage("not posted: confirm with --yes when not at a terminal".into()));
		}
		eprint!("Post this job offer, holding {}? [y/N] ", mdc(plan.offer.deposit));
		let _ = std::io::stderr().flush();
		let mut answer = String::new();
		let _ = std::io::stdin().read_line(&mut answer);
		if !matches!(answer.trim(), "y" | "Y" | "yes") {
			return Err(CliError::Usage("not posted".into()));
		}
	}
	Ok(())
}

/// Registers the job creator if the plan says so and posts the job offer; its id and block,
/// journaled.
async fn post(chain: &Chain, plan: &offer::Plan) -> Result<(OfferId, BlockNumber), CliError> {
	if !plan.register_trusting.is_empty() {
		let trusted_mediators = plan
			.register_trusting
			.iter()
			.filter_map(|m| AccountId::from_ss58check(m).ok())
			.collect::<Vec<_>>()
			.try_into()
			.map_err(|_| CliError::Usage("too many mediators to trust".into()))?;
		progress("registering as a job creator");
		chain.submit(RuntimeCall::Market(MarketCall::register_job_creator { trusted_mediators })).await?;
	}
	let o = plan.offer.clone();
	let included = chain
		.submit(RuntimeCall::Market(MarketCall::post_job_offer {
			limits: o.limits,
			architecture: o.architecture,
			image: o.image,
			base_layer: o.base_layer,
			directory: o.directory,
			cpu_bid: o.cpu_bid,
			bandwidth_bid: o.bandwidth_bid,
			completion_deadline: o.completion_deadline,
			max_fees: o.max_fees,
			min_reputation: o.min_reputation,
			deposit: o.deposit,
		}))
		.await?;
	let id = included
		.events
		.iter()
		.find_map(|e| match e {
			RuntimeEvent::Market(MarketEvent::JobOfferPosted { offer, .. }) => Some(*offer),
			_ => None,
		})
		.ok_or_else(|| CliError::Usage("the job offer was posted but its event is missing".into()))?;
	let journal = JobJournal {
		job_offer: id,
		match_id: None,
		scanned_to: included.block.number,
		horizon: None,
		bandwidth: Some(o.limits.bandwidth),
		creator: Some(o.creator.to_ss58check()),
		steps: vec![(included.block.number, Step::Posted { deposit: status::Planck(o.deposit), completion_deadline: o.completion_deadline })],
	};
	let _ = journal.save(chain);
	Ok((id, included.block.number))
}

/// Follows job `id` block by block to its end, verifying and settling its result.
pub(crate) async fn follow(chain: &Chain, registries: &Registries, id: OfferId, verify_rate: Option<f64>) -> Result<JobStatus, CliError> {
	let mut last_state = "";
	let mut decided = false;
	let mut block = 0;
	loop {
		let status = status::track(chain, id, None).await?;
		if status.state != last_state {
			progress(format!("job {id}: {} — {}", status.state, status.next));
			last_state = status.state;
		}
		match status.state {
			"closed" | "cancelled" | "expired" => return Ok(status),
			"result" if !decided => {
				if let (Some(match_id), Some(terms)) = (status.match_id, &status.terms) {
					match Verifier::start(chain, registries).await {
						// Once either way: a decision that did not land (the chain accepted by
						// the deadline meanwhile) shows in the match's ending.
						Ok(verifier) => {
							decided = true;
							match verify(&verifier, chain, match_id, terms, verify_rate).await {
								Ok(decision) => progress(decision_text(&decision).trim_end()),
								Err(e) => progress(format!("match {match_id}: no decision posted here: {e}")),
							}
						}
						// Another process verifies for this account here: try again next block,
						// while the result waits.
						Err(VerifierError::Busy(lock)) => progress(format!("match {match_id}: another modicum process holds {lock}; waiting for it")),
						Err(e) => {
							decided = true;
							progress(format!("match {match_id}: no decision posted here: {e}"));
						}
					}
				}
			}
			_ => {}
		}
		block = chain.next_block(block.max(status.best)).await?.number;
	}
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Listed {
	job: OfferId,
	state: &'static str,
	match_id: Option<MatchId>,
	next: String,
}

pub(crate) async fn job_list(chain: &Chain, output: Output, state: Option<String>) -> Result<(), CliError> {
	let me = chain.account()?;
	let best = chain.best().await?;
	let mut ids: Vec<OfferId> = JobJournal::all(chain).iter().map(|j| j.job_offer).collect();
	ids.extend(chain.open_job_offers(best.hash).await?.into_iter().filter(|(_, o)| o.creator == me).map(|(id, _)| id));
	ids.extend(chain.open_matches(best.hash).await?.into_iter().filter(|(_, m)| m.creator == me).map(|(_, m)| m.job_offer));
	ids.sort();
	ids.dedup();
	let mut listed = Vec::new();
	for id in ids {
		let status = status::track(chain, id, None).await?;
		// A home may be shared by several accounts: only this one's jobs.
		let creator = status.offer.as_ref().map(|o| o.creator.to_ss58check()).or(status.creator.clone());
		if state.as_deref().is_some_and(|s| s != status.state) || creator.is_some_and(|c| c != me.to_ss58check()) {
			continue;
		}
		listed.push(Listed { job: id, state: status.state, match_id: status.match_id, next: status.next });
	}
	emit(output, &listed, || {
		let mut text = format!("{:<6} {:<10} {:<6} next\n", "job", "state", "match");
		for l in &listed {
			let m = l.match_id.map(|m| m.to_string()).unwrap_or_else(|| "-".into());
			text += &format!("{:<6} {:<10} {:<6} {}\n", l.job, l.state, m, l.next);
		}
		text
	});
	Ok(())
}

/// The result archive of job `id`, fetched once into the CLI's cache, and the job's status.
pub(crate) async fn archive_of(chain: &Chain, registries: &Registries, id: OfferId) -> Result<(PathBuf, JobStatus), CliError> {
	let status = status::track(chain, id, None).await?;
	let digest = status.receipt.map(|r| r.result_digest).or_else(|| {
		status.history.iter().rev().find_map(|(_, s)| match s {
			Step::ResultPosted { digest, .. } => Some(digest.as_ref().and_then(|d| d.parse::<modicum_common::digest::Sha256>().ok()).map(|d| d.0)),
			_ => None,
		})
	});
	let digest = match digest {
		Some(Some(digest)) => digest,
		Some(None) => return Err(ResultError::NoArchive(format!("job {id}")).into()),
		None => return Err(CliError::Usage(format!("job {id} has no result yet: it is {} ({})", status.state, status.next))),
	};
	let best = chain.best().await?;
	let actors = chain.actors(best.hash).await?;
	let directory = status
		.terms
		.as_ref()
		.map(|t| t.directory.clone())
		.or_else(|| status.offer.as_ref().map(|o| o.directory.clone()))
		.or_else(|| {
			status.history.iter().find_map(|(_, s)| match s {
				Step::Matched { directory, .. } => AccountId::from_ss58check(directory).ok(),
				_ => None,
			})
		})
		.ok_or_else(|| CliError::Usage(format!("job {id}: its directory is unknown")))?;
	let endpoint = directory_endpoint(&actors, &directory)
		.ok_or_else(|| CliError::Usage(format!("job {id}: directory {} is no longer registered", directory.to_ss58check())))?;
	// No honest archive is larger than the job's bandwidth limit (or its logs alone).
	let bandwidth = status.bandwidth.ok_or_else(|| {
		CliError::Usage(format!("job {id}: its limits are unknown to this CLI (it did not post or follow the job while it was open)"))
	})?;
	let limit = verifier::archive_cap(bandwidth);
	progress(format!("fetching the result archive sha256:{} from {endpoint}", hex::encode(digest)));
	Ok((result::fetch(registries, &endpoint, &digest, limit, &home(chain).join("results")).await?, status))
}

pub(crate) async fn job_logs(chain: &Chain, registries: &Registries, output: Output, id: OfferId) -> Result<(), CliError> {
	let (archive, _) = archive_of(chain, registries, id).await?;
	let (stdout, stderr) = result::logs(&archive)?;
	match output {
		Output::Json => emit(output, &json!({
			"job": id,
			"stdout": String::from_utf8_lossy(&stdout),
			"stderr": String::from_utf8_lossy(&stderr),
		}), String::new),
		Output::Human => {
			std::io::stdout().write_all(&stdout).map_err(|e| CliError::Usage(e.to_string()))?;
			std::io::stderr().write_all(&stderr).map_err(|e| CliError::Usage(e.to_string()))?;
		}
	}
	Ok(())
}

pub(crate) async fn job_get(chain: &Chain, registries: &Registries, output: Output, id: OfferId, dir: Option<PathBuf>) -> Result<(), CliError> {
	let (archive, status) = archive_of(chain, registries, id).await?;
	if status.history.iter().any(|(_, s)| matches!(s, Step::Verdict { faulty_party, .. } if faulty_party == "ResourceProvider")) {
		progress("warning: the mediator found this result wrong; it is the provider's archive, not a correct result");
	}
	let dir = dir.unwrap_or_else(|| PathBuf::from(format!("job-{id}")));
	let files = result::unpack(&archive, &dir)?;
	emit(output, &json!({ "job": id, "dir": dir, "files": files }), || {
		format!("job {id}: result (digest checked) unpacked into {} ({} entries: stdout, stderr, out/)\n", dir.display(), files.len())
	});
	Ok(())
}

