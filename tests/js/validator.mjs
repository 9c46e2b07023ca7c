// A stranger joins the validators of a running devnet the way docs/tutorials/run-a-validator.md
// says, with a standard @polkadot/api client: its node (synced from the chain spec and a bootnode)
// generates session keys with author_rotateKeysWithOwner; a fresh account, funded by a transfer,
// sets them with their ownership proof and bonds a candidacy. From the second session boundary on
// it authors blocks, whose fees reach its account, and votes in GRANDPA: with a genesis validator
// stopped, finality goes on only with its votes. Then its node stops and the chain keeps
// finalizing. Bad requests (another account's proof, a bond below the minimum) fail with their
// own error and change nothing. Exits non-zero on any failure.
//
//   node validator.mjs NEWCOMER_WS GENESIS_VALIDATOR_WS STOPPED_VALIDATOR NEWCOMER_NODE
//
// NEWCOMER_WS is the new node's own JSON-RPC (unsafe methods: run this on its host);
// STOPPED_VALIDATOR and NEWCOMER_NODE are node names for `scripts/devnet.sh stop-node`.

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';
import { mnemonicGenerate, cryptoWaitReady } from '@polkadot/util-crypto';
import { u8aToHex } from '@polkadot/util';
import { execFileSync } from 'node:child_process';

const [newcomerUrl, genesisUrl, stoppedValidator, newcomerNode] = process.argv.slice(2);
if (!newcomerNode) {
  console.error('usage: node validator.mjs NEWCOMER_WS GENESIS_VALIDATOR_WS STOPPED_VALIDATOR NEWCOMER_NODE');
  process.exit(2);
}
const DEVNET = new URL('../../scripts/devnet.sh', import.meta.url).pathname;
const MDC = 10n ** 12n;

// Polkadot.js 16 does not know this stable2609 method yet: its definition, as docs give it.
const rpc = {
  author: {
    rotateKeysWithOwner: {
      description: 'Generate new session keys in the node keystore, with a proof of their ownership by owner',
      params: [{ name: 'owner', type: 'Bytes' }],
      type: 'Json',
    },
  },
};

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

function log(message) {
  console.log(`# ${message}`);
}

// Immortal: a node that has just synced may check a transaction against a block older than the
// one a mortal era would be born in.
function submit(api, tx, signer) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not in a block within 120 s')), 120_000);
    const done = (f) => (value) => { clearTimeout(timer); f(value); };
    resolve = done(resolve);
    reject = done(reject);
    tx.signAndSend(signer, { era: 0 }, ({ status, events, dispatchError }) => {
      if (dispatchError) {
        const { section, name } = dispatchError.isModule
          ? api.registry.findMetaError(dispatchError.asModule)
          : { section: 'dispatch', name: dispatchError.toString() };
        const error = new Error(`${section}.${name}`);
        error.dispatch = `${section}.${name}`;
        error.blockHash = status.isInBlock ? status.asInBlock : undefined;
        reject(error);
      } else if (status.isInBlock) resolve(Object.assign(events.map(({ event }) => event), { blockHash: status.asInBlock }));
      else if (status.isDropped || status.isInvalid) reject(new Error(`transaction ${status.type}`));
    }).catch(reject);
  });
}

// Submits tx expecting it to fail with `expected`; returns once it is in a block.
async function refused(api, tx, signer, expected, message) {
  try {
    await submit(api, tx, signer);
  } catch (error) {
    check(error.dispatch === expected, `${message}: ${error.message}`);
    return;
  }
  check(false, `${message}: it succeeded`);
}

// Waits until `condition(header)` holds on a new best block, at most `seconds`.
function untilBlock(api, seconds, what, condition) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    const timer = setTimeout(() => { unsubscribe(); reject(new Error(`${what}: not within ${seconds} s`)); }, seconds * 1000);
    api.rpc.chain.subscribeNewHeads(async (header) => {
      try {
        if (await condition(header)) {
          clearTimeout(timer);
          unsubscribe();
          resolve(header);
        }
      } catch (error) { clearTimeout(timer); unsubscribe(); reject(error); }
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

async function finalizedNumber(api) {
  const hash = await api.rpc.chain.getFinalizedHead();
  return (await api.rpc.chain.getHeader(hash)).number.toNumber();
}

// Finality advances by at least `blocks` within `seconds`.
async function finalityAdvances(api, blocks, seconds, message) {
  const from = await finalizedNumber(api);
  const deadline = Date.now() + seconds * 1000;
  let now = from;
  while (Date.now() < deadline && now < from + blocks) {
    await new Promise((r) => setTimeout(r, 2000));
    now = await finalizedNumber(api);
  }
  check(now >= from + blocks, `${message} (finalized #${from} -> #${now})`);
}

function devnet(...args) {
  execFileSync(DEVNET, args, { stdio: 'inherit' });
}

await cryptoWaitReady();
const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const newcomer = keyring.addFromUri(mnemonicGenerate());
const stranger = keyring.addFromUri(mnemonicGenerate());
log(`newcomer's account ${newcomer.address}`);

// The newcomer's own node answers for its keystore; transactions and queries go through a synced
// genesis validator (a node that has just synced may hold a transaction it was given for minutes).
const ownProvider = new WsProvider(newcomerUrl);
const genesisProvider = new WsProvider(genesisUrl);
const own = await ApiPromise.create({ provider: ownProvider, rpc, throwOnConnect: true, noInitWarn: true });
const api = await ApiPromise.create({ provider: genesisProvider, throwOnConnect: true, noInitWarn: true });
let remarks;
try {
  // The new node knows only the chain spec and a bootnode: it syncs to the others' best block.
  const target = (await api.rpc.chain.getHeader()).number.toNumber();
  await untilBlock(own, 120, 'sync', async (h) => h.number.toNumber() >= target && !(await own.rpc.system.health()).isSyncing.isTrue);
  check(true, `the new node synced past #${target}`);

  const bond = (await api.query.collatorSelection.candidacyBond()).toBigInt();
  const keyDeposit = api.consts.session.keyDeposit.toBigInt();
  await submit(api, api.tx.balances.transferKeepAlive(newcomer.address, bond + 100n * MDC), alice);
  await submit(api, api.tx.balances.transferKeepAlive(stranger.address, 10n * MDC), alice);
  check(true, `a transfer funds the newcomer with the bond of ${bond / MDC} MDC and 100 MDC`);

  const generated = (await own.rpc.author.rotateKeysWithOwner(u8aToHex(newcomer.publicKey))).toJSON();
  check(/^0x[0-9a-f]{128}$/.test(generated.keys) && /^0x[0-9a-f]+$/.test(generated.proof ?? ''),
    'author_rotateKeysWithOwner returns the Aura and GRANDPA keys and their ownership proof');
  check((await own.rpc.author.hasSessionKeys(generated.keys)).isTrue, "the node's keystore holds them");

  // Another account cannot set keys whose proof names the newcomer.
  await refused(api, api.tx.session.setKeys(generated.keys, generated.proof), stranger, 'session.InvalidProof',
    "keys with another account's ownership proof are refused");
  check((await api.query.session.nextKeys(stranger.address)).isNone, 'and the stranger has no keys');

  const set = await submit(api, api.tx.session.setKeys(generated.keys, generated.proof), newcomer);
  check(set.some((e) => api.events.system.ExtrinsicSuccess.is(e)), 'session.setKeys with the proof lands');
  const held = (await api.query.balances.holds(newcomer.address)).reduce((sum, h) => sum + h.amount.toBigInt(), 0n);
  check(held === keyDeposit, `the key deposit of ${keyDeposit} plancks is held`);

  await refused(api, api.tx.collatorSelection.takeCandidateSlot(bond - 1n, alice.address), newcomer,
    'collatorSelection.InsufficientBond', 'a bond below the candidacy bond is refused');
  check((await api.query.system.account(newcomer.address)).data.reserved.toBigInt() === keyDeposit,
    'and nothing is bonded beside the key deposit');

  const registered = await submit(api, api.tx.collatorSelection.registerAsCandidate(), newcomer);
  check(registered.some((e) => api.events.collatorSelection.CandidateAdded.is(e)), 'the newcomer bonds a candidacy');
  const session = (await (await api.at(registered.blockHash)).query.session.currentIndex()).toNumber();

  // Fees: Alice remarks on every new head. The same signed bytes go to the genesis validator and to
  // the newcomer's own node, so the newcomer holds one whenever its slot comes, whatever the gossip
  // delay and whichever blocks the earlier remarks landed in.
  remarks = await api.rpc.chain.subscribeNewHeads(async () => {
    try {
      const nonce = await api.rpc.system.accountNextIndex(alice.address);
      const hex = (await api.tx.system.remark('0x6d6463').signAsync(alice, { nonce, era: 0 })).toHex();
      // Straight to the providers: a node that has the remark already answers with an error
      // that api.rpc would print.
      await Promise.allSettled([genesisProvider, ownProvider].map((p) => p.send('author_submitExtrinsic', [hex])));
    } catch { /* the next head sends another */ }
  });

  const joined = await untilBlock(api, 200, 'the newcomer in the session', async (h) =>
    (await (await api.at(h.hash)).query.session.validators()).some((v) => v.eq(newcomer.address)));
  const joinedSession = (await (await api.at(joined.hash)).query.session.currentIndex()).toNumber();
  check(joinedSession >= session + 2, `the newcomer validates from session ${joinedSession} (bonded in ${session})`);

  const grandpaKey = `0x${generated.keys.slice(66)}`;
  const authored = await untilBlock(api, 120, 'a block of the newcomer with fees', async (h) => {
    const at = await api.at(h.hash);
    const validators = await at.query.session.validators();
    const slot = api.createType('Slot', h.digest.logs.find((l) => l.isPreRuntime).asPreRuntime[1]).toBigInt();
    if (!validators[Number(slot % BigInt(validators.length))].eq(newcomer.address)) return false;
    const events = await at.query.system.events();
    const fees = events.filter(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event))
      .reduce((sum, { event }) => sum + event.data.actualFee.toBigInt(), 0n); // tips included
    if (fees === 0n) return false;
    const before = (await (await api.at(h.parentHash)).query.system.account(newcomer.address)).data.free.toBigInt();
    const after = (await at.query.system.account(newcomer.address)).data.free.toBigInt();
    check(after - before === fees, `block #${h.number} by the newcomer pays its fees of ${fees} plancks to the newcomer's account`);
    return true;
  });
  const grandpa = (await api.call.grandpaApi.grandpaAuthorities()).map(([id]) => id.toHex());
  check(grandpa.includes(grandpaKey), 'GRANDPA counts the newcomer among its voters');

  // Finality with a genesis validator stopped needs three of four votes: the newcomer's among them.
  await untilBlock(api, 60, 'the set change finalized', async () => (await finalizedNumber(api)) >= authored.number.toNumber());
  devnet('stop-node', stoppedValidator);
  await finalityAdvances(own, 3, 90, `with ${stoppedValidator} stopped, the newcomer's votes keep finality going`);
  devnet('restart-node', stoppedValidator);
  remarks();
  remarks = undefined;
} finally {
  if (remarks) remarks();
  await own.disconnect();
  await api.disconnect();
}

// The newcomer's node goes; the three genesis validators keep finalizing without it.
devnet('stop-node', newcomerNode);
const rest = await ApiPromise.create({ provider: new WsProvider(genesisUrl), throwOnConnect: true, noInitWarn: true });
try {
  await finalityAdvances(rest, 3, 120, 'with the newcomer stopped, the genesis validators keep finalizing');
} finally {
  await rest.disconnect();
}
