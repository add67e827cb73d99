import { fileURLToPath } from 'node:url';

/**
 * The config `plexus start`, `id` and `status` use without `--config`: `configs/dev.yaml` of this
 * installation, the same file operators read beside the other role configs. Core names no plugin;
 * the file does. Its relative paths resolve against its own directory, so the dev node keeps its
 * data in `<project>/.plexus-dev` whichever directory plexus is started from.
 */
export function devConfigPath(): string {
  // dist/src/config/dev-config.js → the project root is four levels up.
  return fileURLToPath(new URL('../../../../configs/dev.yaml', import.meta.url));
}
