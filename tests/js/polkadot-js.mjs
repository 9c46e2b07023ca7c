// A standard @polkadot/api client against a running Modicum node, with no custom types:
// it connects, reads the token properties, decodes the metadata, and submits market
// registrations signed by a development account. Then it plays the whole market lifecycle
// (docs/protocol.md) from the metadata alone: roles, offers, a match, a result accepted; offers, a
// match, a result disputed and mediated. After every step it checks the events and how every
// party's free and held balances moved, against the payouts table computed from the chain's own
// parameters. Exits non-zero on any failure.
//
//   node polkadot-js.mjs [ws://127.0.0.1:9944]

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';

const endpoint = process.argv[2] ?? 'ws://127.0.0.1:9944';

// The market lifecycle's amounts are in plancks (1 MDC = 10¹² plancks).
const MDC = 10n ** 12n;
const MILLI_MDC = MDC / 1000n;
const MICRO_MDC = MDC / 1_000_000n;
const PER_BILLION = 1_000_000_000n;
const ENDPOINT = 'http://registry.example:5000';
const IMAGE = { repository: 'jobs/fib', digest: `0x${'ab'.repeat(32)}` };
const BASE_LAYER = `0x${'11'.repeat(32)}`;
const RESULT_DIGEST = `0x${'22'.repeat(32)}`;
const MEDIATOR_DIGEST = `0x${'33'.repeat(32)}`;
// The largest run the lifecycle's mediator re-executes: above every job it is named for.
const MEDIATOR_CAPACITY = { cpu: 60_000, memory: 1_024, storage: 1_024, bandwidth: 65_536 };
// The balance kinds each account is followed in: free, and held per market hold reason.
const KINDS = ['free', 'Bond', 'JobDeposit', 'ResourceDeposit'];

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// Sign and send; once the transaction is in a block, resolve with its events (the array also
// carries `blockHash`, the block it landed in).
function submit(tx, signer) {
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
      if (dispatchError) reject(new Error(`dispatch failed: ${explain(dispatchError)}`));
      else if (status.isInBlock) resolve(Object.assign(events.map(({ event }) => event), { blockHash: status.asInBlock }));
      else if (status.isDropped || status.isInvalid) reject(new Error(`transaction ${status.type}`));
    }).catch(reject);
  });
}

// A dispatch error by name, e.g. `Market.DepositTooLow`.
function explain(dispatchError) {
  if (!dispatchError.isModule) return dispatchError.toString();
  const { section, name } = api.registry.findMetaError(dispatchError.asModule);
  return `${section}.${name}`;
}

const api = await ApiPromise.create({ provider: new WsProvider(endpoint), throwOnConnect: true, noInitWarn: true });
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
try {
  check(api.registry.chainTokens[0] === 'MDC', 'the token symbol is MDC');
  check(api.registry.chainDecimals[0] === 12, 'the token has 12 decimals');
  check(api.registry.chainSS58 === 42, 'addresses use SS58 prefix 42');
  check(api.runtimeVersion.specName.toString() === 'modicum', 'the runtime is modicum');

  const pallets = api.runtimeMetadata.asLatest.pallets.map((p) => p.name.toString());
  check(pallets.includes('Market'), `the metadata decodes and lists the Market pallet (${pallets.join(', ')})`);
  check(typeof api.tx.market.registerJobCreator === 'function', 'market calls are generated from the metadata');
  const parameters = await api.query.market.parameters();
  check(parameters.unwrap().verificationCount.toNumber() === 2, 'market parameters decode from storage');

  check(typeof api.call.marketApi?.checkMatch === 'function', 'the market runtime API is built from the metadata');
  const offers = await api.call.marketApi.openJobOffers();
  check(Array.isArray(offers.toJSON()), 'api.call.marketApi.openJobOffers answers');
  const dryRun = await api.call.marketApi.checkMatch(999, 998, '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY');
  check(dryRun.isErr && dryRun.asErr.toString() === 'UnknownOffer', `the match dry-run explains a failure (${dryRun.toString()})`);

  // Join grants: their terms from the runtime API, and a claim — unsigned, free — checked
  // before the transaction pool takes it: a made-up proof never gets in.
  const [grantTerms, difficulty] = (await api.call.grantApi.grantTerms()).unwrap();
  check(
    grantTerms.amount.toBigInt() > 0n && difficulty.toBigInt() >= grantTerms.minDifficulty.toBigInt(),
    `grantApi.grantTerms: a grant of ${mdc(grantTerms.amount.toBigInt(), '')} at ${difficulty} expected hashes`,
  );
  const newcomer = keyring.addFromUri('//Newcomer');
  const head = (await api.rpc.chain.getHeader()).number.toNumber();
  let claimRefused = '';
  try {
    await api.tx.market.claimJoinGrant(newcomer.address, { block: Math.max(head - 1, 0), nonce: 7 }).send();
  } catch (error) {
    claimRefused = error.message;
  }
  check(claimRefused.startsWith('1010'), `an unsigned claim with a made-up proof is refused by the pool (${claimRefused})`);
  check((await api.call.grantApi.grant(newcomer.address)).isNone, 'and the newcomer has no grant');

  const alice = keyring.addFromUri('//Alice');
  const ferdie = keyring.addFromUri('//Ferdie');

  const registered = await submit(api.tx.market.registerJobCreator([]), ferdie);
  check(
    registered.some((e) => api.events.market.JobCreatorRegistered.is(e) && e.data.who.eq(ferdie.address)),
    'a market registration signed by Polkadot.js lands with its event',
  );
  const creator = await api.query.market.jobCreators(ferdie.address);
  check(creator.isSome, 'the job creator is readable from storage');

  const endpointBytes = 'http://127.0.0.1:5000';
  const bond = parameters.unwrap().minBond;
  const directory = await submit(api.tx.market.registerDirectory(endpointBytes, 1_000_000_000n, [], bond), alice);
  check(directory.some((e) => api.events.market.DirectoryRegistered.is(e)), 'a directory registers with its bond');

  const sudid = await submit(api.tx.sudo.sudo(api.tx.system.remark('0x4d4443')), alice);
  check(
    sudid.some((e) => api.events.sudo.Sudid.is(e) && e.data.sudoResult.isOk),
    'sudo takes an ordinary call, as in Apps',
  );
  // Sudo dispatches the call, and the runtime's SudoCall refuses any call that would change the
  // issuance with frame_system's CallFiltered: sudo itself succeeds, its Sudid event carries the
  // refusal, and Ferdie's balance stays what it was.
  const ferdieBefore = (await api.query.system.account(ferdie.address)).data.free.toBigInt();
  const minted = await submit(api.tx.sudo.sudo(api.tx.balances.forceSetBalance(ferdie.address, 1n)), alice);
  const mintResults = minted.filter((e) => api.events.sudo.Sudid.is(e)).map((e) => e.data.sudoResult);
  check(
    mintResults.length === 1 && mintResults[0].isErr && explain(mintResults[0].asErr) === 'system.CallFiltered',
    `root cannot set a balance: sudo's call is refused with system.CallFiltered (${mintResults.map((r) => (r.isErr ? explain(r.asErr) : 'Ok')).join(', ')})`,
  );
  const ferdieAfter = (await (await api.at(minted.blockHash)).query.system.account(ferdie.address)).data.free.toBigInt();
  check(ferdieAfter === ferdieBefore, `the refused forceSetBalance left Ferdie's free balance at ${ferdieAfter}`);

  const toppedUp = await submit(api.tx.market.topUpBond('Directory', 1_000_000_000_000n), alice);
  check(
    toppedUp.some((e) => api.events.market.BondToppedUp.is(e) && e.data.bond.eq(bond.toBigInt() + 1_000_000_000_000n)),
    'a directory tops its bond up',
  );
  const reputation = await api.call.marketApi.reputation(ferdie.address, 'ResourceProvider');
  check(
    reputation.successes.toNumber() === 0 && reputation.endings.accepted.toNumber() === 0,
    `a new provider's reputation decodes from the runtime API (${reputation.toString()})`,
  );
  const zeroWindow = { ...parameters.unwrap().toJSON(), reactionWindow: 0 };
  const refused = await submit(api.tx.sudo.sudo(api.tx.market.setParameters(zeroWindow)), alice);
  check(
    refused.some((e) => api.events.sudo.Sudid.is(e) && e.data.sudoResult.isErr
      && api.registry.findMetaError(e.data.sudoResult.asErr.asModule).name === 'ReactionWindowTooShort'),
    'root cannot set a zero reaction window',
  );

  await marketLifecycle();
} finally {
  await api.disconnect();
}

// ------------------------------------------------------------------------------------------------
// The market lifecycle. Bob is the job creator (JC), Charlie the resource provider (RP), Dave the
// mediator, Eve the directory and Ferdie the solver; Alice only authors blocks (and collects the
// fees). Amounts are in plancks (1 MDC = 10¹² plancks); every expected amount comes from
// `market.parameters`, the runtime's constants and the offers' own terms.

async function marketLifecycle() {
  const market = await marketContext();
  const issuance = (await api.query.balances.totalIssuance()).toBigInt();

  await registerDirectory(market);
  await registerMediator(market);
  await directoryTrustsMediator(market);
  await registerJobCreatorAndProvider(market);

  // An honest run: the JC accepts and the RP is paid π_c.
  let offers = await postOffers(market);
  let match = await postMatch(market, offers);
  await postResult(market, match, { cpu: 1_500, memory: 100, storage: 10, bandwidth: 1_800 });
  await acceptResult(market, match);

  // A disputed run: the RP claims the whole cpu limit (the chain refuses a completed run above
  // it), the JC rejects the result as too costly, and the mediator finds the RP at fault.
  offers = await postOffers(market);
  match = await postMatch(market, offers);
  const { limits } = market.job;
  await postResult(market, match, { cpu: limits.cpu, memory: 100, storage: 10, bandwidth: limits.bandwidth });
  await rejectResult(market, match, 'TooMuchCost');
  await postMediationResult(market, match, 'ResourceProvider');

  const after = (await api.query.balances.totalIssuance()).toBigInt();
  check(after === issuance, `total issuance unchanged over the lifecycle (${mdc(after, '')}): nothing is burned`);
}

// The parties, the chain's parameters as bigints, and the terms both rounds trade.
async function marketContext() {
  const p = (await api.query.market.parameters()).unwrap();
  const parties = {
    jc: keyring.addFromUri('//Bob'),
    rp: keyring.addFromUri('//Charlie'),
    mediator: keyring.addFromUri('//Dave'),
    directory: keyring.addFromUri('//Eve'),
    solver: keyring.addFromUri('//Ferdie'),
  };
  // The welfare pool: the pallet's account, `modl` ++ PalletId padded with zeros.
  const pool = new Uint8Array(32);
  pool.set(new TextEncoder().encode('modl'));
  pool.set(api.consts.market.palletId.toU8a(), 4);
  const accounts = Object.fromEntries(Object.entries(parties).map(([role, pair]) => [role, pair.address]));
  accounts.pool = api.createType('AccountId', pool).toString();

  const referenceSpeed = p.referenceSpeed.toNumber();
  const referenceBandwidth = p.referenceBandwidth.toNumber();
  // One block of the reference machine's cpu and one of its link: R = 2 blocks.
  const limits = { cpu: referenceSpeed, memory: 256, storage: 64, bandwidth: referenceBandwidth };
  const market = {
    parties,
    accounts,
    theta: p.penaltyRate.toBigInt(),
    n: p.verificationCount.toBigInt(),
    incentive: p.matchIncentive.toBigInt(),
    minBond: p.minBond.toBigInt(),
    minReputationPrice: p.minReputationPrice.toBigInt(),
    reputationFee: p.reputationFee.toBigInt(), // Perbill parts
    // WelfareTax, Perbill parts: the pool's share of each job price paid to the provider.
    welfareTax: (await api.query.market.joinGrantTerms()).unwrap().welfareTax.toBigInt(),
    reputationDecay: p.reputationDecay.toBigInt(),
    reactionWindow: p.reactionWindow.toNumber(),
    mediationWindow: p.mediationWindow.toNumber(),
    storageDeposit: api.consts.market.offerStorageDeposit.toBigInt(),
    fees: { mediator: 5n * MILLI_MDC, directory: 2n * MILLI_MDC },
    job: {
      limits,
      runLength: Math.ceil(limits.cpu / referenceSpeed) + Math.ceil(limits.bandwidth / referenceBandwidth),
      // F: each mediation run may take this long to fetch the image on top of R.
      fetchBound: Math.ceil(limits.bandwidth / referenceBandwidth) + p.fetchGrace.toNumber(),
      cpuBid: 100n * MICRO_MDC, // per cpu unit (ms)
      bandwidthBid: 10n * MICRO_MDC, // per KiB
      cpuAsk: 80n * MICRO_MDC,
      bandwidthAsk: 5n * MICRO_MDC,
      speed: referenceSpeed, // the RP's declared cpu units per block
    },
    round: null, // the balance moves since the round's offers
  };
  market.job.maxFees = { mediator: 2n * market.fees.mediator, directory: 2n * market.fees.directory };
  // π̂_c = cpu_limit · cpu_bid + bandwidth_limit · bandwidth_bid
  market.estimate = BigInt(limits.cpu) * market.job.cpuBid + BigInt(limits.bandwidth) * market.job.bandwidthBid;
  // Eq. 2: d_min = π̂_c·θ + π̂_c·n + incentive + f_M + f_D
  market.dMin = market.estimate * (market.theta + market.n) + market.incentive + market.fees.mediator + market.fees.directory;
  // A match counts for reputation (and each success pays the fee) when its four parties are
  // distinct, as here, and π̂_c ≥ MinReputationPrice.
  market.reputationCharge = market.estimate >= market.minReputationPrice
    ? (market.reputationFee * market.estimate) / PER_BILLION
    : 0n;
  return market;
}

// --- Registrations ---------------------------------------------------------------------------

async function registerDirectory(market) {
  const { directory } = market.parties;
  const bond = market.minBond;
  const { events, moved } = await run(market, [
    api.tx.market.registerDirectory(ENDPOINT, market.fees.directory, [], bond), directory,
  ]);
  const e = eventData(events, 'DirectoryRegistered');
  check(
    e.who.eq(directory.address) && e.endpoint.toUtf8() === ENDPOINT
      && e.fee.toBigInt() === market.fees.directory && e.bond.toBigInt() === bond,
    `DirectoryRegistered: Eve at ${ENDPOINT}, fee ${mdc(market.fees.directory, '')}, bond ${mdc(bond, '')}`,
  );
  expectMoves('register_directory', moved, { directory: { free: -bond, Bond: bond } });
}

async function registerMediator(market) {
  const { mediator, directory } = market.parties;
  const bond = market.minBond;
  const { events, moved } = await run(market, [
    api.tx.market.registerMediator(
      'Amd64', MEDIATOR_CAPACITY, 2, market.fees.mediator, [directory.address], [BASE_LAYER], bond,
    ), mediator,
  ]);
  const e = eventData(events, 'MediatorRegistered');
  check(
    e.who.eq(mediator.address) && e.architecture.isAmd64
      && e.capacity.memory.toNumber() === MEDIATOR_CAPACITY.memory && e.slots.toNumber() === 2
      && e.fee.toBigInt() === market.fees.mediator && e.bond.toBigInt() === bond,
    `MediatorRegistered: Dave, Amd64, ${MEDIATOR_CAPACITY.memory} MiB in 2 slots, fee ${mdc(market.fees.mediator, '')}, bond ${mdc(bond, '')}`,
  );
  expectMoves('register_mediator', moved, { mediator: { free: -bond, Bond: bond } });
}

// A directory names the mediators it accepts as judges of its availability; a match's mediator
// must be one of them.
async function directoryTrustsMediator(market) {
  const { mediator, directory } = market.parties;
  const { events } = await run(market, [api.tx.market.trustMediator('Directory', mediator.address), directory]);
  const e = eventData(events, 'MediatorTrusted');
  check(
    e.who.eq(directory.address) && e.role.isDirectory && e.mediator.eq(mediator.address),
    'MediatorTrusted: Eve, as a directory, trusts Dave',
  );
  const info = (await api.query.market.directories(directory.address)).unwrap();
  check(info.trustedMediators.some((m) => m.eq(mediator.address)), 'market.directories(Eve) lists Dave');
}

// The JC and the RP register in the same block; both trust Dave, the RP trusts Eve too.
async function registerJobCreatorAndProvider(market) {
  const { jc, rp, mediator, directory } = market.parties;
  const { events, moved } = await run(
    market,
    [api.tx.market.registerJobCreator([mediator.address]), jc],
    [api.tx.market.registerResourceProvider(
      'Amd64', market.job.speed, [mediator.address], [directory.address], [BASE_LAYER],
    ), rp],
  );
  check(eventData(events, 'JobCreatorRegistered').who.eq(jc.address), 'JobCreatorRegistered: Bob, trusting Dave');
  const e = eventData(events, 'ResourceProviderRegistered');
  check(
    e.who.eq(rp.address) && e.architecture.isAmd64 && e.speed.toNumber() === market.job.speed,
    `ResourceProviderRegistered: Charlie, Amd64, ${market.job.speed} cpu units per block`,
  );
  expectMoves('register_job_creator + register_resource_provider', moved, {});
  const actors = await api.call.marketApi.actors();
  check(
    actors.mediators.some(([who]) => who.eq(mediator.address))
      && actors.resourceProviders.some(([who, info]) => who.eq(rp.address) && info.trustedDirectories[0].eq(directory.address)),
    'marketApi.actors lists the mediator and the provider with its trust lists',
  );
}

// --- Offers and match ------------------------------------------------------------------------

// The RP offers its machine with a deposit of exactly d_min (asked from the chain before any job
// exists); the JC offers the job with exactly the least deposit `post_job_offer` takes. Both in
// one block.
async function postOffers(market) {
  const { jc, rp, mediator, directory } = market.parties;
  const { job } = market;
  const now = (await api.rpc.chain.getHeader()).number.toNumber();
  const completionDeadline = now + 50;
  const validTo = completionDeadline + 10;

  const quoted = await api.call.marketApi.minimumDeposit(
    job.limits, job.cpuBid, job.bandwidthBid, mediator.address, directory.address,
  );
  check(quoted.isOk && quoted.asOk.toBigInt() === market.dMin, `marketApi.minimumDeposit = d_min = ${mdc(market.dMin, '')}`);
  // π̂_c·(θ + n) + incentive + both maximum fees + the offer's storage deposit
  const jobDeposit = market.estimate * (market.theta + market.n) + market.incentive
    + job.maxFees.mediator + job.maxFees.directory + market.storageDeposit;
  const providerDeposit = market.dMin;

  market.round = null;
  const { events, moved } = await run(
    market,
    [api.tx.market.postResourceOffer(
      job.limits, 'Amd64', job.cpuAsk, job.bandwidthAsk, now, validTo, job.maxFees, providerDeposit,
    ), rp],
    [api.tx.market.postJobOffer(
      job.limits, 'Amd64', IMAGE, BASE_LAYER, directory.address, job.cpuBid, job.bandwidthBid,
      completionDeadline, job.maxFees, null, jobDeposit,
    ), jc],
  );
  const r = eventData(events, 'ResourceOfferPosted');
  check(
    r.provider.eq(rp.address) && r.deposit.toBigInt() === providerDeposit && r.validTo.toNumber() === validTo,
    `ResourceOfferPosted: offer ${r.offer}, deposit ${mdc(providerDeposit, '')}, valid to block ${validTo}`,
  );
  const j = eventData(events, 'JobOfferPosted');
  check(
    j.creator.eq(jc.address) && j.deposit.toBigInt() === jobDeposit && j.completionDeadline.toNumber() === completionDeadline,
    `JobOfferPosted: offer ${j.offer}, deposit ${mdc(jobDeposit, '')}, completion deadline block ${completionDeadline}`,
  );
  expectMoves('post_resource_offer + post_job_offer', moved, {
    jc: { free: -jobDeposit, JobDeposit: jobDeposit },
    rp: { free: -providerDeposit, ResourceDeposit: providerDeposit },
  });

  const stored = (await api.query.market.jobOffers(j.offer)).unwrap();
  check(
    stored.state.isOpen && stored.runLength.toNumber() === job.runLength,
    `market.jobOffers(${j.offer}) is Open with run length R = ${job.runLength} blocks fixed from its limits`,
  );
  const [openJobs, openResources] = await Promise.all([
    api.call.marketApi.openJobOffers(), api.call.marketApi.openResourceOffers(),
  ]);
  check(
    openJobs.some(([id]) => id.eq(j.offer)) && openResources.some(([id]) => id.eq(r.offer)),
    'marketApi.openJobOffers / openResourceOffers list both offers',
  );
  return { job: j.offer.toNumber(), resource: r.offer.toNumber(), jobDeposit, providerDeposit, completionDeadline };
}

// Ferdie, a third account, posts the match after a dry run; each party pays it the incentive.
async function postMatch(market, offers) {
  const { jc, rp, mediator, directory, solver } = market.parties;
  const dryRun = await api.call.marketApi.checkMatch(offers.job, offers.resource, mediator.address);
  check(dryRun.isOk && dryRun.asOk.toBigInt() === market.dMin, `marketApi.checkMatch(${offers.job}, ${offers.resource}, Dave) = Ok(d_min)`);

  const { events, moved } = await run(market, [
    api.tx.market.postMatch(offers.job, offers.resource, mediator.address), solver,
  ]);
  const e = eventData(events, 'Matched');
  check(
    e.jobOffer.eq(offers.job) && e.resourceOffer.eq(offers.resource) && e.creator.eq(jc.address)
      && e.provider.eq(rp.address) && e.mediator.eq(mediator.address) && e.directory.eq(directory.address)
      && e.solver.eq(solver.address) && e.image.digest.toHex() === IMAGE.digest
      && e.completionDeadline.toNumber() === offers.completionDeadline,
    `Matched: match ${e.matchId}, Bob × Charlie, mediator Dave, directory Eve, solver Ferdie`,
  );
  const incentive = market.incentive;
  expectMoves('post_match', moved, {
    jc: { JobDeposit: -incentive },
    rp: { ResourceDeposit: -incentive },
    solver: { free: 2n * incentive },
  });

  const match = {
    id: e.matchId.toNumber(),
    jobDeposit: offers.jobDeposit - incentive, // J
    providerDeposit: offers.providerDeposit - incentive, // R
  };
  const stored = (await api.query.market.matches(match.id)).unwrap();
  check(
    stored.state.isMatched && stored.estimatedPrice.toBigInt() === market.estimate
      && stored.cpuPrice.toBigInt() === market.job.cpuAsk
      && stored.mediatorFee.toBigInt() === market.fees.mediator && stored.directoryFee.toBigInt() === market.fees.directory
      && stored.jobDeposit.toBigInt() === match.jobDeposit && stored.providerDeposit.toBigInt() === match.providerDeposit,
    `market.matches(${match.id}): priced at the RP's ask, π̂_c = ${mdc(market.estimate, '')}, fees copied, J and R held`,
  );
  const [mediatorInfo, directoryInfo, open] = await Promise.all([
    api.query.market.mediators(mediator.address),
    api.query.market.directories(directory.address),
    api.call.marketApi.openMatches(),
  ]);
  check(
    mediatorInfo.unwrap().reserved.toBigInt() === market.estimate
      && directoryInfo.unwrap().reserved.toBigInt() === market.n * market.estimate,
    'the match reserves π̂_c of the mediator\'s bond and π_m = n·π̂_c of the directory\'s',
  );
  check(open.some(([id]) => id.eq(match.id)), `marketApi.openMatches lists match ${match.id}`);
  return match;
}

// --- Result, acceptance, dispute, verdict ----------------------------------------------------

async function postResult(market, match, usage) {
  const { rp } = market.parties;
  const { events, moved, block } = await run(market, [
    api.tx.market.postResult(match.id, 'Completed', usage, RESULT_DIGEST), rp,
  ]);
  const e = eventData(events, 'ResultPosted');
  const reactionDeadline = block + market.reactionWindow + market.job.runLength;
  check(
    e.matchId.eq(match.id) && e.receipt.status.isCompleted && e.receipt.usage.cpu.toNumber() === usage.cpu
      && e.receipt.usage.bandwidth.toNumber() === usage.bandwidth
      && e.receipt.resultDigest.unwrap().toHex() === RESULT_DIGEST && e.reactionDeadline.toNumber() === reactionDeadline,
    `ResultPosted: match ${match.id}, Completed, ${usage.cpu} cpu units, reaction deadline ${reactionDeadline} = now + ReactionWindow + R`,
  );
  expectMoves('post_result', moved, {});
  const stored = (await api.call.marketApi.matchInfo(match.id)).unwrap();
  check(stored.state.isResultPosted, `marketApi.matchInfo(${match.id}) is ResultPosted`);

  // π_c (Eq. 1): usage capped at the limits, at the RP's asks.
  const { limits, cpuAsk, bandwidthAsk } = market.job;
  match.price = BigInt(Math.min(usage.cpu, limits.cpu)) * cpuAsk
    + BigInt(Math.min(usage.bandwidth, limits.bandwidth)) * bandwidthAsk;
}

// A Perbill of `amount`, rounded as the runtime rounds it (to the nearest, a half down).
function perbillOf(parts, amount) {
  const product = parts * amount;
  const [quotient, rest] = [product / PER_BILLION, product % PER_BILLION];
  return rest * 2n > PER_BILLION ? quotient + 1n : quotient;
}

// The JC accepts: π_c (less the welfare tax to the pool), f_M and f_D from J; f_M, f_D and the
// reputation fee from R; the rest of both released.
async function acceptResult(market, match) {
  const { jc, rp, mediator, directory } = market.parties;
  const { fees, incentive, reputationCharge } = market;
  const { events, moved } = await run(market, [api.tx.market.acceptResult(match.id), jc]);
  const tax = perbillOf(market.welfareTax, match.price);

  const creatorRefund = match.jobDeposit - match.price - fees.mediator - fees.directory;
  const providerRefund = match.providerDeposit - fees.mediator - fees.directory - reputationCharge;
  const a = eventData(events, 'ResultAccepted');
  check(a.matchId.eq(match.id) && a.jobPrice.toBigInt() === match.price, `ResultAccepted: match ${match.id}, π_c = ${mdc(match.price, '')}`);
  const c = eventData(events, 'MatchClosed');
  check(
    c.matchId.eq(match.id) && c.ending.isAccepted && c.creatorRefund.toBigInt() === creatorRefund
      && c.providerRefund.toBigInt() === providerRefund && c.penalty.toBigInt() === reputationCharge
      && c.welfareTax.toBigInt() === tax,
    `MatchClosed: Accepted, JC refund ${mdc(creatorRefund, '')}, RP refund ${mdc(providerRefund, '')}, to the pool ${mdc(reputationCharge, '')} (reputation fee) and ${mdc(tax, '')} (welfare tax)`,
  );
  expectMoves('accept_result', moved, {
    jc: { free: creatorRefund, JobDeposit: -match.jobDeposit },
    rp: { free: match.price - tax + providerRefund, ResourceDeposit: -match.providerDeposit },
    mediator: { free: 2n * fees.mediator },
    directory: { free: 2n * fees.directory },
    pool: { free: reputationCharge + tax },
  });
  // Offers to close: the RP earned π_c less the tax, both fees, the incentive and the
  // reputation fee.
  expectMoves('the accepted match, offers to close', market.round, {
    jc: { free: -(match.price + fees.mediator + fees.directory + incentive) },
    rp: { free: match.price - tax - fees.mediator - fees.directory - incentive - reputationCharge },
    mediator: { free: 2n * fees.mediator },
    directory: { free: 2n * fees.directory },
    solver: { free: 2n * incentive },
    pool: { free: reputationCharge + tax },
  });
  await expectClosed(market, match);
  const reputation = await api.call.marketApi.reputation(rp.address, 'ResourceProvider');
  check(
    reputation.endings.accepted.toNumber() === 1
      && reputation.successes.toBigInt() === (reputationCharge > 0n ? PER_BILLION : 0n),
    `marketApi.reputation(Charlie): one accepted match, successes ${reputation.successes}`,
  );
}

// The JC disputes before the reaction deadline; the match goes to Dave. Nothing moves.
async function rejectResult(market, match, reason) {
  const { jc, mediator } = market.parties;
  const { events, moved, block } = await run(market, [api.tx.market.rejectResult(match.id, reason), jc]);
  const e = eventData(events, 'JobAssignedForMediation');
  // Dave's queue is empty: the dispute starts now, each of its n runs with its fetch.
  const { runLength, fetchBound } = market.job;
  const mediationDeadline = block + market.mediationWindow + Number(market.n) * (runLength + fetchBound);
  check(
    e.matchId.eq(match.id) && e.mediator.eq(mediator.address) && e.reason.type === reason
      && e.mediationDeadline.toNumber() === mediationDeadline,
    `JobAssignedForMediation: match ${match.id} to Dave for ${reason}, deadline ${mediationDeadline} = now + MediationWindow + n·(R + F)`,
  );
  expectMoves('reject_result', moved, {});
  const stored = (await api.query.market.matches(match.id)).unwrap();
  check(stored.state.isInMediation, `market.matches(${match.id}) is InMediation`);
}

// Dave finds the RP at fault. From J: f_M, f_D, rest released. From R: π_m, f_M, f_D,
// π_d = π_c to the JC, the rest to the welfare pool. Dave's verdict counts as a success for
// its reputation, whose fee leaves its bond.
async function postMediationResult(market, match, faultyParty) {
  const { jc, rp, mediator } = market.parties;
  const { fees, incentive, reputationCharge } = market;
  const { events, moved } = await run(market, [
    api.tx.market.postMediationResult(match.id, faultyParty, MEDIATOR_DIGEST), mediator,
  ]);
  const mediation = market.n * market.estimate; // π_m
  const creatorRefund = match.jobDeposit - fees.mediator - fees.directory;
  const forfeit = match.providerDeposit - mediation - fees.mediator - fees.directory - match.price;
  const penalty = forfeit + reputationCharge;

  const v = eventData(events, 'MediationResultPosted');
  check(
    v.matchId.eq(match.id) && v.faultyParty.type === faultyParty && v.resultDigest.unwrap().toHex() === MEDIATOR_DIGEST,
    `MediationResultPosted: match ${match.id}, ${faultyParty} at fault`,
  );
  const c = eventData(events, 'MatchClosed');
  check(
    c.matchId.eq(match.id) && c.ending.isMediated && c.ending.asMediated.type === faultyParty
      && c.creatorRefund.toBigInt() === creatorRefund && c.providerRefund.toBigInt() === 0n
      && c.penalty.toBigInt() === penalty,
    `MatchClosed: Mediated(${faultyParty}), JC refund ${mdc(creatorRefund, '')}, RP refund 0, to the pool ${mdc(penalty, '')}`,
  );
  expectMoves('post_mediation_result', moved, {
    jc: { free: creatorRefund + match.price, JobDeposit: -match.jobDeposit },
    rp: { ResourceDeposit: -match.providerDeposit },
    mediator: { free: mediation + 2n * fees.mediator, Bond: -reputationCharge },
    directory: { free: 2n * fees.directory },
    pool: { free: penalty },
  });
  // Offers to close: the RP lost its whole deposit; the JC got π_c back for its trouble.
  expectMoves('the mediated match, offers to close', market.round, {
    jc: { free: match.price - fees.mediator - fees.directory - incentive },
    rp: { free: -(match.providerDeposit + incentive) },
    mediator: { free: mediation + 2n * fees.mediator, Bond: -reputationCharge },
    directory: { free: 2n * fees.directory },
    solver: { free: 2n * incentive },
    pool: { free: penalty },
  });
  await expectClosed(market, match);

  const [provider, mediatorReputation, mediatorInfo] = await Promise.all([
    api.call.marketApi.reputation(rp.address, 'ResourceProvider'),
    api.call.marketApi.reputation(mediator.address, 'Mediator'),
    api.query.market.mediators(mediator.address),
  ]);
  const counted = reputationCharge > 0n;
  check(
    provider.endings.providerAtFault.toNumber() === 1
      && provider.failures.toBigInt() === (counted ? PER_BILLION : 0n)
      && provider.successes.toBigInt() === (counted ? (market.reputationDecay * PER_BILLION) / PER_BILLION : 0n),
    `marketApi.reputation(Charlie): a failure, the earlier success decayed to ${provider.successes}`,
  );
  check(
    mediatorReputation.endings.providerAtFault.toNumber() === 1
      && mediatorReputation.successes.toBigInt() === (counted ? PER_BILLION : 0n),
    'marketApi.reputation(Dave, Mediator): one verdict in time',
  );
  check(
    mediatorInfo.unwrap().bond.toBigInt() === market.minBond - reputationCharge,
    `the mediator's bond paid the reputation fee: ${mdc(market.minBond - reputationCharge, '')}`
      + (counted ? ' (below MinBond: Dave must top it up before its next match)' : ''),
  );
  check(
    (await api.query.balances.holds(jc.address)).length === 0
      && (await api.query.balances.holds(rp.address)).length === 0,
    'the JC and the RP hold nothing any more',
  );
}

// A closed match leaves nothing: no match, no offers, no bond reservations.
async function expectClosed(market, match) {
  const { mediator, directory } = market.parties;
  const [stored, mediatorInfo, directoryInfo, open] = await Promise.all([
    api.query.market.matches(match.id),
    api.query.market.mediators(mediator.address),
    api.query.market.directories(directory.address),
    api.call.marketApi.openMatches(),
  ]);
  check(
    stored.isNone && !open.some(([id]) => id.eq(match.id))
      && mediatorInfo.unwrap().reserved.isZero() && directoryInfo.unwrap().reserved.isZero(),
    `match ${match.id} is gone from storage and the bond reservations are released`,
  );
}

// --- Helpers ---------------------------------------------------------------------------------

// Free and held balances of the lifecycle's accounts, at block `at` (default: the best block).
async function balancesOf(accounts, at) {
  const state = at ? await api.at(at) : api;
  const entries = await Promise.all(Object.entries(accounts).map(async ([role, address]) => {
    const [{ data }, holds] = await Promise.all([
      state.query.system.account(address), state.query.balances.holds(address),
    ]);
    const balance = { free: data.free.toBigInt(), Bond: 0n, JobDeposit: 0n, ResourceDeposit: 0n };
    for (const { id, amount } of holds) balance[id.asMarket.type] += amount.toBigInt();
    const held = balance.Bond + balance.JobDeposit + balance.ResourceDeposit;
    if (held !== data.reserved.toBigInt()) throw new Error(`${role}: reserved ${data.reserved} ≠ holds ${held}`);
    return [role, balance];
  }));
  return Object.fromEntries(entries);
}

// Submit calls ([tx, signer] pairs, each from a different account, so they may share a block).
// Returns their events, the number of the block the last one landed in, and how the lifecycle
// accounts' balances moved, with each signer's TransactionFeePaid added back: what remains is
// the market's own movements. The moves also add up in `market.round`.
async function run(market, ...calls) {
  const before = await balancesOf(market.accounts);
  const results = await Promise.all(calls.map(([tx, signer]) => submit(tx, signer)));
  const headers = await Promise.all(results.map(({ blockHash }) => api.rpc.chain.getHeader(blockHash)));
  const last = headers.reduce((a, b) => (b.number.toNumber() > a.number.toNumber() ? b : a));
  const after = await balancesOf(market.accounts, last.hash);
  const events = results.flat();

  const moved = {};
  for (const role of Object.keys(market.accounts)) {
    moved[role] = Object.fromEntries(KINDS.map((kind) => [kind, after[role][kind] - before[role][kind]]));
  }
  const fees = events.filter((e) => api.events.transactionPayment.TransactionFeePaid.is(e));
  if (fees.length !== calls.length) throw new Error(`${fees.length} TransactionFeePaid events for ${calls.length} calls`);
  for (const { data: { who, actualFee, tip } } of fees) {
    const role = Object.keys(market.accounts).find((r) => who.eq(market.accounts[r]));
    if (role) moved[role].free += actualFee.toBigInt() + tip.toBigInt();
  }

  if (market.round) {
    for (const role of Object.keys(moved)) for (const kind of KINDS) market.round[role][kind] += moved[role][kind];
  } else {
    market.round = structuredClone(moved);
  }
  return { events, moved, block: last.number.toNumber() };
}

// The fields of the first `Market.<name>` event.
function eventData(events, name) {
  const event = events.find((e) => api.events.market[name].is(e));
  if (!event) throw new Error(`check failed: no Market.${name} event in ${events.map((e) => `${e.section}.${e.method}`).join(', ')}`);
  return event.data;
}

// Every account's every balance moved exactly as `expected` says (unnamed ones by zero).
function expectMoves(step, moved, expected) {
  const wrong = [];
  const said = [];
  for (const [role, kinds] of Object.entries(moved)) {
    for (const kind of KINDS) {
      const want = expected[role]?.[kind] ?? 0n;
      if (kinds[kind] !== want) wrong.push(`${role} ${kind} ${mdc(kinds[kind])}, expected ${mdc(want)}`);
      if (want !== 0n) said.push(`${role} ${kind === 'free' ? 'free' : `held ${kind}`} ${mdc(want)}`);
    }
  }
  check(
    wrong.length === 0,
    `${step}: ${said.length ? said.join(', ') : 'no balance moved'} (fees aside), nothing else${wrong.length ? ` — WRONG: ${wrong.join('; ')}` : ''}`,
  );
}

// Plancks as signed MDC, e.g. `+0.129 MDC` (`sign` '' for an unsigned amount).
function mdc(plancks, sign) {
  const abs = plancks < 0n ? -plancks : plancks;
  const fraction = (abs % MDC).toString().padStart(12, '0').replace(/0+$/, '');
  const prefix = sign ?? (plancks < 0n ? '−' : '+');
  return `${prefix}${abs / MDC}${fraction ? `.${fraction}` : ''} MDC`;
}
