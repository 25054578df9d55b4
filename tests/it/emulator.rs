//! End-to-end smoke tests through the real binary against an AWS endpoint on loopback: any
//! emulator that speaks the AWS APIs, reached only through the standard `AWS_ENDPOINT_URL`
//! (`scripts/test` starts moto's server; LocalStack on port 4566 works the same).
//!
//! They are `#[ignore]`d in a bare `cargo test`, and run by `scripts/test` with
//! `--include-ignored`, where a missing endpoint fails them: they never skip.

use crate::support::emulator::*;
use crate::support::fixtures::*;
use aws_sdk_codedeploy::types::{Ec2TagFilter, Ec2TagFilterType};
use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Deploys `archive` and checks the result against the dry run; the JSON summary and what the
/// run said on stderr.
async fn deploy_matches_the_dry_run(
    name: &str,
    archive: Vec<u8>,
    extra: &[&str],
) -> (serde_json::Value, String) {
    let e = env(name).await;
    let gzipped = archive.starts_with(&[0x1f, 0x8b]);
    let key = provision(&e, &archive).await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let out = binary(&e, &key, tmp.path(), &cd_dir)
        .args(["deploy", "--no-wait", "--output", "json"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "deploy failed: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], "created", "{json}");
    assert!(
        json["result"]["bundle"].get("path").is_none(),
        "no path to a file that is gone: {json}"
    );
    let deployment_id = json["result"]["deployment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let revision = json["result"]["revision"].as_str().unwrap();
    let bundle_key = revision
        .strip_prefix(&format!("s3://art-{}/", e.id))
        .unwrap()
        .to_string();
    assert_eq!(
        bundle_key,
        format!("bundles/{}/0123abcd/pipeline-build-1.tgz", e.id)
    );

    // The dry run of the same inputs gives the same bytes as what was uploaded.
    let local = tmp.path().join("app.tar.gz");
    fs::write(&local, &archive).unwrap();
    let dry = tmp.path().join("dry.tgz");
    let status = Command::new(env!("CARGO_BIN_EXE_invisible-pipeline"))
        .args(["deploy", "--no-deploy", "--app-archive"])
        .arg(&local)
        .arg("--codedeploy-dir")
        .arg(&cd_dir)
        .arg("--bundle-out")
        .arg(&dry)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mut object =
        e.s3.get_object()
            .bucket(format!("art-{}", e.id))
            .key(&bundle_key)
            .send()
            .await
            .unwrap();
    // Read at once: a server stops sending a body its client leaves unread (LocalStack's
    // hypercorn times the write out, and the body arrives cut).
    let uploaded = std::mem::take(&mut object.body)
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(
        object.server_side_encryption().map(|s| s.as_str()),
        Some("aws:kms")
    );
    assert!(
        object.ssekms_key_id().is_some_and(|k| k.contains(&key)),
        "{:?}",
        object.ssekms_key_id()
    );
    // The bundle's SHA-256 is in the object's metadata when the upload started after the
    // build; an upload started during the download leaves it to the description (below).
    let meta = object.metadata().cloned().unwrap_or_default();
    let sha = json["result"]["bundle"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        meta.get("sha256").is_none_or(|m| *m == sha),
        "{meta:?} {json}"
    );
    assert!(meta.contains_key("upload-token"), "{meta:?}");
    assert_eq!(
        meta.get("source-commit").map(String::as_str),
        Some("0123abcd")
    );
    // Tagged from the upload on, so that it expires should its deployment's end never be seen.
    let tags =
        e.s3.get_object_tagging()
            .bucket(format!("art-{}", e.id))
            .key(&bundle_key)
            .send()
            .await
            .unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "invisible-pipeline-status" && t.value() == "Pending"),
        "{:?}",
        tags.tag_set()
    );
    let etag = object.e_tag().map(|t| t.trim_matches('"').to_string());
    let version = object.version_id().map(str::to_string);
    assert!(
        uploaded[..] == fs::read(&dry).unwrap()[..],
        "uploaded bundle differs from the dry run's"
    );
    if gzipped {
        assert_one_gzip_member(&dry);
    }
    // The download is written once: when the bundle keeps the release's bytes as they are, it
    // is made out of the download (only what follows them is written); otherwise it is a file
    // of its own.
    let bundle = &json["result"]["bundle"];
    let size = bundle["size_bytes"].as_u64().unwrap();
    let kept = bundle["release_bytes_kept"].as_u64().unwrap();
    let over_release =
        bundle["merge"] != "re-encode" && bundle.get("release_members_joined").is_none();
    let bundle_bytes = if over_release { size - kept } else { size };
    assert_eq!(
        json["result"]["bytes_written"].as_u64(),
        Some(archive.len() as u64 + bundle_bytes),
        "{json}"
    );
    let steps = json["result"]["steps"].as_array().unwrap();
    let wrote =
        |step: &str| steps.iter().find(|s| s["step"] == step).unwrap()["bytes_written"].as_u64();
    assert_eq!(wrote("download"), Some(archive.len() as u64), "{json}");
    assert_eq!(wrote("bundle"), Some(bundle_bytes), "{json}");

    // The deployment exists with exactly that revision.
    let info =
        e.cd.get_deployment()
            .deployment_id(&deployment_id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    let s3loc = info.revision().and_then(|r| r.s3_location()).unwrap();
    assert_eq!(s3loc.bucket(), Some(format!("art-{}", e.id).as_str()));
    assert_eq!(s3loc.key(), Some(bundle_key.as_str()));
    assert_eq!(s3loc.bundle_type().map(|b| b.as_str()), Some("tgz"));
    assert_eq!(s3loc.e_tag().map(|t| t.trim_matches('"').to_string()), etag);
    assert_eq!(s3loc.version().map(str::to_string), version);
    let description = info.description().unwrap();
    assert!(
        description.contains("trigger=2026-11-26T06:00:00Z commit=0123abcd")
            && description.contains(&format!(" sha256={sha} ")),
        "{description}"
    );

    // The buildspec's exports.
    let exports = fs::read_to_string(tmp.path().join("outside/invisible-pipeline.env")).unwrap();
    assert!(
        exports.contains(&format!("DEPLOYMENT_ID={deployment_id}\n")),
        "{exports}"
    );

    // `history` through the binary shows it: made here, its commit, build and bundle.
    let out = binary(&e, &key, tmp.path(), &cd_dir)
        .args(["history", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "history failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newest = &history["result"]["deployments"][0];
    assert_eq!(newest["deployment_id"], deployment_id.as_str(), "{history}");
    assert_eq!(newest["by_invisible_pipeline"], true, "{history}");
    assert_eq!(newest["commit"], "0123abcd", "{history}");
    assert_eq!(newest["build"], "pipeline:build-1", "{history}");
    assert_eq!(newest["bundle"]["key"], bundle_key.as_str(), "{history}");
    assert_eq!(newest["bundle"]["state"], "present", "{history}");
    assert_eq!(
        newest["bundle"]["sha256"], json["result"]["bundle"]["sha256"],
        "{history}"
    );
    (json, stderr.into_owned())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn deploy_single_put_matches_the_dry_run() {
    let (json, _) = deploy_matches_the_dry_run("put", app_tar().end().gz(), &[]).await;
    // One PutObject: no parts to join, so no such step.
    assert_eq!(
        step_names(&json),
        [
            "download",
            "bundle",
            "wait-for-group",
            "upload",
            "create-deployment"
        ],
        "{json}"
    );
}

/// The names of the summary's timed steps, in order.
fn step_names(json: &serde_json::Value) -> Vec<&str> {
    json["result"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["step"].as_str().expect("a step name"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn deploy_multipart_matches_the_dry_run() {
    let archive = app_tar()
        .file("site/big.bin", &noise(12 << 20), 0o644)
        .end()
        .gz();
    let (json, _) = deploy_matches_the_dry_run("mpu", archive, &PUT_IN_5_MIB_PARTS).await;
    // The release's two full parts (it ends past 12 MiB, its end-of-archive in the third)
    // were sent during the download and kept: the bundle starts with them.
    assert_eq!(
        json["result"]["bytes_sent_during_download"],
        10 << 20,
        "{json}"
    );
    // The wait for S3 to join the parts is timed apart from sending them.
    let names = step_names(&json);
    let upload = names.iter().position(|s| *s == "upload").expect("upload");
    assert_eq!(names[upload + 1], "complete-multipart-upload", "{json}");
    let completing = json["result"]["steps"][upload + 1]["seconds"]
        .as_f64()
        .unwrap();
    assert!(completing > 0.0, "{json}");
}

const PUT_IN_5_MIB_PARTS: [&str; 6] = [
    "--multipart-threshold-mib",
    "5",
    "--part-size-mib",
    "5",
    "--upload-mode",
    "put",
];

/// A CodeDeploy file that replaces a hard-linked release file makes the bundle a re-encoding
/// (GNU tar would leave the link with the old content): its bytes are not the release's, so
/// the parts sent during the download are sent again from the bundle, and the object is
/// still the dry run's bundle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn deploy_put_mode_replaces_parts_sent_ahead_that_the_bundle_does_not_keep() {
    let archive = app_tar()
        .file("appspec.yml", b"version: 0.0\nos: linux\n", 0o644)
        .hardlink("site/appspec-link.yml", "appspec.yml")
        .file("site/big.bin", &noise(12 << 20), 0o644)
        .end()
        .gz();
    let (json, stderr) = deploy_matches_the_dry_run("reenc", archive, &PUT_IN_5_MIB_PARTS).await;
    assert_eq!(json["result"]["bundle"]["merge"], "re-encode", "{json}");
    assert_eq!(json["result"]["bytes_sent_during_download"], 0, "{json}");
    // The check's warning is said when it is found, before the upload, and only once.
    let warning = stderr
        .find("warning: CodeDeploy_Files/appspec.yml")
        .expect(&stderr);
    let uploading = stderr.find("uploading ").expect(&stderr);
    assert!(warning < uploading, "{stderr}");
    assert_eq!(
        stderr.matches("replaces the file of the same path").count(),
        1,
        "{stderr}"
    );
}

/// The release's bytes are copied inside S3 (UploadPartCopy, pinned to the downloaded
/// version): the object is still byte for byte the dry run's bundle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn deploy_copy_mode_matches_the_dry_run() {
    let archive = app_tar()
        .file("site/big.bin", &noise(12 << 20), 0o644)
        .end()
        .gz();
    let (json, _) = deploy_matches_the_dry_run(
        "copy",
        archive,
        &["--upload-mode", "copy", "--part-size-mib", "5"],
    )
    .await;
    let copied = json["result"]["bytes_copied_in_s3"].as_u64().unwrap();
    let size = json["result"]["bundle"]["size_bytes"].as_u64().unwrap();
    assert!(copied >= 10 << 20 && copied < size, "{json}");
}

/// A release of two gzip members, in copy and put mode: the bundle is one member (agent 2.x's
/// fallback reads only the first), the members joined without being compressed again, so the
/// first member's bytes up to its last block are still copied inside S3 or kept from the parts
/// sent during the download; the object is the dry run's bundle.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn a_release_of_two_gzip_members_deploys_as_one_member() {
    let tar = app_tar()
        .file("site/big.bin", &noise(12 << 20), 0o644)
        .end()
        .bytes();
    let (a, b) = tar.split_at(6 << 20);
    let mut archive = gzip(a);
    archive.extend(gzip(b));
    for (mode, name) in [("copy", "members-copy"), ("put", "members-put")] {
        let (json, _) = deploy_matches_the_dry_run(
            name,
            archive.clone(),
            &["--upload-mode", mode, "--part-size-mib", "5"],
        )
        .await;
        assert_eq!(json["result"]["bundle"]["merge"], "append", "{json}");
        assert_eq!(
            json["result"]["bundle"]["release_members_joined"], 2,
            "{json}"
        );
        let copied = json["result"]["bytes_copied_in_s3"].as_u64().unwrap();
        if mode == "copy" {
            assert!((5 << 20..6 << 20).contains(&copied), "{json}");
        } else {
            assert_eq!(copied, 0, "{json}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn busy_group_and_stale_run() {
    let e = env("busy").await;
    let key = provision(&e, &app_tar().end().gz()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let first = binary(&e, &key, tmp.path(), &cd_dir)
        .args(["deploy", "--no-wait"])
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // The first deployment still holds the group: --if-busy fail gives exit 6 and uploads nothing.
    let busy = binary(&e, &key, tmp.path(), &cd_dir)
        .args(["deploy", "--no-wait", "--if-busy", "fail"])
        .env("PIPELINE_TRIGGER_TIME", "2026-11-26T06:10:00Z")
        .output()
        .unwrap();
    assert_eq!(
        busy.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    // A run of an older trigger is superseded: exit 0, nothing created.
    let stale = binary(&e, &key, tmp.path(), &cd_dir)
        .args(["deploy", "--no-wait", "--output", "json"])
        .env("PIPELINE_TRIGGER_TIME", "2026-11-26T05:00:00Z")
        .output()
        .unwrap();
    assert!(
        stale.status.success(),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&stale.stdout).unwrap();
    assert_eq!(json["status"], "superseded");

    let deployments =
        e.cd.list_deployments()
            .application_name(&e.id)
            .deployment_group_name("web")
            .send()
            .await
            .unwrap();
    assert_eq!(deployments.deployments().len(), 1);
    let objects =
        e.s3.list_objects_v2()
            .bucket(format!("art-{}", e.id))
            .send()
            .await
            .unwrap();
    assert_eq!(objects.contents().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn sigterm_during_upload_leaves_nothing_behind() {
    let e = env("term").await;
    let archive = app_tar()
        .file("site/big.bin", &noise(160 << 20), 0o644)
        .end()
        .bytes();
    let key = provision(&e, &gzip(b"placeholder")).await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let local = tmp.path().join("big.tar");
    fs::write(&local, &archive).unwrap();
    let bucket = format!("art-{}", e.id);
    let mut child = binary(&e, &key, tmp.path(), &cd_dir)
        .args([
            "deploy",
            "--no-wait",
            "--multipart-threshold-mib",
            "5",
            "--part-size-mib",
            "5",
            "--upload-concurrency",
            "1",
        ])
        .env("APP_ARCHIVE", &local)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // Wait until a multipart upload is under way, then cancel the job.
    let started = Instant::now();
    loop {
        let uploads =
            e.s3.list_multipart_uploads()
                .bucket(&bucket)
                .send()
                .await
                .unwrap();
        if !uploads.uploads().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no multipart upload started"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the binary ended before its upload: {:?}",
            lines.join().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let lines = lines.join().unwrap().join("\n");
    assert_eq!(status.code(), Some(143), "{lines}");
    assert!(lines.contains("interrupted by SIGTERM"), "{lines}");

    let uploads =
        e.s3.list_multipart_uploads()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "orphan multipart upload: {:?}",
        uploads.uploads()
    );
    let objects =
        e.s3.list_object_versions()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert!(
        objects.versions().is_empty(),
        "object left: {:?}",
        objects.versions()
    );
    let deployments =
        e.cd.list_deployments()
            .application_name(&e.id)
            .deployment_group_name("web")
            .send()
            .await
            .unwrap();
    assert!(deployments.deployments().is_empty());
}

/// `deploy` twice, then `rollback` and `history` through the binary. The emulator never ends
/// a deployment, so the fault proxy makes every deployment read as succeeded, as AWS reports
/// them once the instances are done.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn rollback_promote_and_restart_through_the_binary() {
    use crate::support::faultproxy::{Fault, FaultProxy, Rule};
    let e = env("rollback").await;
    let key = provision(&e, &app_tar().end().gz()).await;
    let proxy = FaultProxy::start(
        ["ListDeployments", "BatchGetDeployments", "GetDeployment"]
            .into_iter()
            .map(|op| Rule::new(op, Fault::ReadAsSucceeded, usize::MAX))
            .collect(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let run = |args: &[&str], commit: &str, build: &str| {
        let out = binary_via(&e, &key, tmp.path(), &cd_dir, &proxy)
            .env("CODEBUILD_RESOLVED_SOURCE_VERSION", commit)
            .env("CODEBUILD_BUILD_ID", build)
            .env_remove("PIPELINE_TRIGGER_TIME")
            .args(args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run(&["deploy", "--no-wait"], "aaaa1111", "pipeline:build-1");
    // Creation times are what order deployments: one second apart.
    std::thread::sleep(Duration::from_millis(1100));
    let second = run(&["deploy", "--no-wait"], "bbbb2222", "pipeline:build-2");
    std::thread::sleep(Duration::from_millis(1100));
    let text = |args: &[&str]| {
        let out = binary_via(&e, &key, tmp.path(), &cd_dir, &proxy)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        // The README shows these.
        eprintln!("$ invisible-pipeline {}\n{text}", args.join(" "));
        text
    };
    let (first_id, second_id) = (
        first["result"]["deployment_id"].as_str().unwrap(),
        second["result"]["deployment_id"].as_str().unwrap(),
    );
    let rollback = text(&["rollback", "--no-wait"]);
    for line in [
        "status      created\n".to_string(),
        format!("rollback of {first_id}\n"),
        format!("replaced    {second_id}\n"),
        format!(
            "revision    {} (version {})\n",
            first["result"]["revision"].as_str().unwrap(),
            first["result"]["revision_version_id"].as_str().unwrap()
        ),
        "commit      aaaa1111\n".to_string(),
    ] {
        assert!(rollback.contains(&line), "{line:?} in {rollback}");
    }
    let id = rollback
        .lines()
        .find_map(|l| l.strip_prefix("deployment  "))
        .unwrap()
        .to_string();

    // CodeDeploy holds the rollback's deployment of the first bundle's version.
    let id = id.as_str();
    let info =
        e.cd.get_deployment()
            .deployment_id(id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    let s3loc = info.revision().and_then(|r| r.s3_location()).unwrap();
    assert_eq!(
        s3loc.version(),
        first["result"]["revision_version_id"].as_str(),
        "{info:?}"
    );
    let description = info.description().unwrap();
    assert!(
        description.contains(&format!(
            "commit=aaaa1111 build=pipeline:build-1 sha256={} rollback-of={}",
            first["result"]["bundle"]["sha256"].as_str().unwrap(),
            first["result"]["deployment_id"].as_str().unwrap()
        )),
        "{description}"
    );

    // history: the rollback first, showing what is really live.
    let history = run(&["history"], "", "");
    let newest = &history["result"]["deployments"][0];
    assert_eq!(newest["deployment_id"], id, "{history}");
    assert_eq!(newest["commit"], "aaaa1111", "{history}");
    assert_eq!(
        newest["rollback_of"], first["result"]["deployment_id"],
        "{history}"
    );
    assert_eq!(
        history["result"]["deployments"].as_array().unwrap().len(),
        3
    );

    let status = text(&["status"]);
    assert!(status.starts_with(&format!("live        {id}")), "{status}");
    assert!(
        status.contains(&format!(
            "rollback of {}: commit aaaa1111",
            first["result"]["deployment_id"].as_str().unwrap()
        )),
        "{status}"
    );
    let history = text(&["history", "--limit", "3"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    // `history | head -1`, `status | head -1`: a reader that went away ends them quietly.
    for args in [
        &["history"][..],
        &["history", "--output", "json"],
        &["status"],
    ] {
        let out = binary_via(&e, &key, tmp.path(), &cd_dir, &proxy)
            .args(args)
            .stdout(closed_pipe())
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {said}");
        assert!(
            !said.contains("panicked") && !said.contains("error"),
            "{args:?}: {said}"
        );
    }

    // promote: what is live in web (the rollback's bundle) goes to prod, the same version.
    e.cd.create_deployment_group()
        .application_name(&e.id)
        .deployment_group_name("prod")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .ec2_tag_filters(
            Ec2TagFilter::builder()
                .key("app")
                .value("web-prod")
                .r#type(Ec2TagFilterType::KeyAndValue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    what_an_account_has("web-prod").await;
    let promoted = text(&[
        "promote",
        "--from-group",
        "web",
        "--to-group",
        "prod",
        "--no-wait",
    ]);
    for line in [
        "status      created\n".to_string(),
        format!("promoted    web/{id} -> {}/prod\n", e.id),
        format!(
            "revision    {} (version {})\n",
            first["result"]["revision"].as_str().unwrap(),
            first["result"]["revision_version_id"].as_str().unwrap()
        ),
        format!(
            "sha256      {}\n",
            first["result"]["bundle"]["sha256"].as_str().unwrap()
        ),
        "commit      aaaa1111\n".to_string(),
    ] {
        assert!(promoted.contains(&line), "{line:?} in {promoted}");
    }
    let in_prod =
        e.cd.list_deployments()
            .application_name(&e.id)
            .deployment_group_name("prod")
            .send()
            .await
            .unwrap();
    assert_eq!(in_prod.deployments().len(), 1);
    let info =
        e.cd.get_deployment()
            .deployment_id(&in_prod.deployments()[0])
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    assert_eq!(
        info.revision()
            .and_then(|r| r.s3_location())
            .and_then(|s| s.version()),
        first["result"]["revision_version_id"].as_str()
    );
    assert!(
        info.description()
            .unwrap()
            .contains(&format!("promoted-from=web/{id} by=invisible-pipeline")),
        "{info:?}"
    );

    // restart: web's last success (the rollback) again, CreateDeployment with deploymentMode
    // RESTART and no revision. moto takes the request (it ignores the mode, and records no
    // revision); that the mode is sent and the revision left out is held by tests/it/restart.rs.
    let restarted = text(&["restart", "--no-wait"]);
    for line in [
        "status      created\n".to_string(),
        format!("restart of  {id}\n"),
        "commit      aaaa1111\n".to_string(),
    ] {
        assert!(restarted.contains(&line), "{line:?} in {restarted}");
    }
    let restart_id = restarted
        .lines()
        .find_map(|l| l.strip_prefix("deployment  "))
        .unwrap();
    let info =
        e.cd.get_deployment()
            .deployment_id(restart_id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    assert!(
        info.description()
            .unwrap()
            .contains(&format!("restart-of={id} by=invisible-pipeline")),
        "{info:?}"
    );
}

/// Giving up waiting (exit 7) names the deployment, which exists and goes on, in the JSON
/// envelope's result: a script can follow it or stop it.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn giving_up_waiting_names_the_deployment_in_json() {
    let e = env("gaveup").await;
    let key = provision(&e, &app_tar().end().gz()).await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let out = binary(&e, &key, tmp.path(), &cd_dir)
        .args([
            "deploy",
            "--output",
            "json",
            "--wait-timeout",
            "2s",
            "--poll-interval",
            "200ms",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 7, "{json}");
    let id = json["result"]["deployment_id"].as_str().unwrap();
    let info =
        e.cd.get_deployment()
            .deployment_id(id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    assert_eq!(info.deployment_group_name(), Some("web"));
}

/// Branch environments: a push of `release/2.1` deploys to the group its pattern names
/// (`release/*=web-staging`), with the branch in the description; a branch no pattern names is
/// validated only, and no deployment is created anywhere.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs an AWS endpoint on loopback: run through scripts/test"]
async fn a_branch_deploys_to_its_group_and_an_unmapped_one_is_only_validated() {
    let e = env("branches").await;
    let key = provision(&e, &app_tar().end().gz()).await;
    e.cd.create_deployment_group()
        .application_name(&e.id)
        .deployment_group_name("web-staging")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .ec2_tag_filters(
            Ec2TagFilter::builder()
                .key("app")
                .value("web-staging")
                .r#type(Ec2TagFilterType::KeyAndValue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    what_an_account_has("web-staging").await;
    let tmp = tempfile::tempdir().unwrap();
    let cd_dir = codedeploy_dir(tmp.path());
    let run = |branch: &str| {
        binary(&e, &key, tmp.path(), &cd_dir)
            .env("BRANCH_GROUPS", "main=web;release/*=web-staging")
            .env("PIPELINE_BRANCH", branch)
            .args(["deploy", "--no-wait", "--output", "json"])
            .output()
            .unwrap()
    };
    let out = run("release/2.1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"]["commit"]["branch"], "release/2.1", "{json}");
    let id = json["result"]["deployment_id"].as_str().unwrap();
    let info =
        e.cd.get_deployment()
            .deployment_id(id)
            .send()
            .await
            .unwrap()
            .deployment_info
            .unwrap();
    assert_eq!(info.deployment_group_name(), Some("web-staging"));
    assert!(
        info.description().unwrap().contains(" branch=release/2.1 "),
        "{:?}",
        info.description()
    );

    let out = run("feature/login");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("branch feature/login is in no pattern"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], "valid", "{json}");
    for group in ["web", "web-staging"] {
        let listed =
            e.cd.list_deployments()
                .application_name(&e.id)
                .deployment_group_name(group)
                .send()
                .await
                .unwrap();
        let expected = usize::from(group == "web-staging");
        assert_eq!(listed.deployments().len(), expected, "{group}");
    }
}
