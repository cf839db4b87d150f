// `wicket start --config FILE`: load and validate, then supervise in the
// foreground. Returns -1 while running (the process exits on shutdown).
import { loadConfig, formatConfigErrors, ConfigInvalidError } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { Supervisor } from './supervisor.js';

export async function startCommand(file: string): Promise<number> {
  let config;
  try {
    config = await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigInvalidError) {
      for (const line of formatConfigErrors(err)) console.error(line);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config.log.level, 'supervisor');
  const sup = new Supervisor(file, config, log);
  try {
    await sup.start();
  } catch (err) {
    log.error({ err }, 'start failed');
    await sup.shutdown('start-failure', 1);
    return -1;
  }
  return -1;
}
