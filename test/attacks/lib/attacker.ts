/**
 * Entry of an attacker process: `node attacker.js KIND JSON-ARGS`, prints one JSON line with the
 * result. Attacks run in their own process so their CPU use does not slow the canary's event
 * loop, and a crash of the tool cannot be mistaken for a failure of the node.
 */
import { slowFrames, peerFlood } from './attack-streams.js';
import { connFlood, silentTcp } from './attack-connections.js';

const KINDS: Record<string, (args: any) => Promise<unknown>> = { slowFrames, peerFlood, connFlood, silentTcp };

const [kind, json] = process.argv.slice(2);
const run = KINDS[kind ?? ''];
if (run === undefined || json === undefined) {
  process.stderr.write(`usage: attacker.js ${Object.keys(KINDS).join('|')} JSON-ARGS\n`);
  process.exit(2);
}
const result = await run(JSON.parse(json));
process.stdout.write(`${JSON.stringify(result)}\n`);
// libp2p and sockets may leave handles behind; the result is out, the tool is done.
process.exit(0);
