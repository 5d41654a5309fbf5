//! Kubernetes API-server audit logs → per-subject API profiles (`ApiProfileSet`).
//!
//! Owns: decoding `audit.k8s.io` `v1`/`v1beta1`/`v1alpha1` Events from JSON lines (plain, gzip
//! or stdin), single-line or whole-document `Event`/`EventList`/`List` (JSON, pretty-printed,
//! or YAML), and the cloud envelopes: AKS diagnostic export (`properties.log`), EKS CloudWatch
//! records (`message` / `@message`, alone or in `logEvents` / `events` arrays), GKE Cloud Audit
//! Logging (`protoPayload`: `methodName`, `resourceName`, `authorizationInfo`, gRPC status);
//! folding the stages of one request
//! (same `auditID`) into one observation; classifying the outcome (`RequestOutcome`); adding
//! the authorization checks the audit verb hides (rbac.md §2.1: create-on-update, WebSocket
//! exec, impersonation); crediting bindings named by `authorization.k8s.io/reason`.
//!
//! Must not: decide what to grant (that is `synth`), or keep per-event state. Memory is bounded
//! by the requests still in flight (stages seen, final stage not yet) and by the distinct
//! tuples, never by the number of events.
//!
//! Dedupe rule (independent of chunking and thread count): every final event
//! (`ResponseComplete`, `Panic`, or an event without a stage) counts as one request; a
//! non-final event (`RequestReceived`, `ResponseStarted`) is folded into a later event with
//! the same `auditID`, and counts on its own (with the outcome it shows, usually
//! `Unknown`) only when no final event for it follows. A final event seen twice (the same file
//! read twice) counts twice: recognising that would need memory per event.
//!
//! Ingest runs in parallel: the input is cut into chunks of whole lines, rayon parses chunks
//! concurrently into small borrowed aggregates, and the results are merged in input order.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use rayon::prelude::*;
use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use super::input::{self, MAX_LINE_BYTES};
use super::{IngestStats, InputError};
use crate::model::{ApiRequest, Evidence, Inventory, RequestOutcome, Subject, Timestamp};
use crate::profile::{ApiProfile, ApiProfileSet};

/// File extensions picked up when a directory is given.
pub const EXTENSIONS: &[&str] = &["log", "json", "jsonl", "gz", "yaml", "yml", "txt"];

/// Tuning knobs of the ingest pipeline (tests use tiny chunks to prove chunking is invisible).
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Bytes of whole lines per parallel work item.
    pub chunk_bytes: usize,
    /// Work items parsed concurrently before their results are merged.
    pub window: usize,
    /// In-flight (non-final, unmatched) requests kept before the oldest are counted as-is.
    pub max_in_flight: usize,
    /// Largest whole-document (pretty JSON / YAML) input read into memory.
    pub max_document_bytes: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            chunk_bytes: 2 << 20,
            window: (rayon::current_num_threads() * 3).max(4),
            max_in_flight: 1 << 20,
            max_document_bytes: 1 << 30,
        }
    }
}

/// The `ingest` contract: read audit logs (files, directories, `-`) into per-subject profiles.
/// `progress` receives the bytes consumed so far. The inventory is not needed here: service
/// accounts are mapped to workloads downstream (`Inventory::workloads_for_service_account`).
pub fn ingest(
    paths: &[PathBuf],
    _inventory: &Inventory,
    strict: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(ApiProfileSet, IngestStats), InputError> {
    ingest_with(paths, strict, &IngestOptions::default(), progress)
}

/// `ingest` with explicit tuning.
pub fn ingest_with(
    paths: &[PathBuf],
    strict: bool,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(ApiProfileSet, IngestStats), InputError> {
    let files = input::expand(paths, EXTENSIONS)?;
    let sources: Vec<Source> = files.into_iter().map(Source::Path).collect();
    run(sources, strict, options, progress)
}

/// Ingest one in-memory input (tests, fuzzing). `name` labels errors.
pub fn ingest_bytes(
    name: &str,
    data: &[u8],
    strict: bool,
    options: &IngestOptions,
) -> Result<(ApiProfileSet, IngestStats), InputError> {
    let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(data.to_vec()));
    run(vec![Source::Reader(name.to_string(), reader)], strict, options, &|_| {})
}

// ---------------------------------------------------------------------------------------------
// Outcome and reason parsing (pure, public for the guard and tests)

/// How the API server answered (rbac.md §5 item 25). `decision` is the
/// `authorization.k8s.io/decision` annotation.
pub fn outcome(code: Option<i64>, decision: Option<&str>) -> RequestOutcome {
    match (decision, code) {
        (Some("forbid"), _) => RequestOutcome::Denied,
        (Some("allow"), Some(403)) => RequestOutcome::AdmissionRejected,
        (Some("allow"), _) => RequestOutcome::Allowed,
        (_, Some(403)) => RequestOutcome::Denied,
        // 401: authentication failed; 429: rejected by flow control before authorization.
        (_, Some(401)) | (_, Some(429)) | (_, None) => RequestOutcome::Unknown,
        // Any other answer comes from the handler, which runs after authorization.
        (_, Some(c)) if c >= 100 => RequestOutcome::Allowed,
        _ => RequestOutcome::Unknown,
    }
}

/// The binding credited by an `authorization.k8s.io/reason` such as
/// `RBAC: allowed by RoleBinding "name/ns" of Role "x" to ServiceAccount "sa/ns"`, keyed
/// `ClusterRoleBinding/<name>` or `RoleBinding/<namespace>/<name>`.
pub fn credited_binding(reason: &str) -> Option<String> {
    let rest = reason.trim_start().strip_prefix("RBAC: allowed by ")?;
    let (kind, rest) = rest.split_once(' ')?;
    let quoted = rest.strip_prefix('"')?;
    let end = quoted.find('"')?;
    let name = &quoted[..end];
    if name.is_empty() {
        return None;
    }
    match kind {
        "ClusterRoleBinding" => Some(format!("ClusterRoleBinding/{name}")),
        "RoleBinding" => {
            let (binding, namespace) = name.split_once('/')?;
            if binding.is_empty() || namespace.is_empty() {
                return None;
            }
            Some(format!("RoleBinding/{namespace}/{binding}"))
        }
        _ => None,
    }
}

/// Non-resource URL as RBAC matches it: query string and fragment removed.
pub fn strip_query(uri: &str) -> &str {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    &uri[..end]
}

// ---------------------------------------------------------------------------------------------
// Raw serde types (borrowed where the JSON has no escapes; unknown fields ignored)

/// A string borrowed from the input when possible.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
struct BStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl BStr<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// A string, or `None` for any other JSON value (which is skipped).
fn string_or_ignored<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<BStr<'a>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<BStr<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or any value")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(BStr(Cow::Borrowed(v))))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(BStr(Cow::Owned(v.to_string()))))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(BStr(Cow::Owned(v))))
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            while a.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

fn s<'b>(v: &'b Option<BStr<'_>>) -> &'b str {
    v.as_ref().map(BStr::as_str).unwrap_or("")
}

#[derive(Debug, Default, Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    kind: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "auditID")]
    audit_id: Option<BStr<'a>>,
    #[serde(borrow, default)]
    stage: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "requestURI")]
    request_uri: Option<BStr<'a>>,
    #[serde(borrow, default)]
    verb: Option<BStr<'a>>,
    #[serde(borrow, default)]
    user: Option<RawUser<'a>>,
    #[serde(borrow, default, rename = "impersonatedUser")]
    impersonated_user: Option<RawImpersonated<'a>>,
    #[serde(borrow, default, rename = "objectRef")]
    object_ref: Option<RawObjectRef<'a>>,
    #[serde(default, rename = "responseStatus")]
    response_status: Option<RawStatus>,
    #[serde(borrow, default, rename = "requestReceivedTimestamp")]
    request_received: Option<BStr<'a>>,
    /// v1alpha1/v1beta1 name of the request timestamp; also GKE's `LogEntry.timestamp`. Numbers
    /// (CloudWatch's epoch milliseconds on an envelope) are ignored, not errors.
    #[serde(borrow, default, deserialize_with = "string_or_ignored")]
    timestamp: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "stageTimestamp")]
    stage_timestamp: Option<BStr<'a>>,
    #[serde(borrow, default)]
    annotations: Option<RawAnnotations<'a>>,
    /// `EventList` / `List` members.
    #[serde(borrow, default)]
    items: Option<Vec<RawEvent<'a>>>,
    /// AKS diagnostic export: the event is a JSON string in `properties.log`.
    #[serde(borrow, default)]
    properties: Option<RawProperties<'a>>,
    /// EKS CloudWatch record (subscription `logEvents[]`, `filter-log-events` `events[]`): the
    /// event is a JSON string in `message`.
    #[serde(borrow, default)]
    message: Option<BStr<'a>>,
    /// CloudWatch Logs Insights export: the event is a JSON string in `@message`.
    #[serde(borrow, default, rename = "@message")]
    at_message: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "logEvents")]
    log_events: Option<Vec<RawEvent<'a>>>,
    #[serde(borrow, default)]
    events: Option<Vec<RawEvent<'a>>>,
    /// GKE Cloud Audit Logging `LogEntry`.
    #[serde(borrow, default, rename = "protoPayload")]
    proto_payload: Option<RawProtoPayload<'a>>,
}

/// GKE `protoPayload` (google.cloud.audit.AuditLog) of a Kubernetes audit entry.
#[derive(Debug, Default, Deserialize)]
struct RawProtoPayload<'a> {
    #[serde(borrow, default, rename = "methodName")]
    method_name: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "resourceName")]
    resource_name: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "serviceName")]
    service_name: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "authenticationInfo")]
    authentication: Option<RawGkeAuthn<'a>>,
    #[serde(default, rename = "authorizationInfo")]
    authorization: Option<Vec<RawGkeAuthz>>,
    #[serde(default)]
    status: Option<RawStatus>,
}

#[derive(Debug, Default, Deserialize)]
struct RawGkeAuthn<'a> {
    #[serde(borrow, default, rename = "principalEmail")]
    principal: Option<BStr<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawGkeAuthz {
    #[serde(default)]
    granted: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct RawUser<'a> {
    #[serde(borrow, default)]
    username: Option<BStr<'a>>,
    #[serde(borrow, default)]
    groups: Option<Vec<BStr<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawImpersonated<'a> {
    #[serde(borrow, default)]
    username: Option<BStr<'a>>,
    #[serde(borrow, default)]
    uid: Option<BStr<'a>>,
    #[serde(borrow, default)]
    groups: Option<Vec<BStr<'a>>>,
    #[serde(borrow, default)]
    extra: Option<BTreeMap<BStr<'a>, Option<Vec<BStr<'a>>>>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawObjectRef<'a> {
    #[serde(borrow, default)]
    resource: Option<BStr<'a>>,
    #[serde(borrow, default)]
    namespace: Option<BStr<'a>>,
    #[serde(borrow, default)]
    name: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "apiGroup")]
    api_group: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<BStr<'a>>,
    #[serde(borrow, default)]
    subresource: Option<BStr<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawStatus {
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct RawAnnotations<'a> {
    #[serde(borrow, default, rename = "authorization.k8s.io/decision")]
    decision: Option<BStr<'a>>,
    #[serde(borrow, default, rename = "authorization.k8s.io/reason")]
    reason: Option<BStr<'a>>,
}

#[derive(Debug, Default, Deserialize)]
struct RawProperties<'a> {
    #[serde(borrow, default)]
    log: Option<BStr<'a>>,
}

// ---------------------------------------------------------------------------------------------
// Normalised request (borrowed)

/// One authorizer tuple, borrowed from the input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Req<'a> {
    verb: Cow<'a, str>,
    group: Cow<'a, str>,
    resource: Cow<'a, str>,
    subresource: Cow<'a, str>,
    namespace: Cow<'a, str>,
    name: Cow<'a, str>,
    path: Option<Cow<'a, str>>,
}

impl Req<'_> {
    fn to_owned_request(&self) -> ApiRequest {
        ApiRequest {
            verb: self.verb.to_string(),
            api_group: self.group.to_string(),
            resource: self.resource.to_string(),
            subresource: self.subresource.to_string(),
            namespace: self.namespace.to_string(),
            name: self.name.to_string(),
            path: self.path.as_ref().map(|p| p.to_string()),
        }
    }
}

/// Stage order: later stages carry more (status, decision).
const STAGE_RECEIVED: u8 = 0;
const STAGE_STARTED: u8 = 1;
const STAGE_FINAL: u8 = 2;

/// What one event says, ready to be recorded.
#[derive(Debug)]
struct Norm<'a> {
    id: Option<Cow<'a, str>>,
    stage: u8,
    at: Timestamp,
    /// (username, outcome, tuple).
    obs: Vec<(Cow<'a, str>, RequestOutcome, Req<'a>)>,
    /// Effective username and its groups.
    user: Cow<'a, str>,
    groups: Vec<Cow<'a, str>>,
    credit: Option<String>,
}

fn cow<'a>(v: Option<BStr<'a>>) -> Cow<'a, str> {
    v.map(|b| b.0).unwrap_or(Cow::Borrowed(""))
}

fn lower<'a>(v: Cow<'a, str>) -> Cow<'a, str> {
    if v.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(v.to_ascii_lowercase()) } else { v }
}

/// Groups the impersonation filter adds by itself (never checked with `impersonate`).
fn automatic_group(group: &str, username: &str) -> bool {
    if group == "system:authenticated" || group == "system:unauthenticated" {
        return true;
    }
    if let Some(rest) = username.strip_prefix("system:serviceaccount:") {
        let ns = rest.split(':').next().unwrap_or("");
        return group == "system:serviceaccounts" || group.strip_prefix("system:serviceaccounts:") == Some(ns);
    }
    false
}

fn resource_req<'a>(
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    sub: Cow<'a, str>,
    ns: Cow<'a, str>,
    name: Cow<'a, str>,
) -> Req<'a> {
    Req {
        verb: Cow::Borrowed(verb),
        group: Cow::Borrowed(group),
        resource: Cow::Borrowed(resource),
        subresource: sub,
        namespace: ns,
        name,
        path: None,
    }
}

/// Normalise one event. `Ok(None)`: a well-formed event that names no identity (failed
/// authentication): skipped, not an error.
fn normalize(ev: RawEvent<'_>) -> Result<Option<Norm<'_>>, String> {
    if let Some(kind) = &ev.kind
        && kind.as_str() != "Event"
    {
        return Err(format!("not an audit Event (kind {:?})", kind.as_str()));
    }
    if let Some(v) = &ev.api_version
        && !v.as_str().starts_with("audit.k8s.io/")
    {
        return Err(format!("not an audit Event (apiVersion {:?})", v.as_str()));
    }
    let verb = lower(cow(ev.verb));
    if verb.is_empty() {
        return Err("event has no verb".to_string());
    }
    let stage = match s(&ev.stage) {
        "RequestReceived" => STAGE_RECEIVED,
        "ResponseStarted" => STAGE_STARTED,
        "ResponseComplete" | "Panic" | "" => STAGE_FINAL,
        other => return Err(format!("unknown audit stage {other:?}")),
    };
    let at = [&ev.request_received, &ev.timestamp, &ev.stage_timestamp]
        .into_iter()
        .flatten()
        .find_map(|t| parse_time(t.as_str()))
        .unwrap_or_default();
    let code = ev.response_status.as_ref().and_then(|r| r.code);
    let (decision, reason) = match ev.annotations {
        Some(a) => (a.decision, a.reason),
        None => (None, None),
    };
    let result = outcome(code, decision.as_ref().map(BStr::as_str));
    let credit =
        if s(&decision) == "allow" { reason.as_ref().and_then(|r| credited_binding(r.as_str())) } else { None };

    let (user_name, user_groups) = match ev.user {
        Some(u) => (cow(u.username), u.groups.unwrap_or_default()),
        None => (Cow::Borrowed(""), Vec::new()),
    };
    let imp = ev.impersonated_user.filter(|i| !s(&i.username).is_empty());
    let (effective, groups) = match &imp {
        Some(i) => (Cow::Owned(s(&i.username).to_string()), i.groups.clone().unwrap_or_default()),
        None => (user_name.clone(), user_groups),
    };
    if effective.is_empty() {
        return Ok(None);
    }

    // The request tuple.
    let req = match ev.object_ref.filter(|o| !s(&o.resource).is_empty()) {
        Some(o) => {
            let group = match o.api_group {
                Some(g) => g.0,
                // v1alpha1 has only `apiVersion: group/version`.
                None => match o.api_version.map(|v| v.0) {
                    Some(Cow::Borrowed(v)) => Cow::Borrowed(v.split_once('/').map(|(g, _)| g).unwrap_or("")),
                    Some(Cow::Owned(v)) => Cow::Owned(v.split_once('/').map(|(g, _)| g).unwrap_or("").to_string()),
                    None => Cow::Borrowed(""),
                },
            };
            let resource = cow(o.resource);
            let subresource = cow(o.subresource);
            let mut namespace = cow(o.namespace);
            let mut name = cow(o.name);
            // The authorizer never sees a name on a top-level create (it is in the body).
            if verb == "create" && subresource.is_empty() {
                name = Cow::Borrowed("");
            }
            // A Namespace is its own namespace (requestinfo.go).
            if group.is_empty() && resource == "namespaces" && namespace.is_empty() && !name.is_empty() {
                namespace = name.clone();
            }
            Req { verb, group, resource, subresource, namespace, name, path: None }
        }
        None => {
            let uri = cow(ev.request_uri);
            if uri.is_empty() {
                return Err("event has neither objectRef.resource nor requestURI".to_string());
            }
            let path = match uri {
                Cow::Borrowed(u) => Cow::Borrowed(strip_query(u)),
                Cow::Owned(u) => Cow::Owned(strip_query(&u).to_string()),
            };
            Req {
                verb,
                group: Cow::Borrowed(""),
                resource: Cow::Borrowed(""),
                subresource: Cow::Borrowed(""),
                namespace: Cow::Borrowed(""),
                name: Cow::Borrowed(""),
                path: Some(path),
            }
        }
    };

    let mut obs = Vec::with_capacity(2);
    // rbac.md §2.1.1: patch/update answered 201 created the object: a second `create` check.
    if req.path.is_none()
        && result == RequestOutcome::Allowed
        && code == Some(201)
        && (req.verb == "patch" || req.verb == "update")
    {
        let mut c = req.clone();
        c.verb = Cow::Borrowed("create");
        if c.subresource.is_empty() {
            c.name = Cow::Borrowed("");
        }
        obs.push((effective.clone(), result, c));
    }
    // rbac.md §2.1.2: WebSocket exec/attach/portforward is a GET, authorized as get + create.
    if req.path.is_none()
        && req.verb == "get"
        && req.group.is_empty()
        && req.resource == "pods"
        && matches!(&*req.subresource, "exec" | "attach" | "portforward")
    {
        let mut c = req.clone();
        c.verb = Cow::Borrowed("create");
        obs.push((effective.clone(), result, c));
    }
    obs.push((effective.clone(), result, req));

    // rbac.md §2.1.4: the impersonator needed `impersonate` on each impersonated attribute.
    if let Some(i) = &imp
        && !user_name.is_empty()
    {
        let target = s(&i.username);
        let none = || Cow::Borrowed("");
        let allowed = RequestOutcome::Allowed;
        match Subject::from_username(target) {
            Subject::ServiceAccount { namespace, name } => obs.push((
                user_name.clone(),
                allowed,
                resource_req("impersonate", "", "serviceaccounts", none(), Cow::Owned(namespace), Cow::Owned(name)),
            )),
            _ => obs.push((
                user_name.clone(),
                allowed,
                resource_req("impersonate", "", "users", none(), none(), Cow::Owned(target.to_string())),
            )),
        }
        for g in i.groups.iter().flatten() {
            if !automatic_group(g.as_str(), target) {
                obs.push((
                    user_name.clone(),
                    allowed,
                    resource_req("impersonate", "", "groups", none(), none(), Cow::Owned(g.as_str().to_string())),
                ));
            }
        }
        if !s(&i.uid).is_empty() {
            obs.push((
                user_name.clone(),
                allowed,
                resource_req(
                    "impersonate",
                    "authentication.k8s.io",
                    "uids",
                    none(),
                    none(),
                    Cow::Owned(s(&i.uid).to_string()),
                ),
            ));
        }
        for (key, values) in i.extra.iter().flatten() {
            for v in values.iter().flatten() {
                obs.push((
                    user_name.clone(),
                    allowed,
                    resource_req(
                        "impersonate",
                        "authentication.k8s.io",
                        "userextras",
                        Cow::Owned(key.as_str().to_string()),
                        none(),
                        Cow::Owned(v.as_str().to_string()),
                    ),
                ));
            }
        }
    }

    Ok(Some(Norm {
        id: ev.audit_id.map(|b| b.0).filter(|i| !i.is_empty()),
        stage,
        at,
        obs,
        user: effective,
        groups: groups.into_iter().map(|g| g.0).collect(),
        credit,
    }))
}

/// Fast path for `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; anything else goes to the full parser.
fn parse_time(t: &str) -> Option<Timestamp> {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let fast = || -> Option<Timestamp> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (h, mi, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        let mut micros = 0i64;
        let mut i = 19;
        if b[i] == b'.' {
            i += 1;
            let mut scale = 100_000i64;
            while i < b.len() && b[i].is_ascii_digit() {
                micros += i64::from(b[i] - b'0') * scale;
                scale /= 10;
                i += 1;
            }
        }
        if i + 1 != b.len() || b[i] != b'Z' {
            return None;
        }
        // days_from_civil (Howard Hinnant).
        let y = if mo <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (mo + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Some(Timestamp((days * 86_400 + h * 3600 + mi * 60 + sec) * 1_000_000 + micros))
    };
    fast().or_else(|| Timestamp::parse_rfc3339(t))
}

// ---------------------------------------------------------------------------------------------
// Per-chunk aggregation (borrowed) and its owned result

type Fx = BuildHasherDefault<FxHasher>;

/// Small fast non-cryptographic hasher for in-memory maps (keys are not attacker-chosen in a
/// way that matters: a collision only costs time).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut v = [0u8; 8];
            v[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(v));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Stable 64-bit key of an auditID (SipHash with fixed keys: deterministic across runs).
fn id_key(id: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(0x6b75_6265, 0x6775_6172);
    id.hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, Copy, Default)]
struct LocalEv<'a> {
    count: u64,
    first: i64,
    last: i64,
    example: Option<&'a str>,
}

impl<'a> LocalEv<'a> {
    fn observe(&mut self, at: i64, example: Option<&'a str>) {
        self.count += 1;
        if at != 0 && (self.first == 0 || at < self.first) {
            self.first = at;
        }
        self.last = self.last.max(at);
        self.example = match (self.example, example) {
            (Some(a), Some(b)) => Some(if b < a { b } else { a }),
            (a, b) => a.or(b),
        };
    }

    fn to_evidence(self) -> Evidence {
        Evidence {
            count: self.count,
            first_seen: Timestamp(self.first),
            last_seen: Timestamp(self.last),
            example: self.example.map(str::to_string),
        }
    }
}

/// A request whose final stage was not seen yet: its best stage so far, already as a profile.
#[derive(Debug)]
struct Pending {
    stage: u8,
    /// Order of arrival (chunk sequence), used only to age out beyond `max_in_flight`.
    seq: u64,
    profile: ApiProfileSet,
}

/// What one chunk contributes, owned.
#[derive(Debug, Default)]
struct ChunkResult {
    profile: ApiProfileSet,
    /// Non-final requests not completed inside the chunk, in arrival order.
    pending: Vec<(u64, Pending)>,
    /// Keys of every final event, in order (they complete pending requests of earlier chunks).
    finals: Vec<u64>,
    stats: IngestStats,
    /// Lines in this chunk (to offset line numbers of later chunks' errors).
    lines: usize,
}

struct ChunkAgg<'a> {
    tuples: HashMap<(Cow<'a, str>, RequestOutcome, Req<'a>), LocalEv<'a>, Fx>,
    credits: HashMap<(Cow<'a, str>, String), LocalEv<'a>, Fx>,
    groups: HashSet<(Cow<'a, str>, Cow<'a, str>), Fx>,
    pending: HashMap<u64, (usize, Norm<'a>), Fx>,
    next_pending: usize,
    finals: Vec<u64>,
}

impl<'a> ChunkAgg<'a> {
    fn new() -> Self {
        ChunkAgg {
            tuples: HashMap::default(),
            credits: HashMap::default(),
            groups: HashSet::default(),
            pending: HashMap::default(),
            next_pending: 0,
            finals: Vec::new(),
        }
    }

    /// Fold one normalised event in. Returns true when it was folded into another (duplicate).
    fn add(&mut self, n: Norm<'a>, stats: &mut IngestStats) {
        stats.records += 1;
        let key = n.id.as_deref().map(id_key);
        match (key, n.stage) {
            (Some(k), STAGE_FINAL) => {
                if self.pending.remove(&k).is_some() {
                    stats.duplicates += 1;
                }
                self.finals.push(k);
                self.record(n);
            }
            (Some(k), stage) => match self.pending.get_mut(&k) {
                Some((_, existing)) => {
                    stats.duplicates += 1;
                    if stage > existing.stage {
                        *existing = n;
                    }
                }
                None => {
                    self.pending.insert(k, (self.next_pending, n));
                    self.next_pending += 1;
                }
            },
            (None, _) => self.record(n),
        }
    }

    fn record(&mut self, n: Norm<'a>) {
        let at = n.at.0;
        // Borrow the example id only when it is borrowed from the chunk.
        let example: Option<&'a str> = match &n.id {
            Some(Cow::Borrowed(id)) => Some(id),
            _ => None,
        };
        for (user, outcome, req) in n.obs {
            self.tuples.entry((user, outcome, req)).or_default().observe(at, example);
        }
        if let Some(c) = n.credit {
            self.credits.entry((n.user.clone(), c)).or_default().observe(at, example);
        }
        for g in n.groups {
            self.groups.insert((n.user.clone(), g));
        }
    }

    fn finish(mut self, mut result: ChunkResult, seq: u64) -> ChunkResult {
        let mut pending: Vec<(u64, (usize, Norm<'a>))> = self.pending.drain().collect();
        pending.sort_by_key(|(_, (order, _))| *order);
        for (k, (_, n)) in pending {
            let mut one = ChunkAgg::new();
            let stage = n.stage;
            one.record(n);
            result.pending.push((k, Pending { stage, seq, profile: one.into_profile() }));
        }
        result.finals = std::mem::take(&mut self.finals);
        result.profile = self.into_profile();
        result
    }

    fn into_profile(self) -> ApiProfileSet {
        let mut set = ApiProfileSet::default();
        let mut subjects: HashMap<Cow<'a, str>, ApiProfile, Fx> = HashMap::default();
        for ((user, outcome, req), ev) in self.tuples {
            let p = subjects.entry(user).or_default();
            p.by_outcome_mut(outcome).insert(req.to_owned_request(), ev.to_evidence());
        }
        for ((user, binding), ev) in self.credits {
            subjects.entry(user).or_default().credited_bindings.insert(binding, ev.to_evidence());
        }
        for (user, group) in self.groups {
            subjects.entry(user).or_default().groups.insert(group.into_owned());
        }
        for (user, profile) in subjects {
            set.subjects.entry(Subject::from_username(&user)).or_default().merge(profile);
        }
        set
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing a chunk

/// One unit of parallel work.
enum Work {
    /// Whole lines from a line-oriented file.
    Lines { path: String, data: Vec<u8> },
    /// A whole document (pretty JSON, JSON stream, YAML).
    Document { path: String, data: Vec<u8>, yaml: bool },
    /// A problem found while reading (too-long line, corrupt gzip), at a chunk-relative line.
    ReadError { path: String, line_after: bool, message: String },
    /// A new file starts: resets line numbering.
    FileStart,
    /// Cannot open / read at all.
    Fatal(InputError),
}

fn process(work: Work, seq: u64) -> ChunkResult {
    let mut result = ChunkResult::default();
    match work {
        Work::Lines { path, data } => {
            let mut stats = IngestStats::default();
            let mut agg = ChunkAgg::new();
            let mut line = 0usize;
            let mut start = 0usize;
            // memchr, not a per-byte closure: line splitting is on the hot path.
            let ends = memchr::memchr_iter(b'\n', &data).chain(std::iter::once(data.len()));
            for end in ends {
                let raw = &data[start..end];
                start = end + 1;
                line += 1;
                let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                if raw.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                stats.lines += 1;
                parse_line(raw, &path, line, &mut agg, &mut stats);
            }
            // `split` yields a trailing empty piece after the final newline.
            result.lines = if data.ends_with(b"\n") { line - 1 } else { line };
            result.stats = stats;
            result = agg.finish(result, seq);
        }
        Work::Document { path, data, yaml } => {
            let mut stats = IngestStats::default();
            let mut agg = ChunkAgg::new();
            parse_document(&data, yaml, &path, &mut agg, &mut stats);
            result.lines = memchr::memchr_iter(b'\n', &data).count();
            stats.lines += result.lines as u64;
            result.stats = stats;
            result = agg.finish(result, seq);
        }
        Work::ReadError { path, message, .. } => {
            result.stats.error(&path, 1, message);
        }
        Work::FileStart | Work::Fatal(_) => {}
    }
    result
}

fn parse_line<'a>(raw: &'a [u8], path: &str, line: usize, agg: &mut ChunkAgg<'a>, stats: &mut IngestStats) {
    match serde_json::from_slice::<RawEvent<'a>>(raw) {
        Ok(ev) => add_event(ev, path, line, agg, stats, 0),
        Err(e) => stats.error(path, line, format!("not valid audit JSON: {e}")),
    }
}

/// Add a decoded value: an Event, an EventList/List (recursing into items), or an envelope.
fn add_event<'a>(
    mut ev: RawEvent<'a>,
    path: &str,
    line: usize,
    agg: &mut ChunkAgg<'a>,
    stats: &mut IngestStats,
    depth: usize,
) {
    let kind = s(&ev.kind);
    if kind == "EventList" || kind == "List" || (ev.kind.is_none() && ev.items.is_some()) {
        if depth > 2 {
            stats.error(path, line, "lists nested too deeply");
            return;
        }
        for item in ev.items.unwrap_or_default() {
            add_event(item, path, line, agg, stats, depth + 1);
        }
        return;
    }
    if ev.verb.is_none() && ev.kind.is_none() {
        // CloudWatch arrays: each member is a record with its own `message`.
        if let Some(records) = ev.log_events.take().or_else(|| ev.events.take()) {
            if depth > 2 {
                stats.error(path, line, "lists nested too deeply");
                return;
            }
            for record in records {
                add_event(record, path, line, agg, stats, depth + 1);
            }
            return;
        }
        // Envelopes whose event is a JSON string: AKS `properties.log`, EKS `message`/`@message`.
        let embedded = match ev.properties.as_ref().and_then(|p| p.log.as_ref()) {
            Some(log) => Some(("properties.log", log)),
            None => ev.message.as_ref().map(|m| ("message", m)).or(ev.at_message.as_ref().map(|m| ("@message", m))),
        };
        if let Some((field, log)) = embedded {
            // Parse it and detach from the temporary.
            match serde_json::from_str::<RawEvent<'_>>(log.as_str()) {
                Ok(inner) => match normalize(inner) {
                    Ok(Some(n)) => agg.add(detach(n), stats),
                    Ok(None) => stats.skipped += 1,
                    Err(m) => stats.error(path, line, format!("{field}: {m}")),
                },
                Err(e) => stats.error(path, line, format!("{field} is not audit JSON: {e}")),
            }
            return;
        }
        if let Some(payload) = ev.proto_payload.take() {
            match gke_event(payload, ev.timestamp.take()) {
                Ok(Some(inner)) => match normalize(inner) {
                    Ok(Some(n)) => agg.add(n, stats),
                    Ok(None) => stats.skipped += 1,
                    Err(m) => stats.error(path, line, format!("protoPayload: {m}")),
                },
                Ok(None) => stats.skipped += 1,
                Err(m) => stats.error(path, line, format!("protoPayload: {m}")),
            }
            return;
        }
    }
    match normalize(ev) {
        Ok(Some(n)) => agg.add(n, stats),
        Ok(None) => stats.skipped += 1,
        Err(m) => stats.error(path, line, m),
    }
}

/// gRPC status code (GKE `protoPayload.status.code`) → the HTTP code the API server answered.
fn grpc_to_http(code: i64) -> i64 {
    match code {
        0 => 200,
        1 => 499,
        3 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 9 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// A GKE Cloud Audit Logging entry as the Event it records. `resourceName` is
/// `<group>/<version>/[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]` (`core` is the
/// core group); the verb is the last segment of `methodName` (`io.k8s.core.v1.pods.exec.create`).
/// Entries of other services, or without a method, are not Kubernetes requests (`Ok(None)`).
fn gke_event<'a>(p: RawProtoPayload<'a>, timestamp: Option<BStr<'a>>) -> Result<Option<RawEvent<'a>>, String> {
    let service = s(&p.service_name);
    if !service.is_empty() && service != "k8s.io" {
        return Ok(None);
    }
    let method = s(&p.method_name);
    if !method.starts_with("io.k8s.") {
        return Ok(None);
    }
    let verb = method.rsplit('.').next().unwrap_or_default();
    let owned = |v: &str| Some(BStr(Cow::Owned(v.to_string())));
    let resource_name = s(&p.resource_name).trim_matches('/');
    let segs: Vec<&str> = resource_name.split('/').collect();
    let mut ev = RawEvent { verb: owned(verb), request_received: timestamp, ..RawEvent::default() };
    // A resource request has at least group/version/resource.
    if segs.len() >= 3 && !segs.iter().any(|x| x.is_empty()) {
        let group = if segs[0] == "core" { "" } else { segs[0] };
        let mut rest = &segs[2..];
        let mut namespace = "";
        // `namespaces/<ns>/<resource>...` unless it is the Namespace's own status/finalize.
        if rest.len() >= 3 && rest[0] == "namespaces" && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
        {
            namespace = rest[1];
            rest = &rest[2..];
        }
        if rest.len() > 3 {
            return Err(format!("resourceName {resource_name:?} has too many segments"));
        }
        ev.object_ref = Some(RawObjectRef {
            resource: owned(rest[0]),
            namespace: owned(namespace),
            name: rest.get(1).and_then(|n| owned(n)),
            api_group: owned(group),
            api_version: owned(segs[1]),
            subresource: rest.get(2).and_then(|n| owned(n)),
        });
    } else if !resource_name.is_empty() {
        ev.request_uri = Some(BStr(Cow::Owned(format!("/{resource_name}"))));
    } else {
        return Err(format!("methodName {method:?} without a resourceName"));
    }
    ev.user = Some(RawUser { username: p.authentication.and_then(|a| a.principal), groups: None });
    let code = p.status.and_then(|st| st.code).unwrap_or(0);
    ev.response_status = Some(RawStatus { code: Some(grpc_to_http(code)) });
    let decision = match p.authorization.as_deref() {
        Some(checks) if checks.iter().any(|c| c.granted == Some(false)) => Some("forbid"),
        Some(checks) if !checks.is_empty() && checks.iter().all(|c| c.granted == Some(true)) => Some("allow"),
        _ => None,
    };
    ev.annotations = Some(RawAnnotations { decision: decision.and_then(owned), reason: None });
    Ok(Some(ev))
}

fn own(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

/// Copy every borrowed string so the event outlives its buffer.
fn detach(n: Norm<'_>) -> Norm<'static> {
    Norm {
        id: n.id.map(own),
        stage: n.stage,
        at: n.at,
        obs: n
            .obs
            .into_iter()
            .map(|(u, o, r)| {
                (
                    own(u),
                    o,
                    Req {
                        verb: own(r.verb),
                        group: own(r.group),
                        resource: own(r.resource),
                        subresource: own(r.subresource),
                        namespace: own(r.namespace),
                        name: own(r.name),
                        path: r.path.map(own),
                    },
                )
            })
            .collect(),
        user: own(n.user),
        groups: n.groups.into_iter().map(own).collect(),
        credit: n.credit,
    }
}

fn parse_document<'a>(data: &'a [u8], yaml: bool, path: &str, agg: &mut ChunkAgg<'a>, stats: &mut IngestStats) {
    if yaml {
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                let line = memchr::memchr_iter(b'\n', &data[..e.valid_up_to()]).count() + 1;
                stats.error(path, line, "YAML document is not UTF-8");
                return;
            }
        };
        match serde_saphyr::from_multiple::<Option<RawEvent<'a>>>(text) {
            Ok(docs) => {
                for doc in docs.into_iter().flatten() {
                    add_event(doc, path, 1, agg, stats, 0);
                }
            }
            Err(e) => stats.error(path, 1, format!("not valid audit YAML: {e}")),
        }
        return;
    }
    // A top-level JSON array (`gcloud logging read --format=json`, `jq -s`): its members.
    let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if body.trim_ascii_start().first() == Some(&b'[') {
        match serde_json::from_slice::<Vec<RawEvent<'a>>>(body) {
            Ok(events) => {
                for ev in events {
                    add_event(ev, path, 1, agg, stats, 0);
                }
            }
            Err(e) => stats.error(path, e.line().max(1), format!("not valid audit JSON: {e}")),
        }
        return;
    }
    let mut stream = serde_json::Deserializer::from_slice(data).into_iter::<RawEvent<'a>>();
    loop {
        let start_line = memchr::memchr_iter(b'\n', &data[..stream.byte_offset()]).count() + 1;
        match stream.next() {
            None => break,
            Some(Ok(ev)) => add_event(ev, path, start_line, agg, stats, 0),
            Some(Err(e)) => {
                // A JSON stream cannot resynchronise after a syntax error: stop this document.
                stats.error(path, e.line().max(1), format!("not valid audit JSON: {e}"));
                break;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading: sources → work items (one reader thread), in order

enum Source {
    Path(PathBuf),
    Reader(String, Box<dyn BufRead + Send>),
}

/// How a file is laid out, decided from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Lines,
    Json,
    Yaml,
}

fn sniff(head: &[u8]) -> Layout {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(head.len());
    let rest = &head[start..];
    match rest.first() {
        None => Layout::Lines,
        Some(b'[') => Layout::Json,
        Some(b'{') => {
            let first_line = match memchr::memchr(b'\n', rest) {
                Some(i) => &rest[..i],
                // One long line that does not fit the buffer: an event line.
                None => return Layout::Lines,
            };
            let trimmed = first_line.trim_ascii_end();
            if matches!(trimmed.last(), Some(b'{' | b'[' | b',' | b':')) { Layout::Json } else { Layout::Lines }
        }
        Some(_) => {
            // YAML only when the first line looks like YAML; anything else (a truncated first
            // line, garbage) stays line-oriented so one bad line costs one line.
            let first_line = rest.split(|&b| b == b'\n').next().unwrap_or(rest).trim_ascii_end();
            let key_len = first_line.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
            let yaml_key = key_len > 0
                && first_line[0].is_ascii_alphabetic()
                && first_line.get(key_len) == Some(&b':')
                && matches!(first_line.get(key_len + 1), None | Some(b' '));
            if yaml_key
                || first_line.starts_with(b"---")
                || first_line.starts_with(b"#")
                || first_line.starts_with(b"- ")
            {
                Layout::Yaml
            } else {
                Layout::Lines
            }
        }
    }
}

fn read_source(
    source: Source,
    options: &IngestOptions,
    tx: &SyncSender<Work>,
    consumed: &mut u64,
    progress: &(dyn Fn(u64) + Sync),
) -> bool {
    let (name, mut reader) = match source {
        Source::Path(p) => match input::open(&p) {
            Ok(r) => (p.display().to_string(), r),
            Err(e) => return tx.send(Work::Fatal(e)).is_ok(),
        },
        Source::Reader(name, r) => (name, r),
    };
    if tx.send(Work::FileStart).is_err() {
        return false;
    }
    let layout = match reader.fill_buf() {
        Ok(head) => sniff(head),
        Err(e) => return tx.send(Work::ReadError { path: name, line_after: false, message: e.to_string() }).is_ok(),
    };
    if layout != Layout::Lines {
        let mut data = Vec::new();
        let limit = options.max_document_bytes as u64;
        let read = (&mut reader).take(limit + 1).read_to_end(&mut data);
        *consumed += data.len() as u64;
        progress(*consumed);
        let work = match read {
            Err(e) => Work::ReadError { path: name, line_after: false, message: format!("read failed: {e}") },
            Ok(_) if data.len() as u64 > limit => Work::ReadError {
                path: name,
                line_after: false,
                message: format!("whole-document input larger than {limit} bytes; convert it to JSON lines"),
            },
            Ok(_) => Work::Document { path: name, data, yaml: layout == Layout::Yaml },
        };
        return tx.send(work).is_ok();
    }
    // Line-oriented: cut into chunks of whole lines.
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping_long = false;
    loop {
        let mut chunk = std::mem::take(&mut carry);
        chunk.reserve(options.chunk_bytes);
        let eof = loop {
            let read_failed = |e: std::io::Error, chunk: &mut Vec<u8>| {
                if !chunk.is_empty() {
                    let _ = tx.send(Work::Lines { path: name.clone(), data: std::mem::take(chunk) });
                }
                tx.send(Work::ReadError { path: name.clone(), line_after: true, message: format!("read failed: {e}") })
                    .is_ok()
            };
            if skipping_long {
                // Inside an over-long line: drop bytes up to its end.
                let buf = match reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return read_failed(e, &mut chunk),
                };
                if buf.is_empty() {
                    break true;
                }
                let n = buf.len();
                match memchr::memchr(b'\n', buf) {
                    Some(i) => {
                        reader.consume(i + 1);
                        *consumed += (i + 1) as u64;
                        skipping_long = false;
                        // Keep the line count right: an empty line stands in for the long one.
                        chunk.push(b'\n');
                    }
                    None => {
                        reader.consume(n);
                        *consumed += n as u64;
                    }
                }
                continue;
            }
            // Read straight into the chunk: large reads bypass the reader's own buffer, so the
            // bytes are copied once from the kernel, not twice.
            // At least 64 KiB, and at least doubling a chunk that holds one unfinished line, so a
            // line longer than the chunk size costs linear, not quadratic, time.
            let want = options.chunk_bytes.saturating_sub(chunk.len()).max(chunk.len()).max(1 << 16) as u64;
            match (&mut reader).take(want).read_to_end(&mut chunk) {
                Ok(0) => break true,
                Ok(got) => *consumed += got as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return read_failed(e, &mut chunk),
            }
            if chunk.len() >= options.chunk_bytes {
                break false;
            }
        };
        // Keep the incomplete last line for the next chunk.
        if !eof {
            match memchr::memrchr(b'\n', &chunk) {
                Some(i) => carry = chunk.split_off(i + 1),
                None => {
                    if chunk.len() > MAX_LINE_BYTES {
                        skipping_long = true;
                        chunk.clear();
                        let msg = format!("line longer than {MAX_LINE_BYTES} bytes skipped");
                        if tx.send(Work::ReadError { path: name.clone(), line_after: true, message: msg }).is_err() {
                            return false;
                        }
                    } else {
                        carry = chunk;
                        continue;
                    }
                }
            }
        }
        progress(*consumed);
        if !chunk.is_empty() && tx.send(Work::Lines { path: name.clone(), data: chunk }).is_err() {
            return false;
        }
        if eof {
            return true;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The ordered merge

struct Merger<'o> {
    options: &'o IngestOptions,
    strict: bool,
    profile: ApiProfileSet,
    stats: IngestStats,
    in_flight: HashMap<u64, Pending, Fx>,
    /// Line number (0-based) where the next chunk of the current file starts.
    line_base: usize,
    seq: u64,
}

impl Merger<'_> {
    fn merge(&mut self, work_kind: WorkKind, mut r: ChunkResult) -> Result<(), InputError> {
        match work_kind {
            WorkKind::FileStart => {
                self.line_base = 0;
                self.stats.files += 1;
                return Ok(());
            }
            WorkKind::ReadError { line_after } => {
                // A skipped over-long line is replaced by an empty line in the next chunk, so
                // only the error needs placing here.
                for e in &mut r.stats.errors {
                    e.line = if line_after { self.line_base + 1 } else { 1 };
                }
            }
            WorkKind::Data => {
                for e in &mut r.stats.errors {
                    e.line += self.line_base;
                }
                self.line_base += r.lines;
            }
        }
        if self.strict
            && let Some(first) = r.stats.errors.first()
        {
            return Err(InputError::Malformed(first.clone()));
        }
        for k in &r.finals {
            if self.in_flight.remove(k).is_some() {
                self.stats.duplicates += 1;
            }
        }
        for (k, p) in r.pending {
            match self.in_flight.get_mut(&k) {
                Some(existing) => {
                    self.stats.duplicates += 1;
                    if p.stage > existing.stage {
                        *existing = p;
                    }
                }
                None => {
                    self.in_flight.insert(k, p);
                }
            }
        }
        self.profile.merge(r.profile);
        self.stats.merge(r.stats);
        self.seq += 1;
        if self.in_flight.len() > self.options.max_in_flight {
            self.age_out();
        }
        Ok(())
    }

    /// Too many requests without a final stage: count the oldest half as they are.
    fn age_out(&mut self) {
        let mut seqs: Vec<u64> = self.in_flight.values().map(|p| p.seq).collect();
        seqs.sort_unstable();
        let cutoff = seqs[seqs.len() / 2];
        let old: Vec<u64> = self.in_flight.iter().filter(|(_, p)| p.seq <= cutoff).map(|(k, _)| *k).collect();
        for k in old {
            if let Some(p) = self.in_flight.remove(&k) {
                self.profile.merge(p.profile);
            }
        }
    }

    fn finish(mut self) -> (ApiProfileSet, IngestStats) {
        for (_, p) in self.in_flight.drain() {
            self.profile.merge(p.profile);
        }
        (self.profile, self.stats)
    }
}

#[derive(Clone, Copy)]
enum WorkKind {
    FileStart,
    ReadError { line_after: bool },
    Data,
}

fn run(
    sources: Vec<Source>,
    strict: bool,
    options: &IngestOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(ApiProfileSet, IngestStats), InputError> {
    let window = options.window.max(1);
    let (tx, rx): (SyncSender<Work>, Receiver<Work>) = sync_channel(window);
    let mut merger = Merger {
        options,
        strict,
        profile: ApiProfileSet::default(),
        stats: IngestStats::default(),
        in_flight: HashMap::default(),
        line_base: 0,
        seq: 0,
    };
    let mut bytes = 0u64;
    let outcome = std::thread::scope(|scope| -> Result<(), InputError> {
        let reader = scope.spawn(move || {
            let mut consumed = 0u64;
            for source in sources {
                if !read_source(source, options, &tx, &mut consumed, progress) {
                    break;
                }
            }
            consumed
        });
        let result = (|| {
            loop {
                let mut batch = Vec::with_capacity(window);
                match rx.recv() {
                    Ok(w) => batch.push(w),
                    Err(_) => return Ok(()),
                }
                while batch.len() < window {
                    match rx.try_recv() {
                        Ok(w) => batch.push(w),
                        Err(_) => break,
                    }
                }
                let base = merger.seq;
                let mut kinds = Vec::with_capacity(batch.len());
                let mut jobs = Vec::with_capacity(batch.len());
                for w in batch {
                    match w {
                        Work::Fatal(e) => return Err(e),
                        Work::FileStart => kinds.push(WorkKind::FileStart),
                        Work::ReadError { line_after, .. } => kinds.push(WorkKind::ReadError { line_after }),
                        _ => kinds.push(WorkKind::Data),
                    }
                    jobs.push(w);
                }
                let results: Vec<ChunkResult> =
                    jobs.into_par_iter().enumerate().map(|(i, w)| process(w, base + i as u64)).collect();
                for (kind, r) in kinds.into_iter().zip(results) {
                    merger.merge(kind, r)?;
                }
            }
        })();
        // On an early error, dropping the receiver stops the reader at its next send.
        drop(rx);
        match reader.join() {
            Ok(consumed) => bytes = consumed,
            Err(_) => {
                return Err(InputError::Invalid {
                    path: "audit log".to_string(),
                    message: "the reader thread panicked".to_string(),
                });
            }
        }
        result
    });
    outcome?;
    let (profile, mut stats) = merger.finish();
    stats.bytes = bytes;
    Ok((profile, stats))
}

// ---------------------------------------------------------------------------------------------
// Summaries used by tests, benches and reports

/// Distinct subjects and requests in a profile set.
pub fn summary(set: &ApiProfileSet) -> ProfileSummary {
    let mut s = ProfileSummary { subjects: set.subjects.len(), ..Default::default() };
    for p in set.subjects.values() {
        s.requests += p.total_requests();
        s.allowed_tuples += p.allowed.len();
        s.denied_tuples += p.denied.len();
        s.admission_rejected_tuples += p.admission_rejected.len();
        s.unresolved_tuples += p.unresolved.len();
    }
    s
}

/// Counts of a profile set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileSummary {
    pub subjects: usize,
    /// Observations (one per request, plus derived checks).
    pub requests: u64,
    pub allowed_tuples: usize,
    pub denied_tuples: usize,
    pub admission_rejected_tuples: usize,
    pub unresolved_tuples: usize,
}

#[cfg(test)]
mod tests;
