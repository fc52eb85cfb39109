/**
 * Standalone entry: `node dist/bench/peers/main.js [--quick] [--reps N] [--filter TEXT] [--own-device] [--json]`.
 * Prints the side-by-side table (or one JSON document) and the targets.
 */
import { Device } from '../../engine/device.js';
import { comparePeers, formatPeerRows, peerTargets, type PeerOptions } from './index.js';
import { WORKLOADS } from './workloads.js';

function parse(argv: string[]): PeerOptions & { json: boolean } {
  const o: PeerOptions & { json: boolean } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (a === '--own-device') o.peerDevice = 'own';
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--warmup') o.warmup = Number(argv[++i]);
    else if (a === '--filter') o.filter = argv[++i];
    else if (a === '--peers') o.peers = argv[++i]!.split(',') as PeerOptions['peers'];
    else throw new RangeError(`unknown argument '${a}' (--quick, --reps N, --warmup N, --filter TEXT, --peers tfjs,jax, --own-device, --json)`);
  }
  return o;
}

const opts = parse(process.argv.slice(2));
const device = await Device.create();
try {
  const { vendor, architecture, description } = device.info;
  const adapter = [vendor, architecture, description].filter(Boolean).join(' / ');
  const rows = await comparePeers(device, { ...opts, log: (l) => process.stderr.write(`${l}\n`) });
  if (!rows.length) {
    process.stderr.write(`no workload matches the filter '${opts.filter}'; the workloads: ${WORKLOADS.map((w) => w.name).join(', ')}\n`);
    process.exitCode = 2;
  } else if (opts.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), adapter, peerDevice: opts.peerDevice ?? 'shared', rows, targets: peerTargets(rows) }, null, 2));
  } else {
    console.log(`robustgpu vs peers, ${new Date().toISOString()}, adapter: ${adapter}, peers on ${opts.peerDevice === 'own' ? 'their own devices' : "robustgpu's GPUDevice"}`);
    console.log(formatPeerRows(rows));
  }
} finally {
  await device.close();
}
