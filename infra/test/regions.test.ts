/**
 * Every commercial region as the instances' region, with the neighbours a team would pick
 * (lib/regions.ts): synth succeeds with no resource type its region lacks, and cdk-nag is
 * clean. With TEMPLATES_OUT set, the templates are written there for one cfn-lint call
 * (scripts/test-infra): each names its own region in its cfn-lint metadata.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { COMMERCIAL_REGIONS, has, hasService, missingTypes, NEIGHBOURS, partitionOf, regionData, REGIONS } from '../lib/regions.js';
import { build, infraDir, nagFindings, repoRoot } from './helpers.js';

/** Synthesizes `p` and copies its templates to TEMPLATES_OUT (for cfn-lint and checkov). */
function synthAndKeep(p: ReturnType<typeof build>, prefix: string): string[] {
  p.app.synth();
  const out = process.env.TEMPLATES_OUT;
  const templates = readdirSync(p.outdir).filter((f) => f.endsWith('.template.json'));
  if (out) {
    mkdirSync(out, { recursive: true });
    for (const file of templates) cpSync(join(p.outdir, file), join(out, `${prefix}-${file}`));
  }
  return templates.map((file) => readFileSync(join(p.outdir, file), 'utf8'));
}

/** The files of a folder, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** The context a team in `region` would set. */
function contextFor(region: string): Record<string, unknown> {
  const near = NEIGHBOURS[region];
  const context: Record<string, unknown> = { pipeline_region: region, source_region: '' };
  if (!has('AWS::CodeBuild', region)) context.build_region = near;
  else if (!has('AWS::CodeCommit', region)) context.source_region = near;
  return context;
}

describe('every commercial region', () => {
  test('the pinned list has the 34 commercial regions, and Taipei, Calgary and Mexico lack CodeBuild', () => {
    expect(COMMERCIAL_REGIONS).toHaveLength(34);
    expect(REGIONS).toEqual([...COMMERCIAL_REGIONS, 'eusc-de-east-1'].sort());
    expect(regionData.source).toMatch(/^cfn-lint \d+\.\d+\.\d+/);
    expect(regionData.services_source).toMatch(/^botocore \d+\.\d+\.\d+/);
    for (const region of ['ap-east-2', 'ca-west-1', 'mx-central-1']) {
      expect(has('AWS::CodeBuild', region), region).toBe(false);
      expect(hasService('codebuild', region), region).toBe(false);
      expect(has('AWS::CodeDeploy', region), region).toBe(true);
    }
  });

  test('CodePipeline is missing in exactly the regions this project is for', () => {
    expect(COMMERCIAL_REGIONS.filter((r) => !hasService('codepipeline', r))).toEqual([
      'ap-east-2',
      'ap-southeast-7',
      'ca-west-1',
      'mx-central-1',
    ]);
  });

  test('each synthesizes with its neighbours: no missing resource type, cdk-nag clean', () => {
    const problems: string[] = [];
    for (const region of COMMERCIAL_REGIONS) {
      const p = build(contextFor(region));
      for (const stack of [p.pipeline, p.build, p.source]) {
        if (stack) problems.push(...missingTypes(stack));
      }
      synthAndKeep(p, region);
      problems.push(...nagFindings(p.outdir).map((f) => `${region}: ${f}`));
    }
    expect(problems).toEqual([]);
  });
});

describe('CodeCommit the service, not the resource type', () => {
  const serviceOnly = ['af-south-1', 'ap-south-2', 'ap-southeast-3', 'il-central-1', 'me-central-1'];

  test('CodeCommit answers where CloudFormation cannot create a repository in exactly five regions', () => {
    expect(COMMERCIAL_REGIONS.filter((r) => hasService('codecommit', r) && !has('AWS::CodeCommit', r))).toEqual(serviceOnly);
  });

  test('there, an existing repository keeps the source in the region; creating one names repo_exists', () => {
    for (const region of serviceOnly) {
      const p = build({ pipeline_region: region, source_region: '', repo_exists: true });
      expect(p.source, region).toBeUndefined();
      expect(missingTypes(p.pipeline), region).toEqual([]);
      const created = build({ pipeline_region: region, source_region: '' });
      expect(missingTypes(created.pipeline).join('\n'), region).toMatch(
        new RegExp(`AWS::CodeCommit::Repository .* does not exist in ${region} .*aws codecommit create-repository --region ${region}.* set repo_exists to true`),
      );
    }
  });

  test('where CodeCommit itself is missing, an existing repository is refused, naming the keys', () => {
    expect(() => build({ pipeline_region: 'ap-southeast-7', source_region: '', repo_exists: true })).toThrow(
      /"repo_exists" is true, but CodeCommit does not exist in ap-southeast-7 \(botocore [\d.]+ \(data\/endpoints.json\)\), the build region: set "source_region" to a region of aws with CodeCommit, or set "source_provider" to github/,
    );
  });
});

describe('the AWS European Sovereign Cloud (eusc-de-east-1, partition aws-eusc)', () => {
  const token = { source_provider: 'github', github_repository: 'acme/site', github_token_secret: 'github/pat' };

  test('its own partition; cfn-lint\'s copy of us-east-1 corrected: no CodeCommit, no CodeConnections', () => {
    expect(partitionOf('eusc-de-east-1')).toBe('aws-eusc');
    expect(regionData.regions['eusc-de-east-1'].types_note).toMatch(/copy of us-east-1/);
    for (const service of ['codedeploy', 'codebuild', 's3', 'ssm', 'kms', 'events'] as const) {
      expect(hasService(service, 'eusc-de-east-1'), service).toBe(true);
    }
    expect(hasService('codecommit', 'eusc-de-east-1')).toBe(false);
    expect(has('AWS::CodeCommit', 'eusc-de-east-1')).toBe(false);
    expect(has('AWS::CodeConnections', 'eusc-de-east-1')).toBe(false);
  });

  test('synthesizes from GitHub with a token, cdk-nag clean, every ARN from the partition', () => {
    const p = build({ pipeline_region: 'eusc-de-east-1', source_region: '', ...token });
    expect(missingTypes(p.pipeline)).toEqual([]);
    const templates = synthAndKeep(p, 'eusc-de-east-1');
    expect(nagFindings(p.outdir)).toEqual([]);
    expect(templates.length).toBeGreaterThan(0);
    for (const template of templates) expect(template).not.toMatch(/arn:aws:/);
    expect(templates.join('\n')).toMatch(/"Ref":\s*"AWS::Partition"|arn:aws-eusc:/);
  });

  test('CodeCommit, a CodeConnections connection or a region of another partition is refused, naming the key', () => {
    expect(() => build({ pipeline_region: 'eusc-de-east-1', source_region: '' }).app.synth()).toThrow(
      /AWS::CodeCommit::Repository .* does not exist in eusc-de-east-1 .*: use source_provider github with github_token_secret: no region of aws-eusc has CodeCommit/,
    );
    expect(() => build({ pipeline_region: 'eusc-de-east-1', source_region: '', repo_exists: true })).toThrow(
      /CodeCommit does not exist in eusc-de-east-1 .*source_provider/,
    );
    expect(() => build({ pipeline_region: 'eusc-de-east-1', build_region: 'eu-central-1', source_region: '', ...token })).toThrow(
      /"build_region" is eu-central-1, in partition aws, but the pipeline region eusc-de-east-1 is in aws-eusc/,
    );
    expect(() =>
      build({
        pipeline_region: 'eusc-de-east-1',
        source_region: '',
        source_provider: 'github',
        github_repository: 'acme/site',
        codeconnections_arn: 'arn:aws-eusc:codeconnections:eusc-de-east-1:123456789012:connection/12345678-1234-1234-1234-123456789012',
      }),
    ).toThrow(/CodeConnections does not exist in eusc-de-east-1/);
  });

  test('no ARN of the aws partition is written in the stacks\' or the binary\'s source', () => {
    const sources = [...filesUnder(join(infraDir, 'lib')), ...filesUnder(join(infraDir, 'bin')), ...filesUnder(join(repoRoot, 'src'))];
    expect(sources.length).toBeGreaterThan(40);
    const literal = sources.filter((f) => readFileSync(f, 'utf8').includes('arn:aws:'));
    expect(literal).toEqual([]);
  });
});

describe('build_region', () => {
  test('a region without CodeBuild and no build_region fails synth, naming the key that fixes it', () => {
    const p = build({ pipeline_region: 'ca-west-1', source_region: 'ca-central-1' });
    expect(() => p.app.synth()).toThrow(
      /AWS::CodeBuild::Project \(InvisiblePipeline\/Build\/Project\/Resource\) does not exist in ca-west-1 .*set the context key build_region to a neighbouring region with CodeBuild \(e\.g\. ca-central-1\)/,
    );
  });

  test('Calgary built in ca-central-1: CodeDeploy, bucket, key and agent stay in ca-west-1', () => {
    const p = build({ pipeline_region: 'ca-west-1', build_region: 'ca-central-1', source_region: '' });
    expect(p.build).toBeDefined();
    expect(p.source).toBeUndefined();
    expect(p.pipeline.region).toBe('ca-west-1');
    expect(p.build!.region).toBe('ca-central-1');
    const deploy = Template.fromStack(p.pipeline);
    const built = Template.fromStack(p.build!);
    for (const type of ['AWS::CodeDeploy::Application', 'AWS::CodeDeploy::DeploymentGroup', 'AWS::KMS::Key', 'AWS::SSM::Association']) {
      expect(Object.keys(deploy.findResources(type)).length, type).toBeGreaterThan(0);
      if (type.startsWith('AWS::CodeDeploy')) built.resourceCountIs(type, 0);
    }
    deploy.resourceCountIs('AWS::CodeBuild::Project', 0);
    built.resourceCountIs('AWS::CodeBuild::Project', 3);
    built.resourceCountIs('AWS::CodeCommit::Repository', 1);
    // The bucket by its fixed name, the key by its alias: no cross-region reference.
    const bucket = Object.values(deploy.findResources('AWS::S3::Bucket')).find((b) => b.Properties.BucketName);
    const bucketName: string = bucket!.Properties.BucketName;
    expect(bucketName).toMatch(/^invisible-pipeline-123456789012-ca-west-1-[0-9a-f]{8}$/);
    deploy.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/invisible-pipeline/cbdeployapplication' });
    const project = Object.values(built.findResources('AWS::CodeBuild::Project')).find(
      (r) => r.Properties.Name === 'CodeBuildProject',
    );
    const env = Object.fromEntries(
      project!.Properties.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]),
    );
    expect(env.DEPLOY_REGION).toBe('ca-west-1');
    expect(env.ARTIFACT_BUCKET).toBe(bucketName);
    // No encryption header across regions: the bucket's default key applies.
    expect(env.ARTIFACT_KMS_KEY_ID).toBeUndefined();
    // The role deploys to the group in ca-west-1, and uses the key only by its alias.
    const policies = JSON.stringify(built.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(':codedeploy:ca-west-1:123456789012:deploymentgroup:cbdeployapplication/cbdeploygroup');
    expect(policies).toContain('"kms:ResourceAliases":["alias/invisible-pipeline/cbdeployapplication"]');
    expect(policies).not.toContain(':codedeploy:ca-central-1:');
    // The configuration the role may read is the one the group uses.
    const config = Object.values(deploy.findResources('AWS::CodeDeploy::DeploymentConfig'))[0];
    expect(policies).toContain(`deploymentconfig:${config.Properties.DeploymentConfigName}`);
    // Notifications where the events are: deployments in ca-west-1, builds in ca-central-1.
    const rules = (t: Template) =>
      Object.values(t.findResources('AWS::Events::Rule')).map((r) => JSON.stringify(r.Properties.EventPattern.source));
    expect(rules(deploy)).toEqual(['["aws.codedeploy"]']);
    expect(rules(built)).toEqual(expect.arrayContaining(['["aws.codebuild"]', '["aws.codecommit"]', '["aws.ssm"]']));
  });

  test('Taipei built in ap-east-1 with the repository there; Mexico in us-east-2', () => {
    for (const [region, near] of [
      ['ap-east-2', 'ap-east-1'],
      ['mx-central-1', 'us-east-2'],
    ]) {
      const p = build({ pipeline_region: region, build_region: near, source_region: '' });
      p.app.synth();
      expect(nagFindings(p.outdir)).toEqual([]);
      expect(missingTypes(p.pipeline)).toEqual([]);
      expect(missingTypes(p.build!)).toEqual([]);
    }
  });
});

describe('GitHub as a source', () => {
  const connection = 'arn:aws:codeconnections:ap-southeast-1:123456789012:connection/12345678-1234-1234-1234-123456789012';
  const projects = (t: Template) =>
    Object.fromEntries(
      Object.values(t.findResources('AWS::CodeBuild::Project')).map((r) => [r.Properties.Name, r.Properties]),
    );

  test('a CodeConnections connection: webhooks on the branch (deploy) and the others (validate)', () => {
    const p = build({ source_provider: 'github', github_repository: 'acme/site', codeconnections_arn: connection });
    const t = Template.fromStack(p.pipeline);
    const ps = projects(t);
    const deploy = ps.CodeBuildProject;
    expect(deploy.Source).toMatchObject({
      Type: 'GITHUB',
      Location: 'https://github.com/acme/site.git',
      Auth: { Type: 'CODECONNECTIONS', Resource: connection },
    });
    expect(deploy.Triggers).toEqual({
      Webhook: true,
      FilterGroups: [[{ Type: 'EVENT', Pattern: 'PUSH' }, { Type: 'HEAD_REF', Pattern: '^refs/heads/main$' }]],
    });
    expect(ps['CodeBuildProject-validate'].Triggers.FilterGroups).toEqual([
      [{ Type: 'EVENT', Pattern: 'PUSH' }, { Type: 'HEAD_REF', Pattern: '^refs/heads/main$', ExcludeMatchedPattern: true }],
    ]);
    // Rollback and promotion build nothing: the binary is their only source.
    expect(ps['CodeBuildProject-rollback'].Source.Type).toBe('S3');
    t.resourceCountIs('AWS::CodeCommit::Repository', 0);
    expect(p.source).toBeUndefined();
    // Pushes come by webhook; a release change still starts a build of the branch.
    const rules = Object.values(t.findResources('AWS::Events::Rule')).map((r) => JSON.stringify(r.Properties.EventPattern));
    expect(rules.some((r) => r.includes('aws.codecommit'))).toBe(false);
    expect(rules.some((r) => r.includes('aws.ssm'))).toBe(true);
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('"codeconnections:UseConnection"');
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
  });

  test('a personal access token from Secrets Manager, by a dynamic reference only; path filter', () => {
    const p = build({
      source_provider: 'github',
      github_repository: 'acme/site',
      github_token_secret: 'github/invisible-pipeline',
      path_filter: true,
    });
    const t = Template.fromStack(p.pipeline);
    t.hasResourceProperties('AWS::CodeBuild::SourceCredential', {
      ServerType: 'GITHUB',
      AuthType: 'PERSONAL_ACCESS_TOKEN',
      Token: '{{resolve:secretsmanager:github/invisible-pipeline:SecretString:::}}',
    });
    const deploy = projects(t).CodeBuildProject;
    expect(deploy.Triggers.FilterGroups[0]).toContainEqual({ Type: 'FILE_PATH', Pattern: '^CodeDeploy_Files/' });
    expect(deploy.Source.Auth).toBeUndefined();
    p.app.synth();
    expect(nagFindings(p.outdir)).toEqual([]);
  });

  test('Taipei built in ap-east-1 from GitHub needs the token: CodeConnections is not there', () => {
    expect(() =>
      build({
        pipeline_region: 'ap-east-2',
        build_region: 'ap-east-1',
        source_provider: 'github',
        github_repository: 'acme/site',
        codeconnections_arn: connection.replace('ap-southeast-1', 'ap-east-1'),
      }),
    ).toThrow(/CodeConnections does not exist in ap-east-1 .*github_token_secret/);
    const p = build({
      pipeline_region: 'ap-east-2',
      build_region: 'ap-east-1',
      source_provider: 'github',
      github_repository: 'acme/site',
      github_token_secret: 'github/pat',
    });
    expect(missingTypes(p.build!)).toEqual([]);
  });

  test('settings that contradict each other are refused, naming the keys', () => {
    expect(() => build({ source_provider: 'github', github_repository: 'acme/site' })).toThrow(
      /exactly one of .*codeconnections_arn.*github_token_secret/,
    );
    expect(() => build({ github_repository: 'acme/site' })).toThrow(/"github_repository" is set, but "source_provider" is not github/);
    expect(() =>
      build({ source_provider: 'github', github_repository: 'acme/site', codeconnections_arn: connection.replace('ap-southeast-1', 'us-east-1') }),
    ).toThrow(/connection in us-east-1, but the build runs in ap-southeast-1/);
  });
});
