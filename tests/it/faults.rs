//! The real binary against the emulator through [`FaultProxy`]: one AWS operation faulted at
//! a time, as AWS and networks fail. The emulator never finishes a deployment, so success
//! here is `deploy --no-wait` exiting 0 with exactly one deployment of exactly one bundle.
//!
//! With `RELIABILITY_REPORT=FILE` every scenario appends a JSON line (case, exit code,
//! deployments, objects, uploads, faulted requests, seconds); `scripts/reliability` turns
//! them into docs/RELIABILITY.md.

use crate::support::emulator::{binary_via, env, noise, provision, Env};
use crate::support::faultproxy::{Fault, FaultProxy, Rule};
use crate::support::fixtures::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What is left in the account after a run.
#[derive(Debug, PartialEq, Eq)]
struct Left {
    deployments: usize,
    /// Object versions and delete markers in the artifact bucket.
    objects: usize,
    uploads: usize,
}

async fn left(e: &Env) -> Left {
    let bucket = format!("art-{}", e.id);
    let versions =
        e.s3.list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let uploads =
        e.s3.list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    let deployments =
        e.cd.list_deployments()
            .application_name(&e.id)
            .deployment_group_name("web")
            .send()
            .await
            .unwrap();
    Left {
        deployments: deployments.deployments().len(),
        objects: versions.versions().len() + versions.delete_markers().len(),
        uploads: uploads.uploads().len(),
    }
}

struct Scenario {
    case: String,
    rules: Vec<Rule>,
    /// Options beyond `deploy --no-wait`.
    extra: Vec<&'static str>,
    /// Send SIGTERM once the proxy has seen this operation.
    sigterm_at: Option<&'static str>,
}

struct Ran {
    code: Option<i32>,
    stderr: String,
    left: Left,
    faulted: usize,
    seconds: f64,
}

fn report(case: &str, expected: &str, ran: &Ran) {
    let Ok(path) = std::env::var("RELIABILITY_REPORT") else {
        return;
    };
    let line = serde_json::json!({
        "case": case,
        "expected": expected,
        "exit_code": ran.code,
        "deployments": ran.left.deployments,
        "objects": ran.left.objects,
        "multipart_uploads": ran.left.uploads,
        "faulted_requests": ran.faulted,
        "seconds": (ran.seconds * 10.0).round() / 10.0,
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(file, "{line}").unwrap();
}

async fn run(name: &str, s: Scenario) -> Ran {
    let e = env(name).await;
    let archive = app_tar()
        // Incompressible, above the multipart threshold the multipart cases set (two parts).
        .file("site/blob.bin", &noise(6 << 20), 0o644)
        .end()
        .gz();
    let key = provision(&e, &archive).await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let proxy = FaultProxy::start(s.rules);
    let started = Instant::now();
    // The upload mode the scenario names, else whole uploads (the copy has its own cases).
    let mode: &[&str] = if s.extra.contains(&"--upload-mode") {
        &[]
    } else {
        &["--upload-mode", "put"]
    };
    let mut child = binary_via(&e, &key, tmp.path(), &cd_dir, &proxy)
        .args(["deploy", "--no-wait"])
        .args(mode)
        .args(&s.extra)
        .env("WAIT_TIMEOUT", "6s")
        .env("POLL_INTERVAL", "200ms")
        .env("AWS_MAX_ATTEMPTS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(op) = s.sigterm_at {
        while !proxy.seen().iter().any(|seen| seen == op) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "{}: ended before {op}",
                s.case
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{}: no {op}",
                s.case
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let out = child.wait_with_output().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let faulted = proxy.hits().iter().map(|(_, n)| n).sum();
    drop(proxy);
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        left: left(&e).await,
        faulted,
        seconds,
    }
}

/// Ops of a default (single PUT) deploy, in the order it calls them.
const SINGLE_PUT_OPS: [&str; 6] = [
    "GetParameter",
    "HeadBucket",
    "GetObject",
    "ListDeployments",
    "PutObject",
    "CreateDeployment",
];

const MULTIPART: [&str; 4] = ["--multipart-threshold-mib", "1", "--part-size-mib", "5"];

/// Two transient failures of any one operation (more than the SDK's retries for some): the
/// run succeeds with exactly one deployment and one bundle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn transient_faults_end_in_one_deployment() {
    let mut cases: Vec<(&str, Fault, Vec<&'static str>)> = Vec::new();
    for op in SINGLE_PUT_OPS {
        cases.push((op, Fault::ServerError, vec![]));
        cases.push((op, Fault::Throttle, vec![]));
    }
    for op in [
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    ] {
        cases.push((op, Fault::ServerError, MULTIPART.to_vec()));
    }
    cases.push(("GetObject", Fault::CutBody, vec![]));
    cases.push((
        "UploadPartCopy",
        Fault::ServerError,
        vec!["--upload-mode", "copy"],
    ));
    cases.push((
        "UploadPartCopy",
        Fault::Throttle,
        vec!["--upload-mode", "auto"],
    ));
    for (op, fault, extra) in cases {
        let case = format!("{op}: {fault:?} twice");
        let ran = run(
            "transient",
            Scenario {
                case: case.clone(),
                rules: vec![Rule::new(op, fault, 2)],
                extra,
                sigterm_at: None,
            },
        )
        .await;
        report(&case, "exit 0, 1 deployment, 1 object", &ran);
        assert_eq!(ran.code, Some(0), "{case}: {}", ran.stderr);
        assert_eq!(ran.faulted, 2, "{case}: the fault was not injected");
        assert_eq!(
            ran.left,
            Left {
                deployments: 1,
                objects: 1,
                uploads: 0
            },
            "{case}: {}",
            ran.stderr
        );
    }
}

/// An operation that keeps failing: exit 4, and nothing left behind: no multipart upload, no
/// object (not even a delete marker), no deployment.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn persistent_faults_leave_nothing_behind() {
    let mut cases: Vec<(&str, Vec<&'static str>)> =
        SINGLE_PUT_OPS.iter().map(|op| (*op, vec![])).collect();
    cases.push(("UploadPart", MULTIPART.to_vec()));
    cases.push(("CompleteMultipartUpload", MULTIPART.to_vec()));
    cases.push(("UploadPartCopy", vec!["--upload-mode", "copy"]));
    for (op, extra) in cases {
        let case = format!("{op}: ServerError every time");
        let ran = run(
            "persistent",
            Scenario {
                case: case.clone(),
                rules: vec![Rule::new(op, Fault::ServerError, usize::MAX)],
                extra,
                sigterm_at: None,
            },
        )
        .await;
        report(&case, "exit 4, nothing left", &ran);
        assert_eq!(ran.code, Some(4), "{case}: {}", ran.stderr);
        assert_eq!(
            ran.left,
            Left {
                deployments: 0,
                objects: 0,
                uploads: 0
            },
            "{case}: {}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("DispatchFailure") && ran.stderr.lines().count() < 40,
            "{case}: one line per problem, not the SDK's dump: {}",
            ran.stderr
        );
    }
}

/// CreateDeployment executed, its answer lost (once, and every time): exactly one
/// deployment, which the run adopts.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn lost_answers_end_in_exactly_one_deployment() {
    for (op, times, extra) in [
        ("CreateDeployment", 1, vec![]),
        ("CreateDeployment", usize::MAX, vec![]),
        ("CompleteMultipartUpload", 1, MULTIPART.to_vec()),
    ] {
        let case = format!(
            "{op}: executed, answer lost {}",
            if times == 1 { "once" } else { "every time" }
        );
        let ran = run(
            "lost",
            Scenario {
                case: case.clone(),
                rules: vec![Rule::new(op, Fault::LoseAnswer, times)],
                extra,
                sigterm_at: None,
            },
        )
        .await;
        report(&case, "exit 0, 1 deployment, 1 object", &ran);
        assert_eq!(ran.code, Some(0), "{case}: {}", ran.stderr);
        assert_eq!(
            ran.left,
            Left {
                deployments: 1,
                objects: 1,
                uploads: 0
            },
            "{case}: {}",
            ran.stderr
        );
    }
}

/// SIGTERM while a call hangs, in each step: a prompt exit 143 and nothing half-made.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn sigterm_in_each_step_exits_promptly_leaving_nothing() {
    let mut cases: Vec<(&str, Vec<&'static str>)> = [
        "GetParameter",
        "HeadBucket",
        "GetObject",
        "ListDeployments",
        "PutObject",
    ]
    .iter()
    .map(|op| (*op, vec![]))
    .collect();
    cases.push(("UploadPart", MULTIPART.to_vec()));
    for (op, extra) in cases {
        let case = format!("SIGTERM while {op} hangs");
        let ran = run(
            "signal",
            Scenario {
                case: case.clone(),
                rules: vec![Rule::new(op, Fault::Delay(Duration::from_secs(8)), 1)],
                extra,
                sigterm_at: Some(op),
            },
        )
        .await;
        report(
            &case,
            "exit 143 before the hung call ends, nothing left",
            &ran,
        );
        assert_eq!(ran.code, Some(143), "{case}: {}", ran.stderr);
        assert!(
            ran.seconds < 7.0,
            "{case}: waited for the hung call ({:.1} s)",
            ran.seconds
        );
        assert_eq!(
            ran.left,
            Left {
                deployments: 0,
                objects: 0,
                uploads: 0
            },
            "{case}: {}",
            ran.stderr
        );
    }
}

/// A server-side copy S3 keeps refusing: `auto` aborts it and uploads the whole bundle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn a_refused_copy_falls_back_to_a_whole_upload() {
    let case = "UploadPartCopy: ServerError every time, --upload-mode auto".to_string();
    let ran = run(
        "fallback",
        Scenario {
            case: case.clone(),
            rules: vec![Rule::new("UploadPartCopy", Fault::ServerError, usize::MAX)],
            extra: vec!["--upload-mode", "auto"],
            sigterm_at: None,
        },
    )
    .await;
    report(
        &case,
        "exit 0, 1 deployment, 1 object (uploaded whole)",
        &ran,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("server-side copy of the release refused"),
        "{}",
        ran.stderr
    );
    assert_eq!(
        ran.left,
        Left {
            deployments: 1,
            objects: 1,
            uploads: 0
        },
        "{}",
        ran.stderr
    );
}
