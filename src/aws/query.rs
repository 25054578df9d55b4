//! The AWS Query protocol, signed here, for the three read-only calls of the preflight:
//! EC2 DescribeInstances, Auto Scaling DescribeAutoScalingGroups and IAM GetRole (and
//! CloudWatch's and SNS's), and beside it the AWS JSON 1.1 protocol for CodeBuild's
//! BatchGetBuilds (the build's own phases, for the run's timeline). Their SDK
//! crates are the largest of the SDK (aws-sdk-ec2: 1.24 million lines of generated code, five
//! times aws-sdk-s3; aws-sdk-iam: 220 thousand), and each profile of the build (the tests',
//! two release targets) would compile them: minutes of every cold CI run for three calls.
//! The pieces are the SDK's own: the credentials chain of the shared configuration, SigV4
//! from `aws-sigv4`, the SDK's default HTTPS connector, and the endpoint suffix of the region's
//! partition from the SDK's endpoint rules. Query: a form in (`Action`, `Version`,
//! parameters), the XML answer's leaves out. JSON 1.1: `POST /` with `X-Amz-Target:
//! <prefix>.<Action>` and a JSON document in, a JSON document out; its errors are
//! `{"__type": "…#Code", "message": …}` (the code also in `x-amzn-ErrorType`). Both share the
//! signing, the sending and the retries; errors become the same [`Error::Aws`] as the SDK's,
//! classified by their code (throttling and 5xx are tried again).

use crate::aws::{classify, Failure};
use crate::base::error::{Error, Result};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use std::time::{Duration, SystemTime};

/// A service spoken in the Query protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    AutoScaling,
    Iam,
    CloudWatch,
    Sns,
    /// AWS JSON 1.1 (`CodeBuild_20161006`), not Query: see [`QueryClient::call_json`].
    CodeBuild,
}

impl Service {
    /// The endpoint prefix and signing name (the same for these), the API version, and the
    /// suffix of `AWS_ENDPOINT_URL_<SERVICE>` (the SDK's service id).
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Service::Ec2 => ("ec2", "2016-11-15", "EC2"),
            Service::AutoScaling => ("autoscaling", "2011-01-01", "AUTO_SCALING"),
            Service::Iam => ("iam", "2010-05-08", "IAM"),
            // CloudWatch's SDKs moved to rpcv2Cbor; the service still takes the Query
            // protocol, which its API reference documents (awsQueryCompatible).
            Service::CloudWatch => ("monitoring", "2010-08-01", "CLOUDWATCH"),
            Service::Sns => ("sns", "2010-03-31", "SNS"),
            Service::CodeBuild => ("codebuild", "2016-10-06", "CODEBUILD"),
        }
    }

    /// The `X-Amz-Target` prefix of a service spoken in JSON 1.1 (the Smithy model's
    /// service shape name and API version).
    fn json_target(self) -> Option<&'static str> {
        match self {
            Service::CodeBuild => Some("CodeBuild_20161006"),
            _ => None,
        }
    }

    /// The service's prefix in IAM actions and in calls.json.
    fn iam_prefix(self) -> &'static str {
        match self {
            Service::CloudWatch => "cloudwatch",
            other => other.names().0,
        }
    }
}

/// Where and as whom the calls are made.
#[derive(Clone, Debug)]
pub struct QueryClient {
    connector: SharedHttpConnector,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    /// `amazonaws.com`, `amazonaws.com.cn`, …: the region's partition.
    dns_suffix: String,
    /// `AWS_ENDPOINT_URL` (and its per-service variables, read at each call).
    endpoint_url: Option<String>,
    /// Whether every call must be one calls.json lists (checked in debug builds).
    listed_only: bool,
}

/// An answer: the XML's leaf elements, each with its path of element names from the root.
#[derive(Debug, Default)]
pub struct Answer {
    pub leaves: Vec<(String, String)>,
}

impl Answer {
    /// Every value whose path ends with `suffix` (`/`-separated element names).
    pub fn all<'a>(&'a self, suffix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.leaves
            .iter()
            .filter(move |(path, _)| ends_with_elements(path, suffix))
            .map(|(_, v)| v.as_str())
    }

    /// The first value whose path ends with `suffix`.
    pub fn first<'a>(&'a self, suffix: &str) -> Option<&'a str> {
        self.leaves
            .iter()
            .find(|(path, _)| ends_with_elements(path, suffix))
            .map(|(_, v)| v.as_str())
    }
}

/// Whether `path` ends with the whole element names of `suffix`.
fn ends_with_elements(path: &str, suffix: &str) -> bool {
    path.strip_suffix(suffix)
        .is_some_and(|head| head.is_empty() || head.ends_with('/'))
}

impl QueryClient {
    /// From the standard configuration chain (environment, profile, CodeBuild role), for
    /// `region`.
    pub async fn from_env(region: &str) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .load()
            .await;
        Self::new(&shared, region)
    }

    /// From the shared configuration, for `region`.
    pub(crate) fn new(shared: &aws_config::SdkConfig, region: &str) -> Self {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            .build();
        let sleep = aws_smithy_async::rt::sleep::default_async_sleep();
        let connector = aws_smithy_http_client::default_connector(&settings, sleep)
            .expect("the rustls connector is compiled in");
        QueryClient {
            connector,
            credentials: shared.credentials_provider(),
            region: region.to_string(),
            dns_suffix: dns_suffix(region),
            endpoint_url: shared.endpoint_url().map(str::to_string),
            listed_only: true,
        }
    }

    /// A client whose requests `answer` answers, given the body (a form, or a JSON 1.1
    /// document): (HTTP status, XML or JSON). For tests: scripted answers, no network.
    pub fn answering(
        answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
        region: &str,
    ) -> Self {
        Self::with_connector(SharedHttpConnector::new(Scripted(Box::new(answer))), region)
    }

    fn with_connector(connector: SharedHttpConnector, region: &str) -> Self {
        QueryClient {
            connector,
            credentials: Some(SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIDTESTS", "secret", None, None, "tests"),
            )),
            region: region.to_string(),
            dns_suffix: dns_suffix(region),
            endpoint_url: None,
            listed_only: true,
        }
    }

    /// The endpoint and signing region of `service`.
    fn endpoint(&self, service: Service) -> (String, String) {
        let (prefix, _, env) = service.names();
        let given = std::env::var(format!("AWS_ENDPOINT_URL_{env}"))
            .ok()
            .or_else(|| self.endpoint_url.clone())
            .filter(|u| !u.is_empty());
        let global_iam = service == Service::Iam;
        let region = match (global_iam, self.dns_suffix.as_str()) {
            // IAM is global: one endpoint per partition, signed for its home region.
            (true, "amazonaws.com") if !self.region.starts_with("us-gov-") => {
                "us-east-1".to_string()
            }
            (true, "amazonaws.com") => "us-gov-west-1".to_string(),
            (true, "amazonaws.com.cn") => "cn-north-1".to_string(),
            _ => self.region.clone(),
        };
        if let Some(url) = given {
            return (url.trim_end_matches('/').to_string(), region);
        }
        let url = match (global_iam, self.dns_suffix.as_str()) {
            (true, "amazonaws.com") if self.region.starts_with("us-gov-") => {
                "https://iam.us-gov.amazonaws.com".to_string()
            }
            (true, "amazonaws.com") => "https://iam.amazonaws.com".to_string(),
            (true, "amazonaws.com.cn") => "https://iam.cn-north-1.amazonaws.com.cn".to_string(),
            _ => format!("https://{prefix}.{}.{}", self.region, self.dns_suffix),
        };
        (url, region)
    }

    /// A client of the same credentials and connector for `region` (CodeBuild's builds
    /// live in the build's region, which may not be the instances').
    pub fn in_region(&self, region: &str) -> Self {
        QueryClient {
            region: region.to_string(),
            dns_suffix: dns_suffix(region),
            ..self.clone()
        }
    }

    /// The same client for a test's fixtures, which make what the binary only reads (a role,
    /// an instance): calls calls.json does not list are let through.
    pub fn for_fixtures(self) -> Self {
        QueryClient {
            listed_only: false,
            ..self
        }
    }

    /// Calls `action` with `params`; the answer's leaves, or the error it names.
    pub async fn call(
        &self,
        service: Service,
        action: &'static str,
        params: &[(&str, String)],
    ) -> Result<Answer> {
        retried(|| self.once(service, action, params)).await
    }

    /// Calls `action` of a service spoken in AWS JSON 1.1 with the document `input`; the
    /// answer's document, or the error it names.
    pub async fn call_json(
        &self,
        service: Service,
        action: &'static str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        retried(|| self.once_json(service, action, input)).await
    }

    async fn once(
        &self,
        service: Service,
        action: &'static str,
        params: &[(&str, String)],
    ) -> Result<Answer> {
        let (_, version, _) = service.names();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action)
            .append_pair("Version", version);
        for (key, value) in params {
            form.append_pair(key, value);
        }
        let (url, _) = self.endpoint(service);
        let request = query_request(&url, form.finish())
            .map_err(|e| failed(service, action, format!("bad request: {e}"), false))?;
        let reply = self.exchange(service, action, request).await?;
        let answer = parse(&String::from_utf8_lossy(&reply.body));
        if (200..300).contains(&reply.status) {
            return Ok(answer);
        }
        // EC2: Response/Errors/Error; the others: ErrorResponse/Error.
        let code = answer.first("Error/Code").map(str::to_string);
        let message = answer.first("Error/Message").unwrap_or("no message");
        Err(refused(
            service,
            action,
            reply.status,
            code.as_deref(),
            message,
        ))
    }

    async fn once_json(
        &self,
        service: Service,
        action: &'static str,
        input: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let Some(prefix) = service.json_target() else {
            unreachable!("{service:?} is not spoken in JSON 1.1");
        };
        let (url, _) = self.endpoint(service);
        let request = json_request(&url, &format!("{prefix}.{action}"), input.to_string())
            .map_err(|e| failed(service, action, format!("bad request: {e}"), false))?;
        let reply = self.exchange(service, action, request).await?;
        let document: serde_json::Value = if reply.body.is_empty() {
            serde_json::Value::Null
        } else {
            match serde_json::from_slice(&reply.body) {
                Ok(document) => document,
                Err(_) if !(200..300).contains(&reply.status) => serde_json::Value::Null,
                Err(e) => {
                    let message = format!("the answer is not JSON: {e}");
                    return Err(failed(service, action, message, false));
                }
            }
        };
        if (200..300).contains(&reply.status) {
            return Ok(document);
        }
        let code = json_error_code(reply.error_type.as_deref(), &document);
        let message = ["message", "Message"]
            .iter()
            .find_map(|k| document.get(k).and_then(|m| m.as_str()))
            .unwrap_or("no message");
        Err(refused(
            service,
            action,
            reply.status,
            code.as_deref(),
            message,
        ))
    }

    /// Signs `request` with the client's credentials, sends it and reads the whole answer.
    async fn exchange(
        &self,
        service: Service,
        action: &'static str,
        mut request: http::Request<String>,
    ) -> Result<Reply> {
        debug_assert!(
            !self.listed_only || crate::aws::calls::find(service.iam_prefix(), action).is_some(),
            "{}:{action} is called but not listed in src/aws/calls.json",
            service.iam_prefix()
        );
        let fail = |message: String, transient: bool| failed(service, action, message, transient);
        let (name, _, _) = service.names();
        let (url, signing_region) = self.endpoint(service);
        let credentials = match &self.credentials {
            Some(provider) => provider
                .provide_credentials()
                .await
                .map_err(|e| fail(format!("no AWS credentials: {e}"), false))?,
            None => return Err(fail("no AWS credentials provider".into(), false)),
        };
        sign(
            &mut request,
            credentials,
            &signing_region,
            name,
            SystemTime::now(),
        )
        .map_err(|e| fail(format!("cannot sign: {e}"), false))?;
        let request = HttpRequest::try_from(request.map(SdkBody::from))
            .map_err(|e| fail(format!("bad request: {e}"), false))?;
        let response = self
            .connector
            .call(request)
            .await
            .map_err(|e| fail(format!("no answer from {url}: {e}"), true))?;
        let status = response.status().as_u16();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .map(str::to_string);
        let body = aws_smithy_types::byte_stream::ByteStream::new(response.into_body())
            .collect()
            .await
            .map_err(|e| fail(format!("answer cut short: {e}"), true))?
            .to_vec();
        Ok(Reply {
            status,
            error_type,
            body,
        })
    }
}

/// An HTTP answer, read whole.
struct Reply {
    status: u16,
    /// `x-amzn-ErrorType` (JSON protocols).
    error_type: Option<String>,
    body: Vec<u8>,
}

/// Tries `once` again after a transient failure, twice, with a short backoff.
async fn retried<T, F, Fut>(mut once: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once().await {
            Err(err) if err.is_transient() && attempt < 3 => {
                tokio::time::sleep(Duration::from_millis(200 * (1 << attempt))).await;
            }
            done => return done,
        }
    }
}

/// A failure of `action` before or without an AWS answer.
fn failed(service: Service, action: &'static str, message: String, transient: bool) -> Error {
    Error::Aws {
        operation: action,
        action: format!("{}:{action} failed", service.iam_prefix()),
        message,
        transient,
        source: None,
    }
}

/// AWS's refusal of `action`: its HTTP status, error code and message, classified.
fn refused(
    service: Service,
    action: &'static str,
    status: u16,
    code: Option<&str>,
    message: &str,
) -> Error {
    let kind = classify(code, Some(status), Some(message));
    let message = match kind {
        Failure::Denied => format!(
            "access denied ({message}): {}",
            crate::aws::calls::needs(service.iam_prefix(), action)
        ),
        _ => format!(
            "{} (HTTP {status}): {message}",
            code.unwrap_or("no error code")
        ),
    };
    Error::Aws {
        operation: action,
        action: format!("{}:{action} failed", service.iam_prefix()),
        message,
        transient: kind == Failure::Transient,
        source: None,
    }
}

/// A Query request: the form, POSTed to the endpoint's root.
fn query_request(url: &str, form: String) -> http::Result<http::Request<String>> {
    http::Request::builder()
        .method("POST")
        .uri(format!("{url}/"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(form)
}

/// A JSON 1.1 request: the document, POSTed to the endpoint's root, the operation named by
/// `X-Amz-Target` (`CodeBuild_20161006.BatchGetBuilds`).
fn json_request(url: &str, target: &str, document: String) -> http::Result<http::Request<String>> {
    http::Request::builder()
        .method("POST")
        .uri(format!("{url}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(document)
}

/// The error code of a JSON 1.1 error: `x-amzn-ErrorType`, else the document's `__type` (or
/// `code`), without a namespace (`com.amazonaws.codebuild#`) or a trailing `:uri`, as the
/// Smithy awsJson1_1 protocol reads it.
fn json_error_code(header: Option<&str>, document: &serde_json::Value) -> Option<String> {
    let raw = header.or_else(|| {
        ["__type", "code"]
            .iter()
            .find_map(|k| document.get(k).and_then(|c| c.as_str()))
    })?;
    let code = raw.split(':').next().unwrap_or(raw);
    let code = code.rsplit('#').next().unwrap_or(code).trim();
    (!code.is_empty()).then(|| code.to_string())
}

/// Signs `request` (its body a form) with SigV4 for `service` in `region` at `time`: the
/// headers it carries, `host` from its URI, `x-amz-date`, and the session token when there is
/// one, as the SDKs sign.
fn sign(
    request: &mut http::Request<String>,
    credentials: aws_credential_types::Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> std::result::Result<(), String> {
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    let signable = aws_sigv4::http_request::SignableRequest::new(
        request.method().as_str(),
        request.uri().to_string(),
        headers,
        aws_sigv4::http_request::SignableBody::Bytes(request.body().as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// A function from a request's body to its answer: (HTTP status, XML or JSON).
type Answerer = Box<dyn Fn(&str) -> (u16, String) + Send + Sync>;

/// A connector of scripted answers ([`QueryClient::answering`]).
struct Scripted(Answerer);

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl HttpConnector for Scripted {
    fn call(
        &self,
        request: HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).to_string();
        let (status, xml) = (self.0)(&body);
        let status = aws_smithy_runtime_api::http::StatusCode::try_from(status)
            .expect("a scripted answer has a valid HTTP status");
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::ready(Ok(
            aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                status,
                SdkBody::from(xml),
            ),
        ))
    }
}

/// The DNS suffix of `region`'s partition, as the SDK's endpoint rules give it (from the
/// endpoint of a service every partition has).
fn dns_suffix(region: &str) -> String {
    use aws_sdk_ssm::config::endpoint::{Params, ResolveEndpoint};
    let resolver = aws_sdk_ssm::config::endpoint::DefaultResolver::new();
    let params = Params::builder().region(region.to_string()).build();
    let url = params
        .ok()
        .and_then(|p| {
            futures_lite_block(resolver.resolve_endpoint(&p))
                .ok()
                .map(|e| e.url().to_string())
        })
        .unwrap_or_default();
    url.strip_prefix(&format!("https://ssm.{region}."))
        .map(|s| s.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "amazonaws.com".to_string())
}

/// The endpoint rules answer at once (no I/O): their future is ready when first polled.
fn futures_lite_block<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("the endpoint rules do no I/O"),
    }
}

/// The leaf elements of an XML answer with their paths (entities decoded). A malformed
/// answer gives the leaves before the fault.
fn parse(xml: &str) -> Answer {
    let mut path: Vec<&str> = Vec::new();
    let mut text = String::new();
    let mut leaves = Vec::new();
    let mut has_child = Vec::new();
    for token in xmlparser::Tokenizer::from(xml) {
        let Ok(token) = token else { break };
        match token {
            xmlparser::Token::ElementStart { local, .. } => {
                if let Some(parent) = has_child.last_mut() {
                    *parent = true;
                }
                path.push(local.as_str());
                has_child.push(false);
                text.clear();
            }
            xmlparser::Token::Text { text: t } => text.push_str(t.as_str()),
            xmlparser::Token::Cdata { text: t, .. } => text.push_str(t.as_str()),
            xmlparser::Token::ElementEnd { end, .. } => match end {
                xmlparser::ElementEnd::Open => {}
                xmlparser::ElementEnd::Close(..) | xmlparser::ElementEnd::Empty => {
                    if has_child.pop() == Some(false) {
                        leaves.push((path.join("/"), unescape(&text)));
                    }
                    path.pop();
                    text.clear();
                }
            },
            _ => {}
        }
    }
    Answer { leaves }
}

/// XML's five entities and character references.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_carry_their_paths_and_entities_are_decoded() {
        let a = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>8f7724cf</requestId>
  <reservationSet><item><instancesSet>
    <item><instanceId>i-1</instanceId><tagSet><item><key>app</key><value>a&amp;b</value></item></tagSet></item>
    <item><instanceId>i-2</instanceId><tagSet/></item>
  </instancesSet></item></reservationSet>
</DescribeInstancesResponse>"#,
        );
        let ids: Vec<&str> = a.all("instancesSet/item/instanceId").collect();
        assert_eq!(ids, ["i-1", "i-2"]);
        assert_eq!(a.first("tagSet/item/value"), Some("a&b"));
        assert_eq!(a.first("nextToken"), None);
        // A suffix matches whole element names only.
        assert_eq!(a.first("Id"), None);
    }

    /// The signature botocore's SigV4Auth gives the same request (same credentials with a
    /// session token, same time, same headers), computed with botocore 1.43.11:
    /// `SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    /// "session-token-example"), "ec2", "ap-southeast-7").add_auth(req)` with
    /// `botocore.auth.get_current_datetime` patched to 2026-12-07T10:00:00Z. Moto checks no
    /// signature: this is what holds the signing to AWS's.
    #[test]
    fn the_signature_is_the_one_an_aws_sdk_computes() {
        let body = "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aapp&Filter.1.Value.1=web";
        let mut request = http::Request::builder()
            .method("POST")
            .uri("https://ec2.ap-southeast-7.amazonaws.com/")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body.to_string())
            .unwrap();
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example".into()),
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_637_600); // 2026-12-07T10:00:00Z
        sign(&mut request, credentials, "ap-southeast-7", "ec2", at).unwrap();
        let h = |name: &str| {
            request
                .headers()
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(h("x-amz-date"), "20261207T100000Z");
        assert_eq!(h("x-amz-security-token"), "session-token-example");
        assert_eq!(
            h("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/ap-southeast-7/ec2/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=c0cccd2464136f17dfcc86c0c688031b6a1b848de214b463767d0a321625490e"
        );
    }

    /// A JSON 1.1 request as the SDKs send it (`POST /`, `Content-Type:
    /// application/x-amz-json-1.1`, `X-Amz-Target`), and its signature held to botocore's for
    /// the same request: `SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    /// "session-token-example"), "codebuild", "ap-southeast-7").add_auth(req)` (botocore
    /// 1.43.11, `get_current_datetime` patched to 2026-12-07T10:00:00Z).
    #[test]
    fn a_json_request_is_shaped_and_signed_as_an_aws_sdk_does() {
        let c = QueryClient::answering(|_| (200, String::new()), "ap-southeast-7");
        let (url, region) = c.endpoint(Service::CodeBuild);
        assert_eq!(
            (url.as_str(), region.as_str()),
            (
                "https://codebuild.ap-southeast-7.amazonaws.com",
                "ap-southeast-7"
            )
        );
        let body =
            serde_json::json!({"ids": ["invisible-pipeline:0c6d4b6e-5d2a-4a8b-9d1c-3e6f7a8b9c0d"]});
        let mut request =
            json_request(&url, "CodeBuild_20161006.BatchGetBuilds", body.to_string()).unwrap();
        assert_eq!(
            request.body(),
            r#"{"ids":["invisible-pipeline:0c6d4b6e-5d2a-4a8b-9d1c-3e6f7a8b9c0d"]}"#
        );
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example".into()),
            None,
            "test",
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_637_600);
        sign(&mut request, credentials, &region, "codebuild", at).unwrap();
        let h = |name: &str| request.headers().get(name).unwrap().to_str().unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri().path(), "/");
        assert_eq!(h("content-type"), "application/x-amz-json-1.1");
        assert_eq!(h("x-amz-target"), "CodeBuild_20161006.BatchGetBuilds");
        assert_eq!(
            h("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/ap-southeast-7/codebuild/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=a7639c31d9dcd0f2387a7f4af48437fbc67d8477a5d49ba5a5aafc9c08264b85"
        );
    }

    /// The code of a JSON 1.1 error: the header wins, then `__type`; the namespace and a
    /// trailing URI are not part of it (Smithy, awsJson1_1 protocol, "Operation error
    /// serialization").
    #[test]
    fn a_json_error_s_code_is_read_from_its_header_or_its_type() {
        let doc = serde_json::json!({
            "__type": "com.amazonaws.codebuild#AccessDeniedException",
            "message": "denied"
        });
        assert_eq!(
            json_error_code(None, &doc).as_deref(),
            Some("AccessDeniedException")
        );
        assert_eq!(
            json_error_code(
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"),
                &doc
            )
            .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            json_error_code(
                None,
                &serde_json::json!({"__type": "InvalidInputException"})
            )
            .as_deref(),
            Some("InvalidInputException")
        );
        assert_eq!(json_error_code(None, &serde_json::Value::Null), None);
    }

    /// A JSON answer comes back as its document; an AccessDeniedException (HTTP 400, as
    /// CodeBuild answers a call the role may not make) is a denial naming the IAM action.
    #[tokio::test]
    async fn a_json_call_gives_the_document_or_the_named_error() {
        let ok = QueryClient::answering(
            |body| {
                assert_eq!(body, r#"{"ids":["p:1"]}"#);
                (200, r#"{"builds":[],"buildsNotFound":["p:1"]}"#.to_string())
            },
            "cn-north-1",
        );
        let input = serde_json::json!({"ids": ["p:1"]});
        let doc = ok
            .call_json(Service::CodeBuild, "BatchGetBuilds", &input)
            .await
            .unwrap();
        assert_eq!(doc["buildsNotFound"][0], "p:1");
        let denied = QueryClient::answering(
            |_| {
                (400, r#"{"__type":"AccessDeniedException","message":"User: arn:aws-cn:sts::123456789012:assumed-role/build/x is not authorized to perform: codebuild:BatchGetBuilds on resource: arn:aws-cn:codebuild:cn-north-1:123456789012:project/other"}"#.to_string())
            },
            "cn-north-1",
        );
        let err = denied
            .call_json(Service::CodeBuild, "BatchGetBuilds", &input)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("access denied"), "{err}");
        assert!(
            err.contains("the role needs codebuild:BatchGetBuilds"),
            "{err}"
        );
    }

    #[test]
    fn the_partition_s_suffix_comes_from_the_sdk_s_rules() {
        assert_eq!(dns_suffix("ap-southeast-7"), "amazonaws.com");
        assert_eq!(dns_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_eq!(dns_suffix("eusc-de-east-1"), "amazonaws.eu");
    }

    #[test]
    fn iam_is_signed_for_its_partition_s_home_region() {
        let c = QueryClient::answering(|_| (200, String::new()), "ap-southeast-7");
        assert_eq!(
            c.endpoint(Service::Iam),
            (
                "https://iam.amazonaws.com".to_string(),
                "us-east-1".to_string()
            )
        );
        assert_eq!(
            c.endpoint(Service::Ec2),
            (
                "https://ec2.ap-southeast-7.amazonaws.com".to_string(),
                "ap-southeast-7".to_string()
            )
        );
    }
}
