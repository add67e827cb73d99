import type { Command } from 'commander';
import { type ClientFlags, clientFlags, runCommand, userIdentity, withExplorer } from '@plexus/core/client';
import { HELLO_PROTOCOL } from './protocol.js';
import type { GreetResult } from './methods.js';
// Declares ERR_HELLO_BLOCKED in the CLI process too, so a refusal prints with its hint line.
import './errors.js';

/**
 * `plexus hello ...`: the client side of the hello plugin. `plexus` imports this module (the
 * package's `./cli` export) only when the first argument is `hello`, so keep its imports light.
 */
export function registerCli(program: Command): void {
  const hello = program.command('hello').description('greet a name on an explorer (example plugin)');

  clientFlags(hello.command('greet'))
    .description('send a signed greeting for NAME; prints the answer and how often your key has greeted')
    .requiredOption('--name <name>', 'name to greet (lowercase DNS labels)')
    .action(async (opts: ClientFlags & { name: string }) => {
      await runCommand(
        opts,
        async () => {
          // greet is mutating, hence signed: the key is created (0600) on first use.
          const me = await userIdentity(opts.key, true);
          return withExplorer(opts, me, (c) => c.call<GreetResult>(HELLO_PROTOCOL, 'greet', { name: opts.name }, { signed: true }));
        },
        (r) => `${r.text} (greeting #${r.count} from your key)`,
      );
    });
}
