#!/usr/bin/env node
/** Entry point of the CDK app: configuration from cdk.json context, stacks from lib/app.ts. A
 * configuration error is one line naming the key, not a stack trace. */
import { App } from 'aws-cdk-lib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPipeline } from '../lib/app.js';
import { ConfigError } from '../lib/config.js';
import { contextValue } from '../lib/context-keys.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const app = new App();
try {
  createPipeline(app, {
    toolDir: (contextValue(app.node, 'tool_dir') as string | undefined) ?? join(root, 'dist', 'tool'),
    buildspecPath: join(root, 'buildspec.yml'),
  });
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(`invisible-pipeline: ${e.message}`);
  process.exit(1);
}
app.synth();
