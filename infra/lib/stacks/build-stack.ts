/**
 * The stack of the build side in `build_region`, for instances in a region without CodeBuild:
 * its own log key and access-log bucket, the build side, and its notifications.
 */
import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { Notifications } from '../constructs/notifications.js';
import { deploymentConfigName, remoteBundles, remoteNotifyTopic } from '../shared/fixed-names.js';
import { accessLogBucket, allowLogs } from '../shared/logs.js';
import { addBuildSide, buildNotices, type BuildSide } from './build-side.js';
import type { PipelineStackProps } from './pipeline-stack.js';

/**
 * The build side in `build_region`, for instances in a region without CodeBuild: it deploys
 * to the pipeline stack's region, naming its bucket, key, configurations and notification topic
 * by their fixed names (no cross-region reference). Its own topic tells what happens in this
 * region (failed builds, the manual projects' ends, lost triggers); the binary publishes each
 * run's outcome to the pipeline region's topic, where the deployments' ends and the alarms are.
 */
export class BuildStack extends Stack {
  readonly side: BuildSide;
  readonly notifications: Notifications;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    // CloudWatch Logs takes a key of its own region: the build's log group gets one here.
    const logKey = new kms.Key(this, 'LogKey', {
      description: 'invisible-pipeline: build logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    allowLogs(logKey);
    // S3 access logs go to a bucket of the same region.
    const accessLogs = accessLogBucket(this, 'AccessLogs');
    this.notifications = new Notifications(this, 'Notifications', { email: config.notificationEmail });
    this.side = addBuildSide(this, {
      config,
      bundles: remoteBundles(this.partition, config.account, config.region, config.applicationName),
      logKey,
      accessLogs,
      applicationName: config.applicationName,
      deploymentGroupName: config.deploymentGroupName,
      deploymentConfigName: deploymentConfigName(config, 'main')!,
      prod: config.prod && {
        deploymentGroupName: config.prod.deploymentGroupName,
        deploymentConfigName: deploymentConfigName(config, 'prod')!,
      },
      notify: remoteNotifyTopic(this.partition, config.account, config.region, config.applicationName),
      toolDir: props.toolDir,
      buildspecPath: props.buildspecPath,
    });
    this.notifications.watch(buildNotices(config, this.side));
    new CfnOutput(this, 'NotificationTopic', { value: this.notifications.topic.topicArn });
  }
}
