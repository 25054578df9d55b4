/** Builds a fresh app per test from cdk.json's context plus overrides, with the fixture tool. */
import { App } from 'aws-cdk-lib';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPipeline, type PipelineApp } from '../lib/app.js';

const here = dirname(fileURLToPath(import.meta.url));
export const infraDir = resolve(here, '..');
export const repoRoot = resolve(infraDir, '..');
export const buildspecPath = join(repoRoot, 'buildspec.yml');

export const testContext: Record<string, unknown> = {
  pipeline_account: '123456789012',
  pipeline_region: 'ap-southeast-1',
};

export function cdkContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(infraDir, 'cdk.json'), 'utf8')).context;
}

export function makeApp(overrides: Record<string, unknown> = {}): { app: App; outdir: string } {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-out-'));
  const app = new App({ outdir, context: { ...cdkContext(), ...testContext, ...overrides } });
  return { app, outdir };
}

export function build(overrides: Record<string, unknown> = {}): PipelineApp & { app: App; outdir: string } {
  const { app, outdir } = makeApp(overrides);
  const pipeline = createPipeline(app, { toolDir: join(here, 'fixtures', 'tool'), buildspecPath });
  return { app, outdir, ...pipeline };
}

/** Every cdk-nag finding of a synthesized assembly, as "rule: message [path]". */
export function nagFindings(outdir: string): string[] {
  // Synth writes the report of every validation plugin (cdk-nag, CloudFormation Validate) here.
  const report = join(outdir, 'validation-report.json');
  if (!existsSync(report)) throw new Error(`${report} missing: was the app synthesized?`);
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const findings: string[] = [];
  for (const plugin of json.pluginReports ?? []) {
    for (const violation of plugin.violations ?? []) {
      const where = [...(violation.violatingResources ?? []), ...(violation.violatingConstructs ?? [])];
      if (where.length === 0) where.push({});
      for (const w of where) {
        findings.push(`${plugin.pluginName}: ${violation.ruleName}: ${violation.description} [${w.constructPath ?? w.resourceLogicalId ?? '?'}]`);
      }
    }
  }
  return findings;
}

export function assemblyFiles(outdir: string): string[] {
  return readdirSync(outdir);
}

/** A template value (Fn::Join of strings, Ref and Fn::GetAtt) as a string: `<Ref>`, `<Id.Attr>`. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (v['Fn::Join']) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if (v.Ref) return `<${v.Ref as string}>`;
  if (v['Fn::GetAtt']) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  throw new Error(`cannot flatten ${JSON.stringify(value)}`);
}
