#!/usr/bin/env node
/** Entry point of the CDK app: configuration from cdk.json context, stacks from lib/app.ts. */
import { App } from 'aws-cdk-lib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPipeline } from '../lib/app.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const app = new App();
createPipeline(app, {
  toolDir: app.node.tryGetContext('tool_dir') ?? join(root, 'dist', 'tool'),
  buildspecPath: join(root, 'buildspec.yml'),
});
app.synth();
