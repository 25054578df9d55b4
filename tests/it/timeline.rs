//! The run's timeline, from the push to running code, against answers shaped as the API
//! references show them: CodeBuild's BatchGetBuilds in AWS JSON 1.1 (`builds[]` with
//! `startTime` and `phases[]`: `phaseType`, `phaseStatus`, `startTime`, `endTime`,
//! `durationInSeconds`, times in epoch seconds, the phase under way without an end;
//! `buildsNotFound`; an `AccessDeniedException` error document), and CodeDeploy's
//! ListDeploymentTargets and BatchGetDeploymentTargets (`instanceTarget.lifecycleEvents` with
//! `startTime`, `endTime`, `status`). What a user reads: the summary in text and JSON, a note
//! when the build cannot be read (the deploy still succeeds), and `history --timings`.

use crate::support::mocks::*;
use aws_sdk_codedeploy::operation::batch_get_deployment_targets::BatchGetDeploymentTargetsOutput;
use aws_sdk_codedeploy::operation::batch_get_deployments::BatchGetDeploymentsOutput;
use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::list_deployment_targets::{
    ListDeploymentTargetsError, ListDeploymentTargetsOutput,
};
use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
use aws_sdk_codedeploy::types::error::DeploymentNotStartedException;
use aws_sdk_codedeploy::types::{
    DeploymentInfo, DeploymentStatus, DeploymentTarget, DeploymentTargetType, InstanceTarget,
    LifecycleEvent, LifecycleEventStatus, TargetStatus,
};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use invisible_pipeline::app::report::{self, Report};
use invisible_pipeline::aws::query::QueryClient;
use invisible_pipeline::base::shutdown::Shutdown;
use invisible_pipeline::commands::deploy::{self, DeployOutcome};
use invisible_pipeline::deployment::{self, Outcome};
use std::sync::{Arc, Mutex};

/// Now, in whole epoch seconds: the answers' times are set around the test's own run.
fn now() -> f64 {
    DateTime::from(std::time::SystemTime::now()).secs() as f64
}

fn rfc(secs: f64) -> String {
    DateTime::from_secs_f64(secs).fmt(Format::DateTime).unwrap()
}

/// A query client that answers BatchGetBuilds with `answer` and records the bodies it got.
fn codebuild(answer: (u16, String)) -> (QueryClient, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let q = QueryClient::answering(
        move |body| {
            log.lock().unwrap().push(body.to_string());
            answer.clone()
        },
        "us-east-1",
    );
    (q, seen)
}

fn event(name: &str, start: f64, end: f64) -> LifecycleEvent {
    LifecycleEvent::builder()
        .lifecycle_event_name(name)
        .status(LifecycleEventStatus::Succeeded)
        .start_time(DateTime::from_secs_f64(start))
        .end_time(DateTime::from_secs_f64(end))
        .build()
}

/// ListDeploymentTargets of two instances, then BatchGetDeploymentTargets with their
/// lifecycle events from `t` on: i-0abc first to start, i-0def last to end.
fn instance_answers(t: f64) -> (Rule, Rule) {
    let list = mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
        ListDeploymentTargetsOutput::builder()
            .target_ids("i-0abc")
            .target_ids("i-0def")
            .build()
    });
    let details = mock!(aws_sdk_codedeploy::Client::batch_get_deployment_targets)
        .match_requests(|r| r.target_ids().len() == 2)
        .then_output(move || {
            let target = |id: &str, events: Vec<LifecycleEvent>| {
                DeploymentTarget::builder()
                    .deployment_target_type(DeploymentTargetType::InstanceTarget)
                    .instance_target(
                        InstanceTarget::builder()
                            .deployment_id("d-new")
                            .target_id(id)
                            .target_arn(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}"))
                            .status(TargetStatus::Succeeded)
                            .last_updated_at(DateTime::from_secs_f64(t + 60.0))
                            .set_lifecycle_events(Some(events))
                            .build(),
                    )
                    .build()
            };
            BatchGetDeploymentTargetsOutput::builder()
                .deployment_targets(target(
                    "i-0abc",
                    vec![
                        event("ApplicationStop", t, t + 1.0),
                        event("DownloadBundle", t + 1.0, t + 3.0),
                        event("ValidateService", t + 10.0, t + 40.0),
                    ],
                ))
                .deployment_targets(target(
                    "i-0def",
                    vec![
                        event("ApplicationStop", t + 0.5, t + 1.5),
                        event("ValidateService", t + 11.0, t + 52.5),
                    ],
                ))
                .build()
        });
    (list, details)
}

/// GetDeployment: succeeded, completed at `complete`.
fn succeeded_at(complete: f64) -> Rule {
    mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || {
        let mut done = info("d-new", DeploymentStatus::Succeeded);
        done.complete_time = Some(DateTime::from_secs_f64(complete));
        GetDeploymentOutput::builder().deployment_info(done).build()
    })
}

fn warnings(outcome: &DeployOutcome) -> Vec<String> {
    outcome
        .warnings
        .warnings()
        .map(ToString::to_string)
        .collect()
}

fn marks(outcome: &DeployOutcome) -> Vec<&str> {
    outcome.timeline.iter().map(|m| m.mark).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_runs_from_the_trigger_through_the_build_to_the_last_instance() {
    let (_tmp, mut cfg) = setup();
    let start = now() - 40.0;
    cfg.trigger_time = DateTime::from_secs_f64(start - 2.0);
    let events_from = now() + 1.0;
    let (list, details) = instance_answers(events_from);
    let get = succeeded_at(events_from + 53.0);
    let (mut c, _usual) = usual_deploy(&[&get, &list, &details], &[]);
    let (q, seen) = codebuild((200, build_answer(start)));
    c.query = q;
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    assert_eq!(*seen.lock().unwrap(), [r#"{"ids":["proj:1"]}"#]);
    assert!(warnings(&outcome).is_empty(), "{:?}", warnings(&outcome));
    assert_eq!(
        marks(&outcome),
        [
            "trigger",
            "build started",
            "submitted",
            "dequeued",
            "provisioned",
            "source downloaded",
            "installed",
            "pre_build done",
            "tool started",
            "release downloaded",
            "bundle checked",
            "group free",
            "uploaded",
            "deployment created",
            "first instance event",
            "last instance done",
            "deployment complete",
            "end seen",
        ]
    );
    let t = &outcome.timeline;
    // The build's segments are CodeBuild's phases.
    let segments: Vec<Option<f64>> = t[2..8].iter().map(|m| m.seconds).collect();
    assert_eq!(
        segments,
        [
            Some(0.5),
            Some(1.5),
            Some(22.0),
            Some(2.0),
            Some(1.5),
            Some(0.0)
        ]
    );
    assert_eq!(
        (t[1].at.as_str(), t[1].seconds),
        (rfc(start).as_str(), Some(2.0))
    );
    // The instances': the first event of any instance, the end of the last one.
    assert_eq!(t[14].detail.as_deref(), Some("i-0abc ApplicationStop"));
    assert_eq!(t[14].at, rfc(events_from));
    assert_eq!(
        (t[15].seconds, t[15].detail.as_deref()),
        (Some(52.5), Some("i-0def ValidateService"))
    );
    assert_eq!(t[16].seconds, Some(0.5));
    // The tool's marks follow one another on the wall clock.
    assert!(t[8..14].windows(2).all(|w| w[1].seconds.unwrap() >= 0.0));

    let text = report::text(&Report::Deployment(Box::new(outcome.clone())));
    assert!(
        text.contains(&format!("\ntimeline    UTC, {}\n", &rfc(start - 2.0)[..10])),
        "{text}"
    );
    assert!(text.contains(" provisioned          +22.0 s\n"), "{text}");
    assert!(
        text.contains(" last instance done   +52.5 s (i-0def ValidateService)\n"),
        "{text}"
    );
    assert!(
        text.contains("total ") && text.contains(" s, trigger to deployment complete\n"),
        "{text}"
    );
    let json = serde_json::to_value(Report::Deployment(Box::new(outcome))).unwrap();
    let provisioned = &json["timeline"][4];
    assert_eq!(provisioned["mark"], "provisioned");
    assert_eq!(provisioned["at"], rfc(start + 24.0));
    assert_eq!(provisioned["seconds"], 22.0);
    assert!(json["steps"].as_array().is_some_and(|s| !s.is_empty()));
    assert_eq!(json["timeline"][0]["seconds"], serde_json::Value::Null);
}

/// buildsNotFound (the id is unknown to CodeBuild): a note, and the timeline has the tool's
/// part. With `--no-wait` it ends at CreateDeployment: no instance is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_build_codebuild_does_not_know_is_a_note() {
    let (_tmp, mut cfg) = setup();
    cfg.wait_timeout = None;
    let (list, details) = instance_answers(now());
    let (mut c, _usual) = usual_deploy(&[&list, &details], &[]);
    let answer = r#"{"builds":[],"buildsNotFound":["proj:1"]}"#;
    (c.query, _) = codebuild((200, answer.to_string()));
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Created);
    let w = warnings(&outcome);
    assert!(
        w.iter()
            .any(|w| w
                .contains("CodeBuild does not know build proj:1 (BatchGetBuilds: buildsNotFound)")),
        "{w:?}"
    );
    assert_eq!(
        marks(&outcome),
        [
            "trigger",
            "tool started",
            "release downloaded",
            "bundle checked",
            "group free",
            "uploaded",
            "deployment created",
        ]
    );
    assert_eq!(list.num_calls(), 0, "no instance read without following");
}

/// AccessDeniedException (HTTP 400, JSON 1.1's error document: `__type` and `message`), as
/// CodeBuild answers a role that may not read the build: a note naming the permission; the
/// deploy succeeds and its timeline goes on without the build.
#[tokio::test(flavor = "multi_thread")]
async fn a_denied_build_read_is_a_note_and_the_deploy_succeeds() {
    let (_tmp, cfg) = setup();
    let get = succeeded_at(now() + 5.0);
    let (mut c, _usual) = usual_deploy(&[&get], &[]);
    let denied = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:sts::123456789012:assumed-role/deploy/AWSCodeBuild-1 is not authorized to perform: codebuild:BatchGetBuilds on resource: arn:aws:codebuild:us-east-1:123456789012:project/proj because no identity-based policy allows the codebuild:BatchGetBuilds action"}"#;
    (c.query, _) = codebuild((400, denied.to_string()));
    let outcome = deploy::run(&c, &cfg, &Shutdown::manual().1).await.unwrap();
    assert_eq!(outcome.status, Outcome::Succeeded);
    let w = warnings(&outcome);
    assert!(
        w.iter().any(|w| w.contains("could not read build proj:1")
            && w.contains("access denied")
            && w.contains("the role needs codebuild:BatchGetBuilds")),
        "{w:?}"
    );
    let m = marks(&outcome);
    assert_eq!(m[..2], ["trigger", "tool started"]);
    // No instance answered (the default: none listed): CodeDeploy's completion still counts.
    assert_eq!(m[m.len() - 2..], ["deployment complete", "end seen"]);
    let text = report::text(&Report::Deployment(Box::new(outcome)));
    assert!(text.contains("\nwarnings    1\n"), "{text}");
}

fn past(id: &str, created: f64, complete: f64) -> DeploymentInfo {
    DeploymentInfo::builder()
        .deployment_id(id)
        .status(DeploymentStatus::Succeeded)
        .create_time(DateTime::from_secs_f64(created))
        .complete_time(DateTime::from_secs_f64(complete))
        .description(deployment::description(
            DateTime::from_secs(1_796_637_000),
            Some("c0ffee1234"),
            Some("proj:7"),
        ))
        .build()
}

/// `history --timings`: each deployment's creation, first lifecycle event, last instance done
/// and completion, and each instance's events; a deployment that reached no instance
/// (DeploymentNotStartedException) says so.
#[tokio::test]
async fn history_timings_show_each_instance_s_events() {
    let created = 1_796_637_601.0; // 2026-12-07T10:00:01Z
    let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_output(|| {
        ListDeploymentsOutput::builder()
            .deployments("d-1")
            .deployments("d-0")
            .build()
    });
    let all = [
        past("d-1", created, created + 64.1),
        past("d-0", created - 600.0, created - 590.0),
    ];
    let batch = mock!(aws_sdk_codedeploy::Client::batch_get_deployments).then_output(move || {
        BatchGetDeploymentsOutput::builder()
            .set_deployments_info(Some(all.to_vec()))
            .build()
    });
    let not_started = mock!(aws_sdk_codedeploy::Client::list_deployment_targets)
        .match_requests(|r| r.deployment_id() == Some("d-0"))
        .then_error(|| {
            ListDeploymentTargetsError::DeploymentNotStartedException(
                DeploymentNotStartedException::builder()
                    .message("The deployment has not started")
                    .build(),
            )
        });
    let (targets, details) = instance_answers(created + 4.2);
    let head =
        mock!(aws_sdk_s3::Client::head_object).then_output(|| HeadObjectOutput::builder().build());
    let c = clients(
        &[&head],
        &[&list, &batch, &not_started, &targets, &details],
        &[],
    );
    let entries = invisible_pipeline::commands::history::run(
        &c,
        "app",
        "web",
        10,
        None,
        true,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    let text = report::text(&Report::History {
        status: "ok",
        application: "app".into(),
        deployment_group: "web".into(),
        deployments: entries.clone(),
    });
    assert!(
        text.contains(
            "\n    created 10:00:01.0, first event +4.2 s (i-0abc ApplicationStop), last instance done +56.7 s (i-0def ValidateService), complete +64.1 s\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\n      i-0abc Succeeded: ApplicationStop +4.2 s (1.0 s), DownloadBundle +5.2 s (2.0 s), ValidateService +14.2 s (30.0 s)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "\n      instances: no instance started: the deployment failed before reaching any\n"
        ),
        "{text}"
    );
    let json = serde_json::to_value(&entries).unwrap();
    let t = &json[0]["timings"];
    assert_eq!(t["created"], "2026-12-07T10:00:01Z");
    assert_eq!(t["first_event"]["after_created_seconds"], 4.2);
    assert_eq!(t["last_instance_done"]["instance"], "i-0def");
    assert_eq!(t["instances"][1]["events"][1]["seconds"], 41.5);
    assert_eq!(
        t["instances"][0]["events"][0]["start"],
        "2026-12-07T10:00:05.2Z"
    );
    assert_eq!(json[1]["timings"]["instances"], serde_json::json!([]));
    // Without --timings the entries are as before.
    let plain = invisible_pipeline::commands::history::run(
        &c,
        "app",
        "web",
        10,
        None,
        false,
        &Shutdown::manual().1,
    )
    .await
    .unwrap();
    assert!(serde_json::to_value(&plain).unwrap()[0]
        .get("timings")
        .is_none());
}
