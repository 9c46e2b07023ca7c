// A standard @polkadot/api client against a running Modicum node, with no custom types:
// it connects, reads the token properties, decodes the metadata, and submits market
// registrations signed by a development account. Exits non-zero on any failure.
//
//   node polkadot-js.mjs [ws://127.0.0.1:9944]

import { ApiPromise, WsProvider } from '@polkadot/api';
import { Keyring } from '@polkadot/keyring';

const endpoint = process.argv[2] ?? 'ws://127.0.0.1:9944';

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
}

// Sign and send; resolve with the block's events once the transaction is in a block.
function submit(tx, signer) {
  return new Promise((resolve, reject) => {
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
      if (dispatchError) reject(new Error(`dispatch failed: ${dispatchError.toString()}`));
      else if (status.isInBlock) resolve(events.map(({ event }) => event));
      else if (status.isDropped || status.isInvalid) reject(new Error(`transaction ${status.type}`));
    }).catch(reject);
  });
}

const api = await ApiPromise.create({ provider: new WsProvider(endpoint), throwOnConnect: true, noInitWarn: true });
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

  const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
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
  const directory = await submit(api.tx.market.registerDirectory(endpointBytes, 1_000_000_000n, bond), alice);
  check(directory.some((e) => api.events.market.DirectoryRegistered.is(e)), 'a directory registers with its bond');

  const sudid = await submit(api.tx.sudo.sudo(api.tx.system.remark('0x4d4443')), alice);
  check(
    sudid.some((e) => api.events.sudo.Sudid.is(e) && e.data.sudoResult.isOk),
    'sudo takes an ordinary call, as in Apps',
  );
  const minted = await submit(api.tx.sudo.sudo(api.tx.balances.forceSetBalance(ferdie.address, 1n)), alice);
  check(
    minted.some((e) => api.events.sudo.Sudid.is(e) && e.data.sudoResult.isErr),
    'root cannot set a balance',
  );

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
} finally {
  await api.disconnect();
}
