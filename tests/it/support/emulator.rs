//! The emulator's side of the smoke tests: the endpoint from `AWS_ENDPOINT_URL`, one test's
//! own resources in it (KMS key, buckets, parameter, application, group), and the binary
//! pointed at them.

use crate::support::faultproxy::FaultProxy;
use aws_sdk_codedeploy::types::{Ec2TagFilter, Ec2TagFilterType};
use std::path::Path;
use std::process::Command;

pub(crate) const REGION: &str = "ap-southeast-7";

pub(crate) fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "the emulator smoke tests need an AWS endpoint on loopback in AWS_ENDPOINT_URL: run them with `bash scripts/test`",
    )
}

pub(crate) struct Env {
    pub(crate) s3: aws_sdk_s3::Client,
    ssm: aws_sdk_ssm::Client,
    kms: aws_sdk_kms::Client,
    pub(crate) cd: aws_sdk_codedeploy::Client,
    pub(crate) id: String,
}

pub(crate) async fn env(name: &str) -> Env {
    // AWS_ENDPOINT_URL, or a service's own AWS_ENDPOINT_URL_<SERVICE> (S3, SSM and KMS on
    // LocalStack, CodeDeploy on moto), as the SDK reads them for the binary too.
    endpoint();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .load()
        .await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Env {
        s3,
        ssm: aws_sdk_ssm::Client::new(&shared),
        kms: aws_sdk_kms::Client::new(&shared),
        cd: aws_sdk_codedeploy::Client::new(&shared),
        id: format!("{name}-{}-{nanos}", std::process::id()),
    }
}

/// Key, buckets, parameter, application and group of one test; returns the KMS key id.
pub(crate) async fn provision(e: &Env, archive: &[u8]) -> String {
    let key = e
        .kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    for bucket in [format!("rel-{}", e.id), format!("art-{}", e.id)] {
        e.s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    e.s3.put_bucket_versioning()
        .bucket(format!("art-{}", e.id))
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    e.s3.put_object()
        .bucket(format!("rel-{}", e.id))
        .key("releases/app-1.0.tar.gz")
        .body(archive.to_vec().into())
        .send()
        .await
        .unwrap();
    e.ssm
        .put_parameter()
        .name(format!("/{}/app-archive", e.id))
        .value(format!("s3://rel-{}/releases/app-1.0.tar.gz", e.id))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    e.cd.create_application()
        .application_name(&e.id)
        .send()
        .await
        .unwrap();
    e.cd.create_deployment_group()
        .application_name(&e.id)
        .deployment_group_name("web")
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .ec2_tag_filters(
            Ec2TagFilter::builder()
                .key("app")
                .value("web")
                .r#type(Ec2TagFilterType::KeyAndValue)
                .build(),
        )
        .send()
        .await
        .unwrap();
    what_an_account_has("web").await;
    key
}

/// What a real account has behind a deployment group, which the preflight looks for: the
/// service role `codedeploy`, and a running instance tagged `app=<tag_value>` (moto serves
/// EC2 and IAM; one of its default images).
pub(crate) async fn what_an_account_has(tag_value: &str) {
    use invisible_pipeline::aws::query::{QueryClient, Service};
    let q = QueryClient::from_env(REGION).await.for_fixtures();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codedeploy.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    match q
        .call(
            Service::Iam,
            "CreateRole",
            &[
                ("RoleName", "codedeploy".to_string()),
                ("AssumeRolePolicyDocument", trust.to_string()),
            ],
        )
        .await
    {
        Ok(_) => {}
        Err(err) if err.to_string().contains("EntityAlreadyExists") => {}
        Err(err) => panic!("CreateRole: {err}"),
    }
    q.call(
        Service::Ec2,
        "RunInstances",
        &[
            ("ImageId", "ami-12c6146b".to_string()),
            ("InstanceType", "t3.micro".to_string()),
            ("MinCount", "1".to_string()),
            ("MaxCount", "1".to_string()),
            ("TagSpecification.1.ResourceType", "instance".to_string()),
            ("TagSpecification.1.Tag.1.Key", "app".to_string()),
            ("TagSpecification.1.Tag.1.Value", tag_value.to_string()),
        ],
    )
    .await
    .expect("RunInstances");
}

pub(crate) fn binary(e: &Env, key: &str, cwd: &Path, cd_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_invisible-pipeline"));
    cmd.current_dir(cwd)
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("APP_ARCHIVE_PARAMETER", format!("/{}/app-archive", e.id))
        .env("ARTIFACT_BUCKET", format!("art-{}", e.id))
        .env("ARTIFACT_KMS_KEY_ID", key)
        .env("CODEDEPLOY_APPLICATION", &e.id)
        .env("CODEDEPLOY_DEPLOYMENT_GROUP", "web")
        .env("CODEDEPLOY_FILES_DIR", cd_dir)
        .env("CODEBUILD_RESOLVED_SOURCE_VERSION", "0123abcd")
        .env("CODEBUILD_BUILD_ID", "pipeline:build-1")
        .env("PIPELINE_TRIGGER_TIME", "2026-11-26T06:00:00Z")
        .env(
            "INVISIBLE_PIPELINE_EXPORT_FILE",
            cwd.join("outside/invisible-pipeline.env"),
        )
        .env_remove("APP_ARCHIVE")
        .env_remove("NO_DEPLOY")
        .env_remove("NO_PREFLIGHT")
        .env_remove("BRANCH_GROUPS")
        .env_remove("PIPELINE_BRANCH")
        .env_remove("CODEBUILD_WEBHOOK_HEAD_REF")
        .env_remove("CODEBUILD_BUILD_ARN");
    cmd
}

pub(crate) fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// [`binary`], every service through `proxy`.
pub(crate) fn binary_via(
    e: &Env,
    key: &str,
    cwd: &Path,
    cd_dir: &Path,
    proxy: &FaultProxy,
) -> Command {
    let mut cmd = binary(e, key, cwd, cd_dir);
    proxy.point(&mut cmd);
    cmd
}
