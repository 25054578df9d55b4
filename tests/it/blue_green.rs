//! Following a blue/green deployment against a CodeDeploy double whose answers have the shapes
//! of the API reference: DeploymentInfo with `deploymentStyle` BLUE_GREEN, its
//! `blueGreenDeploymentConfiguration`, `status` through Created, InProgress, Ready (the
//! replacement fleet installed, waiting for ContinueDeployment when the group's
//! `actionOnTimeout` is STOP_DEPLOYMENT: DeploymentReadyOption), InProgress again with
//! `instanceTerminationWaitTimeStarted` ("'true' as soon as the termination wait period
//! starts": DeploymentInfo) and Succeeded; instance targets labelled Blue and Green
//! (InstanceTarget.instanceLabel) with their lifecycle events
//! (<https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_DeploymentInfo.html>,
//! <https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_InstanceTarget.html>).

use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
use aws_sdk_codedeploy::types::{
    BlueGreenDeploymentConfiguration, BlueInstanceTerminationOption, DeploymentInfo,
    DeploymentOption, DeploymentReadyAction, DeploymentReadyOption, DeploymentStatus,
    DeploymentStyle, DeploymentTarget, DeploymentTargetType, DeploymentType,
    Diagnostics as CdDiagnostics, ErrorCode, ErrorInformation, GreenFleetProvisioningAction,
    GreenFleetProvisioningOption, InstanceAction, InstanceTarget, LifecycleErrorCode,
    LifecycleEvent, LifecycleEventStatus, TargetLabel, TargetStatus,
};
use aws_smithy_mocks::{mock, Rule};
use invisible_pipeline::base::error::{exit, Error};
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy;
use invisible_pipeline::deployment::{Outcome, WaitFor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One moment of the deployment: its status, whether the blue fleet's termination wait has
/// started, and each instance's status and lifecycle events.
#[derive(Clone)]
struct Moment {
    status: DeploymentStatus,
    termination_wait: bool,
    error: Option<(ErrorCode, &'static str)>,
    instances: Vec<InstanceTarget>,
}

fn events(names: &[&str], status: LifecycleEventStatus) -> Vec<LifecycleEvent> {
    names
        .iter()
        .map(|n| {
            LifecycleEvent::builder()
                .lifecycle_event_name(*n)
                .status(status.clone())
                .build()
        })
        .collect()
}

/// The lifecycle events CodeDeploy runs on a replacement instance, and on an original one
/// (user guide, "AppSpec 'hooks' section": lifecycle event hooks for a blue/green deployment).
const GREEN_INSTALL: [&str; 7] = [
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
    "BeforeAllowTraffic",
];
const BLUE_EVENTS: [&str; 4] = [
    "BeforeBlockTraffic",
    "BlockTraffic",
    "AfterBlockTraffic",
    "ApplicationStop",
];

fn instance(
    id: &str,
    label: TargetLabel,
    status: TargetStatus,
    events: Vec<LifecycleEvent>,
) -> InstanceTarget {
    InstanceTarget::builder()
        .deployment_id("d-new")
        .target_id(id)
        .target_arn(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}"))
        .instance_label(label)
        .status(status)
        .set_lifecycle_events(Some(events))
        .build()
}

fn green(status: TargetStatus, done: &[&str], pending: &[&str]) -> InstanceTarget {
    let mut e = events(done, LifecycleEventStatus::Succeeded);
    e.extend(events(pending, LifecycleEventStatus::Pending));
    instance("i-green1", TargetLabel::Green, status, e)
}

fn blue(status: TargetStatus, done: &[&str], pending: &[&str]) -> InstanceTarget {
    let mut e = events(done, LifecycleEventStatus::Succeeded);
    e.extend(events(pending, LifecycleEventStatus::Pending));
    instance("i-blue1", TargetLabel::Blue, status, e)
}

/// The deployment at `m`, as GetDeployment shows it.
fn info(m: &Moment) -> DeploymentInfo {
    let mut b = DeploymentInfo::builder()
        .deployment_id("d-new")
        .application_name("app")
        .deployment_group_name("web")
        .status(m.status.clone())
        .deployment_style(
            DeploymentStyle::builder()
                .deployment_type(DeploymentType::BlueGreen)
                .deployment_option(DeploymentOption::WithTrafficControl)
                .build(),
        )
        .blue_green_deployment_configuration(
            BlueGreenDeploymentConfiguration::builder()
                .terminate_blue_instances_on_deployment_success(
                    BlueInstanceTerminationOption::builder()
                        .action(InstanceAction::Terminate)
                        .termination_wait_time_in_minutes(60)
                        .build(),
                )
                .deployment_ready_option(
                    DeploymentReadyOption::builder()
                        .action_on_timeout(DeploymentReadyAction::StopDeployment)
                        .wait_time_in_minutes(120)
                        .build(),
                )
                .green_fleet_provisioning_option(
                    GreenFleetProvisioningOption::builder()
                        .action(GreenFleetProvisioningAction::CopyAutoScalingGroup)
                        .build(),
                )
                .build(),
        )
        .instance_termination_wait_time_started(m.termination_wait);
    if let Some((code, message)) = &m.error {
        b = b.error_information(
            ErrorInformation::builder()
                .code(code.clone())
                .message(*message)
                .build(),
        );
    }
    b.build()
}

/// GetDeployment moves through `moments` one call at a time (staying on the last);
/// ListDeploymentTargets and BatchGetDeploymentTargets show the current one's instances.
fn double(moments: Vec<Moment>) -> (Vec<Rule>, Arc<AtomicUsize>) {
    let moments = Arc::new(moments);
    let at = Arc::new(AtomicUsize::new(0));
    let current = {
        let (moments, at) = (moments.clone(), at.clone());
        move || {
            moments[at
                .load(Ordering::SeqCst)
                .saturating_sub(1)
                .min(moments.len() - 1)]
            .clone()
        }
    };
    let (m, a) = (moments.clone(), at.clone());
    let get = mock!(aws_sdk_codedeploy::Client::get_deployment).then_compute_output(move |_| {
        let i = a.fetch_add(1, Ordering::SeqCst).min(m.len() - 1);
        GetDeploymentOutput::builder()
            .deployment_info(info(&m[i]))
            .build()
    });
    let now = current.clone();
    let list =
        mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_compute_output(move |r| {
            let wanted = r
                .target_filters()
                .and_then(|f| f.values().next().cloned())
                .unwrap_or_default();
            let ids = now()
                .instances
                .iter()
                .filter(|t| {
                    wanted.is_empty()
                        || wanted
                            .iter()
                            .any(|w| t.status().map(|s| s.as_str()) == Some(w))
                })
                .filter_map(|t| t.target_id().map(str::to_string))
                .collect();
            ListDeploymentTargetsOutput::builder()
                .set_target_ids(Some(ids))
                .build()
        });
    let now = current;
    let batch = mock!(aws_sdk_codedeploy::Client::batch_get_deployment_targets)
        .then_compute_output(move |r| {
            let targets = now()
                .instances
                .into_iter()
                .filter(|t| {
                    r.target_ids()
                        .iter()
                        .any(|id| Some(id.as_str()) == t.target_id())
                })
                .map(|t| {
                    DeploymentTarget::builder()
                        .deployment_target_type(DeploymentTargetType::InstanceTarget)
                        .instance_target(t)
                        .build()
                })
                .collect();
            BatchGetDeploymentTargetsOutput::builder()
                .set_deployment_targets(Some(targets))
                .build()
        });
    (vec![get, list, batch], at)
}

fn moment(
    status: DeploymentStatus,
    termination_wait: bool,
    instances: Vec<InstanceTarget>,
) -> Moment {
    Moment {
        status,
        termination_wait,
        error: None,
        instances,
    }
}

/// Created, the green fleet installing, Ready (waiting for a manual reroute), traffic moved
/// (the blue fleet's termination wait), Succeeded.
fn through_ready() -> Vec<Moment> {
    use DeploymentStatus::*;
    vec![
        moment(Created, false, vec![]),
        moment(
            InProgress,
            false,
            vec![
                green(
                    TargetStatus::InProgress,
                    &GREEN_INSTALL[..3],
                    &GREEN_INSTALL[3..],
                ),
                blue(TargetStatus::Pending, &[], &BLUE_EVENTS),
            ],
        ),
        moment(
            Ready,
            false,
            vec![
                green(
                    TargetStatus::Ready,
                    &GREEN_INSTALL,
                    &["AllowTraffic", "AfterAllowTraffic"],
                ),
                blue(TargetStatus::Pending, &[], &BLUE_EVENTS),
            ],
        ),
        moment(
            InProgress,
            true,
            vec![
                green(
                    TargetStatus::Succeeded,
                    &[&GREEN_INSTALL[..], &["AllowTraffic", "AfterAllowTraffic"]].concat(),
                    &[],
                ),
                blue(
                    TargetStatus::InProgress,
                    &BLUE_EVENTS[..3],
                    &BLUE_EVENTS[3..],
                ),
            ],
        ),
        moment(
            Succeeded,
            true,
            vec![
                green(
                    TargetStatus::Succeeded,
                    &[&GREEN_INSTALL[..], &["AllowTraffic", "AfterAllowTraffic"]].concat(),
                    &[],
                ),
                blue(TargetStatus::Succeeded, &BLUE_EVENTS, &[]),
            ],
        ),
    ]
}

fn clients_for(cd: &[Rule]) -> (invisible_pipeline::aws::Clients, UsualDeploy) {
    let cd: Vec<&Rule> = cd.iter().collect();
    usual_deploy(&cd, &[])
}

/// Ready (waiting for a manual reroute) is not the end, nor is the blue fleet's termination
/// wait: the run follows to Succeeded.
#[tokio::test(flavor = "multi_thread")]
async fn a_blue_green_deployment_is_followed_through_ready_and_the_termination_wait() {
    let (_tmp, cfg) = setup();
    let (rules, calls) = double(through_ready());
    let (c, _keep) = clients_for(&rules);
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.final_status.as_deref(), Some("Succeeded"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "every moment read, Ready included"
    );
}

/// `--wait-for traffic`: the run ends, exit 0, as soon as traffic is on the green fleet; the
/// deployment goes on through the blue fleet's termination wait.
#[tokio::test(flavor = "multi_thread")]
async fn wait_for_traffic_ends_when_traffic_moved() {
    // With `instanceTerminationWaitTimeStarted`, and without it (KEEP_ALIVE never sets it;
    // users report it late): every green instance's AllowTraffic succeeded says it too.
    for flag in [true, false] {
        let (_tmp, mut cfg) = setup();
        cfg.wait_for = WaitFor::Traffic;
        let mut moments = through_ready();
        moments[3].termination_wait = flag;
        let (rules, calls) = double(moments);
        let (c, _keep) = clients_for(&rules);
        let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
        assert_eq!(outcome.status, Outcome::TrafficMoved, "flag {flag}");
        assert_eq!(outcome.final_status.as_deref(), Some("InProgress"));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "ended at the termination wait"
        );
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["status"], "traffic-moved", "{json}");
    }
}

/// A deployment left Ready (nobody reroutes) is never a success: the run gives up waiting
/// (exit 7) with the deployment's id.
#[tokio::test(flavor = "multi_thread")]
async fn ready_for_ever_is_not_a_success() {
    let (_tmp, mut cfg) = setup();
    cfg.wait_timeout = Some(Duration::from_millis(300));
    cfg.poll_interval = Duration::from_millis(20);
    let (rules, _calls) = double(through_ready()[..3].to_vec());
    let (c, _keep) = clients_for(&rules);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WaitTimeout { .. }), "{err}");
    assert_eq!(err.exit_code(), exit::WAIT_TIMEOUT);
}

/// The green fleet's install fails: the deployment fails (exit 5), naming the green instance,
/// its event and its script's diagnostics; traffic never left the blue fleet.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_the_green_fleet_s_install_names_the_green_instance() {
    use DeploymentStatus::*;
    let failed = LifecycleEvent::builder()
        .lifecycle_event_name("AfterInstall")
        .status(LifecycleEventStatus::Failed)
        .diagnostics(
            CdDiagnostics::builder()
                .error_code(LifecycleErrorCode::ScriptFailed)
                .script_name("scripts/configure.sh")
                .message("Script at specified location: scripts/configure.sh run as user root failed with exit code 2")
                .log_tail("[stderr]configure: missing /etc/app.conf")
                .build(),
        )
        .build();
    let mut green_events = events(&GREEN_INSTALL[..3], LifecycleEventStatus::Succeeded);
    green_events.push(failed);
    let green_failed = instance(
        "i-green1",
        TargetLabel::Green,
        TargetStatus::Failed,
        green_events,
    );
    let moments = vec![
        moment(Created, false, vec![]),
        moment(
            InProgress,
            false,
            vec![
                green(TargetStatus::InProgress, &GREEN_INSTALL[..3], &GREEN_INSTALL[3..]),
                blue(TargetStatus::Pending, &[], &BLUE_EVENTS),
            ],
        ),
        Moment {
            status: Failed,
            termination_wait: false,
            error: Some((
                ErrorCode::HealthConstraints,
                "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems.",
            )),
            instances: vec![green_failed, blue(TargetStatus::Skipped, &[], &[])],
        },
    ];
    let (_tmp, cfg) = setup();
    let (rules, _calls) = double(moments);
    let (c, _keep) = clients_for(&rules);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::DEPLOYMENT_FAILED);
    let text = err.to_string();
    assert!(text.contains("HEALTH_CONSTRAINTS"), "{text}");
    assert!(
        text.contains(
            "instance i-green1: AfterInstall failed: ScriptFailed in scripts/configure.sh"
        ),
        "{text}"
    );
    assert!(text.contains("configure: missing /etc/app.conf"), "{text}");
}

/// `rollback` in a blue/green group: CodeDeploy rolls back "by redeploying a previously
/// deployed revision of an application as a new deployment" (user guide, "Redeploy and roll
/// back a deployment"): a new blue/green deployment of the earlier revision, followed through
/// the same phases (a new replacement fleet, Ready, the termination wait) to Succeeded.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_in_a_blue_green_group_is_a_new_blue_green_deployment_followed_to_its_end() {
    use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
    use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
    use aws_sdk_codedeploy::types::{RevisionLocation, RevisionLocationType, S3Location};
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    let success = |id: &str, version: &str, secs: i64| {
        let mut i = info(&moment(DeploymentStatus::Succeeded, true, vec![]));
        i.deployment_id = Some(id.into());
        i.create_time = Some(aws_smithy_types::DateTime::from_secs(secs));
        i.revision = Some(
            RevisionLocation::builder()
                .revision_type(RevisionLocationType::S3)
                .s3_location(
                    S3Location::builder()
                        .bucket("artifacts")
                        .key(format!("bundles/app/{version}.tgz"))
                        .version(version)
                        .e_tag(format!("etag-{version}"))
                        .bundle_type(aws_sdk_codedeploy::types::BundleType::TarGZip)
                        .build(),
                )
                .build(),
        );
        i
    };
    let group = [success("d-LIVE", "v2", 200), success("d-OLD", "v1", 100)];
    let successes = mock!(aws_sdk_codedeploy::Client::list_deployments)
        .match_requests(|r| r.include_only_statuses() == [DeploymentStatus::Succeeded])
        .then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-LIVE")
                .deployments("d-OLD")
                .build()
        });
    let batch =
        mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_compute_output(move |r| {
            BatchGetDeploymentsOutput::builder()
                .set_deployments_info(Some(
                    group
                        .iter()
                        .filter(|i| {
                            r.deployment_ids()
                                .iter()
                                .any(|w| Some(w.as_str()) == i.deployment_id())
                        })
                        .cloned()
                        .collect(),
                ))
                .build()
        });
    let head = mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.version_id() == Some("v1"))
        .then_output(|| HeadObjectOutput::builder().e_tag("\"etag-v1\"").build());
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            r.revision()
                .and_then(|v| v.s3_location())
                .is_some_and(|s| s.version() == Some("v1"))
        })
        .then_output(|| {
            aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput::builder()
                .deployment_id("d-new")
                .build()
        });
    let (rules, calls) = double(through_ready());
    let (active, recent, tag) = (list_active(&[]), list_recent(&[]), tagging());
    let mut cd: Vec<&Rule> = vec![&successes, &batch, &create, &active, &recent];
    cd.extend(rules.iter());
    let c = clients(&[&head, &tag], &cd, &[]);
    let (_tmp, mut cfg) = setup();
    cfg.trigger_time = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    let outcome =
        invisible_pipeline::commands::rollback::run(&c, &cfg, None, &Shutdown::manual().1)
            .await
            .unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(outcome.rollback_of, "d-OLD");
    assert_eq!(outcome.deployment_id.as_deref(), Some("d-new"));
    assert_eq!(create.num_calls(), 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "followed through Ready and the termination wait"
    );
}

/// A tag-chosen replacement fleet (`green_fleet: discover_existing`): CreateDeployment names
/// it in `targetInstances.tagFilters` (API reference, TargetInstances), KEY_AND_VALUE.
#[tokio::test(flavor = "multi_thread")]
async fn a_tag_chosen_green_fleet_goes_in_target_instances() {
    use aws_sdk_codedeploy::types::Ec2TagFilterType;
    let (_tmp, mut cfg) = setup();
    cfg.green_fleet_tags = vec![
        ("fleet".into(), "green".into()),
        ("fleet".into(), "green-b".into()),
    ];
    cfg.wait_timeout = None;
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment)
        .match_requests(|r| {
            let filters = r
                .target_instances()
                .map(|t| t.tag_filters())
                .unwrap_or_default();
            filters.len() == 2
                && filters.iter().all(|f| {
                    f.key() == Some("fleet") && f.r#type() == Some(&Ec2TagFilterType::KeyAndValue)
                })
                && filters[1].value() == Some("green-b")
        })
        .then_output(|| {
            aws_sdk_codedeploy::operation::create_deployment::CreateDeploymentOutput::builder()
                .deployment_id("d-new")
                .build()
        });
    let (hb, put, tag, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        list_recent(&[]),
        list_active(&[]),
    );
    let c = clients(&[&hb, &put, &tag], &[&recent, &active, &create], &[]);
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Created);
    assert_eq!(create.num_calls(), 1);
}

/// A group whose ec2DeploymentOptions name processes CodeDeploy cannot suspend: CreateDeployment
/// answers 400 InvalidAutoScalingGroupProcessToSuspendException (API reference, CreateDeployment
/// errors); the run says what the setting is and where it comes from (exit 8), and the bundle
/// it uploaded is deleted: no deployment, nothing left behind.
#[tokio::test(flavor = "multi_thread")]
async fn processes_that_cannot_be_suspended_are_said_plainly_and_leave_nothing() {
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    let (_tmp, cfg) = setup();
    let create = mock!(aws_sdk_codedeploy::Client::create_deployment).then_http_response(|| {
        HttpResponse::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                r#"{"__type":"InvalidAutoScalingGroupProcessToSuspendException","message":"The process Launch cannot be suspended."}"#,
            ),
        )
    });
    let (hb, put, tag, del, recent, active) = (
        head_bucket("us-east-1"),
        put_object(),
        tagging(),
        delete_object(),
        list_recent(&[]),
        list_active(&[]),
    );
    let c = clients(&[&hb, &put, &tag, &del], &[&recent, &active, &create], &[]);
    let err = deploy::run(&c, &cfg, &Shutdown::manual().1)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), exit::REFUSED, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("suspend_asg_processes")
            && text.contains("The process Launch cannot be suspended"),
        "{text}"
    );
    assert_eq!(
        (create.num_calls(), del.num_calls()),
        (1, 1),
        "sent once, bundle deleted"
    );
}
