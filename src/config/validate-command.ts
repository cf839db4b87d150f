// `wicket validate FILE`: exit status 0 when the config loads, 1 (with every error) when not.
import { ConfigInvalidError, formatConfigErrors, loadConfig } from './load.js';

export async function validateCommand(file: string): Promise<number> {
  try {
    // The environment counts: validate what `wicket start` would run.
    const cfg = await loadConfig(file);
    const upstreams = Object.keys(cfg.upstreams).length;
    process.stdout.write(`ok: ${file} (${cfg.routes.length} routes, ${upstreams} upstreams)\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigInvalidError)) throw e;
    for (const line of formatConfigErrors(e)) process.stderr.write(`${line}\n`);
    return 1;
  }
}
