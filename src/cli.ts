#!/usr/bin/env node
// wicket start --config FILE | validate FILE | version
// The same file is the cluster worker entry: node:cluster re-runs it.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { runWorker } from './worker/worker.js';

const USAGE = 'usage: wicket start --config FILE | wicket validate FILE | wicket version';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'version':
    case '--version':
      console.log(`wicket ${version()} (node ${process.version})`);
      return 0;
    case 'validate': {
      if (rest.length !== 1) break;
      const { validateCommand } = await import('./config/validate-command.js');
      return validateCommand(rest[0]!);
    }
    case 'start': {
      const i = rest.indexOf('--config');
      const file = i >= 0 ? rest[i + 1] : undefined;
      if (!file) break;
      const { startCommand } = await import('./supervisor/start-command.js');
      return startCommand(file);
    }
  }
  console.error(USAGE);
  return 2;
}

if (cluster.isWorker) {
  runWorker();
} else {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== -1) process.exitCode = code;
    },
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    },
  );
}
