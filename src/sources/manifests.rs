//! Manifest source: YAML (multi-document) and JSON files, directories (recursive,
//! `.yaml`/`.yml`/`.json`), `kind: List` and `*List` containers and `kubectl get -o yaml` dumps,
//! read into a sorted, deterministic `Inventory` of typed k8s-openapi objects, each with its
//! origin (file and 1-based line of its document) and its raw JSON form.
//!
//! It parses and classifies; it never decides what to grant. Unknown kinds are kept in
//! `Inventory::other`, not errors. `metadata.managedFields` is dropped. Namespaced objects without
//! `metadata.namespace` are placed in `default` (as `kubectl apply` would) and a note says so.
//! A bad document is counted and reported with file:line and the rest continues (fatal with
//! `strict`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Namespace, Pod, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{IngestStats, InputError, SourceError, input};
use crate::model::inventory::Sourced;
use crate::model::{Inventory, ManifestOrigin, Workload, WorkloadKind, WorkloadRef};

/// File extensions read when a directory is given.
pub const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Namespace given to namespaced objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Largest manifest file read (a runaway input must not exhaust memory).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Read every manifest under `paths` into an inventory. Unreadable paths are fatal; malformed
/// documents are counted in the stats (fatal with `strict`).
pub fn load(paths: &[PathBuf], strict: bool) -> Result<(Inventory, IngestStats), InputError> {
    let files = input::expand(paths, EXTENSIONS)?;
    let mut builder = Builder::default();
    for file in &files {
        let text = read_text(file)?;
        let label = file.display().to_string();
        builder.stats.files += 1;
        builder.stats.bytes += text.len() as u64;
        builder.stats.lines += text.lines().count() as u64;
        builder.add_text(&label, &text, strict)?;
    }
    Ok(builder.finish())
}

/// Parse one file's text (YAML or JSON) into an inventory; `label` names it in origins and errors.
pub fn load_str(label: &str, text: &str, strict: bool) -> Result<(Inventory, IngestStats), InputError> {
    let mut builder = Builder::default();
    builder.stats.files = 1;
    builder.stats.bytes = text.len() as u64;
    builder.stats.lines = text.lines().count() as u64;
    builder.add_text(label, text, strict)?;
    Ok(builder.finish())
}

fn read_text(path: &Path) -> Result<String, InputError> {
    let io_err = |source| InputError::Io { path: path.display().to_string(), source };
    let reader = input::open(path)?;
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::Invalid {
            path: path.display().to_string(),
            message: format!("larger than {} MiB; not a manifest file", MAX_FILE_BYTES / (1024 * 1024)),
        });
    }
    String::from_utf8(bytes)
        .map_err(|e| InputError::Invalid { path: path.display().to_string(), message: format!("not UTF-8: {e}") })
}

/// One YAML document of a file: its text and the 1-based line of its first content line.
#[derive(Debug, PartialEq)]
struct Chunk<'a> {
    text: &'a str,
    /// First line of the chunk in the file (1-based), used to map parser errors back.
    first_line: usize,
    /// Line of the first non-blank, non-comment line (the document's start), if any.
    content_line: Option<usize>,
}

/// Split a YAML stream at document markers (`---` / `...` in column 0). The chunks keep the
/// marker-free text with the line it starts on, so errors and origins carry file lines.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start_byte = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut line_no = 0usize;
    let mut in_directives = false;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        let is_start = trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t");
        let is_end = trimmed == "..." || trimmed.starts_with("... ");
        let is_directive = trimmed.starts_with('%');
        if is_directive {
            in_directives = true;
        }
        if is_start || is_end {
            push_chunk(&mut chunks, &text[start_byte..offset], start_line);
            if is_start && trimmed.len() > 3 && !in_directives {
                // `--- value` or `--- |` : content on the marker line itself.
                let content_start = offset + 4;
                start_byte = content_start.min(offset + line.len());
            } else {
                start_byte = offset + line.len();
            }
            start_line = if is_start && trimmed.len() > 3 { line_no } else { line_no + 1 };
            in_directives = false;
        } else if is_directive {
            // Directives belong to the next document; they carry no content.
            push_chunk(&mut chunks, &text[start_byte..offset], start_line);
            start_byte = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    push_chunk(&mut chunks, &text[start_byte..], start_line);
    chunks
}

fn push_chunk<'a>(chunks: &mut Vec<Chunk<'a>>, text: &'a str, first_line: usize) {
    let content_line = text
        .lines()
        .enumerate()
        .find(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|(i, _)| first_line + i);
    chunks.push(Chunk { text, first_line, content_line });
}

/// True when the text looks like JSON rather than YAML (first significant byte `{` or `[`).
fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start_matches('\u{feff}').trim_start().as_bytes().first(), Some(b'{') | Some(b'['))
}

/// A whole chunk as concatenated JSON values with the 1-based line each starts on (relative to
/// the chunk); None when any part is not JSON.
fn parse_json_stream(text: &str) -> Option<Vec<(Value, usize)>> {
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => return Some(out),
            Some(Ok(value)) => {
                let rest = &text[start..];
                let skipped_ws = rest.len() - rest.trim_start().len();
                out.push((value, line_of_offset(text, start + skipped_ws)));
            }
            Some(Err(_)) => return None,
        }
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    memchr::memchr_iter(b'\n', &text.as_bytes()[..end]).count() + 1
}

/// One parsed document before classification.
struct Document {
    value: Value,
    line: usize,
    /// For YAML: the document's text (to locate List items); None for JSON.
    yaml_text: Option<(String, usize)>,
}

#[derive(Default)]
struct Builder {
    inv: Inventory,
    stats: IngestStats,
    seen: BTreeSet<(String, String, String)>,
    defaulted_namespace: usize,
    owned_skipped: usize,
    /// Document index within the current file.
    doc_index: usize,
}

impl Builder {
    fn fail(&mut self, path: &str, line: usize, message: String, strict: bool) -> Result<(), InputError> {
        if strict {
            return Err(InputError::Malformed(SourceError { path: path.to_string(), line, message }));
        }
        self.stats.error(path, line, message);
        Ok(())
    }

    fn add_text(&mut self, path: &str, text: &str, strict: bool) -> Result<(), InputError> {
        self.doc_index = 0;
        let before_default = self.defaulted_namespace;
        let docs = self.parse_documents(path, text, strict)?;
        for doc in docs {
            self.add_document(path, doc, strict)?;
        }
        let defaulted = self.defaulted_namespace - before_default;
        if defaulted > 0 {
            self.stats.notes.push(format!(
                "{path}: {defaulted} namespaced object(s) without metadata.namespace placed in namespace `{DEFAULT_NAMESPACE}`"
            ));
        }
        Ok(())
    }

    /// Every document of a file. Each `---`-separated chunk that looks like JSON is read as a
    /// JSON stream (several concatenated values allowed); anything else, or JSON that does not
    /// parse (e.g. a YAML flow mapping `{a: 1}`), is read as YAML.
    fn parse_documents(&mut self, path: &str, text: &str, strict: bool) -> Result<Vec<Document>, InputError> {
        let mut docs = Vec::new();
        for chunk in split_documents(text) {
            let Some(line) = chunk.content_line else { continue };
            if looks_like_json(chunk.text)
                && let Some(values) = parse_json_stream(chunk.text)
            {
                for (value, offset_line) in values {
                    docs.push(Document { value, line: chunk.first_line + offset_line - 1, yaml_text: None });
                }
                continue;
            }
            match serde_saphyr::from_str_with_options::<Value>(chunk.text, yaml_options()) {
                Ok(Value::Null) => {}
                Ok(value) => {
                    docs.push(Document { value, line, yaml_text: Some((chunk.text.to_string(), chunk.first_line)) })
                }
                Err(e) => {
                    let at = e
                        .location()
                        .map(|l| chunk.first_line + usize::try_from(l.line()).unwrap_or(1).saturating_sub(1))
                        .unwrap_or(line);
                    let message = first_line_of(&e.without_snippet().to_string());
                    self.fail(path, at, format!("invalid YAML: {message}"), strict)?;
                }
            }
        }
        Ok(docs)
    }

    fn add_document(&mut self, path: &str, doc: Document, strict: bool) -> Result<(), InputError> {
        let Document { value, line, yaml_text } = doc;
        let Value::Object(map) = &value else {
            self.doc_index += 1;
            return self.fail(
                path,
                line,
                format!("document is a {}, not a Kubernetes object", type_name(&value)),
                strict,
            );
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let items = map.get("items");
        if is_list_kind(&kind) && matches!(items, Some(Value::Array(_)) | Some(Value::Null) | None) {
            let items = match items {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            let lines = yaml_text
                .as_ref()
                .map(|(t, first)| list_item_lines(t, *first))
                .filter(|l| l.len() == items.len())
                .unwrap_or_else(|| vec![line; items.len()]);
            for (item, item_line) in items.into_iter().zip(lines) {
                self.add_object(path, item_line, item, strict)?;
            }
            return Ok(());
        }
        self.add_object(path, line, value, strict)
    }

    fn add_object(&mut self, path: &str, line: usize, mut value: Value, strict: bool) -> Result<(), InputError> {
        let origin = ManifestOrigin { path: path.to_string(), line, document: self.doc_index };
        self.doc_index += 1;
        let Value::Object(map) = &mut value else {
            return self.fail(
                path,
                line,
                format!("list item is a {}, not a Kubernetes object", type_name(&value)),
                strict,
            );
        };
        let kind = map.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
        if kind.is_empty() || api_version.is_empty() {
            return self.fail(path, line, "object without `apiVersion` and `kind`".to_string(), strict);
        }
        if let Some(Value::Object(meta)) = map.get_mut("metadata") {
            meta.remove("managedFields");
        }
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let modelled = modelled_kind(group, &kind);
        if modelled.is_none() {
            self.stats.records += 1;
            self.inv.other.push((format!("{api_version}/{kind}"), origin));
            return Ok(());
        }
        if name.is_empty() && value.pointer("/metadata/generateName").is_none() {
            return self.fail(path, line, format!("{kind} without metadata.name"), strict);
        }
        let namespaced = !matches!(kind.as_str(), "ClusterRole" | "ClusterRoleBinding" | "Namespace");
        let mut namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
        if namespaced && namespace.is_empty() {
            namespace = DEFAULT_NAMESPACE.to_string();
            self.defaulted_namespace += 1;
        }
        if !self.seen.insert((kind.clone(), namespace.clone(), name.clone())) {
            self.stats.duplicates += 1;
            self.stats.notes.push(format!("{origin}: duplicate {kind} {namespace}/{name} ignored (first one kept)"));
            return Ok(());
        }
        match self.classify(&kind, &namespace, &origin, &value) {
            Ok(true) => self.stats.records += 1,
            Ok(false) => {
                self.stats.skipped += 1;
                self.owned_skipped += 1;
            }
            Err(message) => {
                self.seen.remove(&(kind.clone(), namespace.clone(), name.clone()));
                return self.fail(path, line, format!("{kind} {namespace}/{name}: {message}"), strict);
            }
        }
        Ok(())
    }

    /// Store the object in its typed slot. Returns Ok(false) when it is deliberately not a
    /// workload of its own (a Pod/ReplicaSet/Job controlled by another workload).
    fn classify(&mut self, kind: &str, namespace: &str, origin: &ManifestOrigin, raw: &Value) -> Result<bool, String> {
        let ns = Some(namespace.to_string()).filter(|n| !n.is_empty());
        match kind {
            "ServiceAccount" => {
                self.inv.service_accounts.push(sourced::<ServiceAccount>(raw, origin, ns, |o| &mut o.metadata)?)
            }
            "Role" => self.inv.roles.push(sourced::<Role>(raw, origin, ns, |o| &mut o.metadata)?),
            "ClusterRole" => {
                self.inv.cluster_roles.push(sourced::<ClusterRole>(raw, origin, None, |o| &mut o.metadata)?)
            }
            "RoleBinding" => self.inv.role_bindings.push(sourced::<RoleBinding>(raw, origin, ns, |o| &mut o.metadata)?),
            "ClusterRoleBinding" => {
                self.inv
                    .cluster_role_bindings
                    .push(sourced::<ClusterRoleBinding>(raw, origin, None, |o| &mut o.metadata)?)
            }
            "NetworkPolicy" => {
                self.inv.network_policies.push(sourced::<NetworkPolicy>(raw, origin, ns, |o| &mut o.metadata)?)
            }
            "Service" => self.inv.services.push(sourced::<Service>(raw, origin, ns, |o| &mut o.metadata)?),
            "Namespace" => self.inv.namespaces.push(sourced::<Namespace>(raw, origin, None, |o| &mut o.metadata)?),
            other => {
                let Some(wk) = WorkloadKind::parse(other) else { return Err(format!("unsupported kind {other}")) };
                if is_controlled(raw) && matches!(wk, WorkloadKind::Pod | WorkloadKind::ReplicaSet | WorkloadKind::Job)
                {
                    return Ok(false);
                }
                self.inv.workloads.push(workload(wk, namespace, origin, raw)?);
            }
        }
        Ok(true)
    }

    fn finish(mut self) -> (Inventory, IngestStats) {
        if self.owned_skipped > 0 {
            self.stats.notes.push(format!(
                "{} Pod/ReplicaSet/Job object(s) controlled by another workload were not listed as workloads of their own",
                self.owned_skipped
            ));
        }
        sort_inventory(&mut self.inv);
        (self.inv, self.stats)
    }
}

/// YAML as kubectl reads it: only `true`/`false` are booleans (so `namespace: n` stays a
/// string), `0644` is octal (`defaultMode`), no source snippets in errors.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
        with_snippet: false,
    }
}

fn first_line_of(s: &str) -> String {
    s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("parse error").to_string()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "sequence",
        Value::Object(_) => "mapping",
    }
}

/// `List`, `v1/List` and the typed lists kubectl prints (`PodList`, `RoleList`, ...).
fn is_list_kind(kind: &str) -> bool {
    kind == "List" || (kind.len() > 4 && kind.ends_with("List"))
}

/// Kinds modelled in the inventory, with the API groups that serve them.
fn modelled_kind(group: &str, kind: &str) -> Option<()> {
    let ok = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => matches!(group, "apps" | "extensions"),
        "Job" | "CronJob" => group == "batch",
        "Pod" | "ServiceAccount" | "Service" | "Namespace" => group.is_empty(),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => group == "rbac.authorization.k8s.io",
        "NetworkPolicy" => matches!(group, "networking.k8s.io" | "extensions"),
        _ => false,
    };
    ok.then_some(())
}

/// Lines of the items of a YAML `List` document: the `- ` entries directly under a top-level
/// `items:` key. Returns an empty vector when the shape is unusual (callers fall back).
fn list_item_lines(text: &str, first_line: usize) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut in_items = false;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let depth = line.len() - trimmed.len();
        if depth == 0 && !trimmed.starts_with('-') {
            in_items = trimmed.starts_with("items:");
            continue;
        }
        if !in_items {
            continue;
        }
        if trimmed == "-" || trimmed.starts_with("- ") {
            match indent {
                None => {
                    indent = Some(depth);
                    lines.push(first_line + i);
                }
                Some(d) if d == depth => lines.push(first_line + i),
                _ => {}
            }
        }
    }
    lines
}

/// True when `metadata.ownerReferences` has a controller reference (the object is managed by
/// another workload: a Deployment's ReplicaSet, a ReplicaSet's Pod, a CronJob's Job).
fn is_controlled(raw: &Value) -> bool {
    raw.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| refs.iter().any(|r| r.get("controller").and_then(Value::as_bool) == Some(true)))
}

fn sourced<T: DeserializeOwned>(
    raw: &Value,
    origin: &ManifestOrigin,
    namespace: Option<String>,
    meta: impl FnOnce(&mut T) -> &mut ObjectMeta,
) -> Result<Sourced<T>, String> {
    let mut object: T = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
    if let Some(ns) = namespace {
        meta(&mut object).namespace = Some(ns);
    }
    Ok(Sourced { object, origin: origin.clone(), raw: raw.clone() })
}

fn workload(kind: WorkloadKind, namespace: &str, origin: &ManifestOrigin, raw: &Value) -> Result<Workload, String> {
    let name = raw.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let (template, selector) = match kind {
        WorkloadKind::Pod => {
            let pod: Pod = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
            let labels = pod.metadata.labels.clone();
            let template = PodTemplateSpec { metadata: Some(pod.metadata), spec: pod.spec };
            (template, LabelSelector { match_labels: labels, match_expressions: None })
        }
        _ => {
            let spec_path = if kind == WorkloadKind::CronJob { "/spec/jobTemplate/spec" } else { "/spec" };
            let spec = raw.pointer(spec_path).ok_or_else(|| format!("missing {}", spec_path.replace('/', ".")))?;
            let template: PodTemplateSpec = match spec.get("template") {
                Some(t) => serde_json::from_value(t.clone()).map_err(|e| format!("spec.template: {e}"))?,
                None => return Err("missing spec.template".to_string()),
            };
            let selector: Option<LabelSelector> = match spec.get("selector") {
                Some(s) if !s.is_null() => {
                    Some(serde_json::from_value(s.clone()).map_err(|e| format!("spec.selector: {e}"))?)
                }
                _ => None,
            };
            let selector = selector.unwrap_or_else(|| LabelSelector {
                match_labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                match_expressions: None,
            });
            (template, selector)
        }
    };
    let pod_spec = template.spec.as_ref();
    #[allow(deprecated)]
    let service_account = pod_spec
        .and_then(|s| s.service_account_name.clone().filter(|n| !n.is_empty()).or_else(|| s.service_account.clone()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string());
    Ok(Workload {
        id: WorkloadRef { namespace: namespace.to_string(), kind, name },
        service_account,
        template,
        selector,
        origin: origin.clone(),
        raw: raw.clone(),
    })
}

fn meta_key(m: &ObjectMeta) -> (String, String) {
    (m.namespace.clone().unwrap_or_default(), m.name.clone().unwrap_or_default())
}

/// Sort every list so iteration (and therefore output) is deterministic.
pub fn sort_inventory(inv: &mut Inventory) {
    inv.workloads.sort_by(|a, b| {
        (&a.id.namespace, &a.id.name, a.id.kind)
            .cmp(&(&b.id.namespace, &b.id.name, b.id.kind))
            .then(a.origin.cmp(&b.origin))
    });
    inv.service_accounts.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.roles.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.cluster_roles.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.role_bindings.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.cluster_role_bindings.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.network_policies.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.services.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.namespaces.sort_by_key(|a| meta_key(&a.object.metadata));
    inv.other.sort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsupport::shared_data;

    fn parse(text: &str) -> (Inventory, IngestStats) {
        load_str("t.yaml", text, false).expect("non-strict load never fails on content")
    }

    fn kinds(inv: &Inventory) -> Vec<usize> {
        vec![
            inv.workloads.len(),
            inv.service_accounts.len(),
            inv.roles.len(),
            inv.cluster_roles.len(),
            inv.role_bindings.len(),
            inv.cluster_role_bindings.len(),
            inv.network_policies.len(),
            inv.services.len(),
            inv.namespaces.len(),
            inv.other.len(),
        ]
    }

    #[test]
    fn online_boutique_counts() {
        let Some(p) = shared_data("apps/online-boutique/kubernetes-manifests.yaml") else { return };
        let (inv, stats) = load(&[p], true).expect("loads strictly");
        assert_eq!(stats.malformed, 0);
        assert_eq!(inv.workloads.len(), 12);
        assert!(inv.workloads.iter().all(|w| w.id.kind == WorkloadKind::Deployment));
        assert_eq!(inv.services.len(), 12);
        assert_eq!(inv.service_accounts.len(), 11);
        // No namespace in the upstream file: everything lands in `default`, and we say so.
        assert!(inv.workloads.iter().all(|w| w.id.namespace == "default"));
        assert!(stats.notes.iter().any(|n| n.contains("35 namespaced object(s)")), "{:?}", stats.notes);
        let cart = inv.workloads.iter().find(|w| w.id.name == "cartservice").expect("cartservice");
        assert_eq!(cart.service_account, "cartservice");
        // Origins point at the document start line in the file.
        let text = std::fs::read_to_string(&cart.origin.path).expect("read");
        let line = text.lines().nth(cart.origin.line - 1).expect("line exists");
        assert_eq!(line, "apiVersion: apps/v1");
        let loadgen = inv.workloads.iter().find(|w| w.id.name == "loadgenerator").expect("loadgenerator");
        assert_eq!(loadgen.service_account, "loadgenerator");
    }

    #[test]
    fn online_boutique_network_policies_directory() {
        let Some(p) = shared_data("apps/online-boutique/network-policies") else { return };
        let (inv, stats) = load(&[p], true).expect("loads strictly");
        assert_eq!(stats.files, 14);
        assert_eq!(inv.network_policies.len(), 13);
        // kustomization.yaml is a Component: kept as other, not an error.
        assert_eq!(inv.other.len(), 1);
        assert!(inv.other[0].0.ends_with("/Component"));
        let names: Vec<_> =
            inv.network_policies.iter().map(|n| n.object.metadata.name.clone().unwrap_or_default()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn sock_shop_counts() {
        let Some(p) = shared_data("apps/sock-shop/complete-demo.yaml") else { return };
        let (inv, stats) = load(&[p], true).expect("loads strictly");
        assert_eq!(stats.malformed, 0);
        assert_eq!(inv.workloads.len(), 14);
        assert_eq!(inv.services.len(), 14);
        assert_eq!(inv.namespaces.len(), 1);
        assert!(inv.workloads.iter().all(|w| w.id.namespace == "sock-shop"));
        // Pods without serviceAccountName run as `default`.
        assert!(inv.workloads.iter().any(|w| w.service_account == "default"));
        let Some(np) = shared_data("apps/sock-shop/network-policies") else { return };
        let (inv, _) = load(&[np], true).expect("loads");
        assert_eq!(inv.network_policies.len(), 13);
    }

    #[test]
    fn aks_store_counts() {
        let Some(p) = shared_data("apps/aks-store-demo/aks-store-all-in-one.yaml") else { return };
        let (inv, stats) = load(&[p], true).expect("loads strictly");
        assert_eq!(stats.malformed, 0);
        let deployments = inv.workloads.iter().filter(|w| w.id.kind == WorkloadKind::Deployment).count();
        let statefulsets = inv.workloads.iter().filter(|w| w.id.kind == WorkloadKind::StatefulSet).count();
        assert_eq!((deployments, statefulsets), (7, 2));
        assert_eq!(inv.services.len(), 7);
        assert_eq!(inv.other.len(), 1);
        assert_eq!(inv.other[0].0, "v1/ConfigMap");
    }

    #[test]
    fn empty_documents_and_markers_only() {
        let (inv, stats) = parse("");
        assert_eq!(kinds(&inv), vec![0; 10]);
        assert_eq!(stats.malformed, 0);
        let (inv, stats) = parse("---\n---\n...\n---\n# only a comment\n");
        assert_eq!(kinds(&inv), vec![0; 10]);
        assert_eq!(stats.malformed, 0);
    }

    #[test]
    fn helm_style_comments_and_lines() {
        let text = "---\n# Source: chart/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: app\n  namespace: ns\n---\n# Source: chart/templates/role.yaml\n\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: ns\nrules: []\n";
        let (inv, stats) = parse(text);
        assert_eq!(stats.records, 2);
        assert_eq!(inv.service_accounts[0].origin.line, 3);
        assert_eq!(inv.roles[0].origin.line, 11);
        assert_eq!(inv.roles[0].origin.document, 1);
    }

    #[test]
    fn cluster_role_with_null_rules_and_managed_fields_dropped() {
        let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: agg\n  managedFields:\n  - manager: kubectl\naggregationRule:\n  clusterRoleSelectors:\n  - matchLabels:\n      rbac.example.com/aggregate: \"true\"\nrules: null\n";
        let (inv, stats) = parse(text);
        assert_eq!(stats.malformed, 0);
        assert_eq!(inv.cluster_roles.len(), 1);
        assert!(inv.cluster_roles[0].object.rules.is_none());
        assert!(inv.cluster_roles[0].raw.pointer("/metadata/managedFields").is_none());
        assert!(inv.cluster_roles[0].object.metadata.namespace.is_none());
    }

    #[test]
    fn lists_and_kubectl_dumps() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata:\n    name: a\n    namespace: x\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n    namespace: x\n  spec:\n    selector:\n      matchLabels: {app: web}\n    template:\n      metadata:\n        labels: {app: web}\n      spec:\n        serviceAccountName: a\n        containers:\n        - name: c\n          image: nginx\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: web-abc\n    namespace: x\n    ownerReferences:\n    - {apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: u, controller: true}\n  spec:\n    containers:\n    - name: c\n      image: nginx\nmetadata:\n  resourceVersion: \"\"\n";
        let (inv, stats) = parse(text);
        assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
        assert_eq!(inv.service_accounts.len(), 1);
        assert_eq!(inv.workloads.len(), 1);
        assert_eq!(stats.skipped, 1, "controlled pod is not a workload of its own");
        assert_eq!(inv.service_accounts[0].origin.line, 4);
        assert_eq!(inv.workloads[0].origin.line, 9);
        assert_eq!(inv.workloads[0].service_account, "a");
        // Typed lists too.
        let typed = "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccountList\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"b\",\"namespace\":\"y\"}}]}";
        let (inv, _) = load_str("t.json", typed, true).expect("json list");
        assert_eq!(inv.service_accounts.len(), 1);
    }

    #[test]
    fn json_stream_lines() {
        let text = "\n{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"a\"}}\n\n{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"},\"spec\":{}}\n";
        let (inv, stats) = load_str("t.json", text, true).expect("json");
        assert_eq!(inv.namespaces[0].origin.line, 2);
        assert_eq!(inv.services[0].origin.line, 4);
        assert_eq!(inv.services[0].object.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(stats.notes.len(), 1);
    }

    #[test]
    fn malformed_documents_are_counted_and_the_rest_continues() {
        let text = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ok1\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: [unclosed\n---\n- just\n- a list\n---\nkind: Role\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules:\n- verbs: 7\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ok2\n";
        let (inv, stats) = parse(text);
        assert_eq!(inv.service_accounts.len(), 2);
        assert_eq!(stats.malformed, 4, "{:?}", stats.errors);
        let lines: Vec<usize> = stats.errors.iter().map(|e| e.line).collect();
        assert!(lines[0] >= 6 && lines[0] <= 10, "yaml error located in the 2nd document: {lines:?}");
        assert_eq!(&lines[1..], &[11, 14, 16]);
        assert!(stats.errors[3].to_string().starts_with("t.yaml:16: Role default/r:"));
        // Strict: the first bad document is fatal and names file and line.
        let err = load_str("t.yaml", text, true).expect_err("strict fails");
        match err {
            InputError::Malformed(e) => assert_eq!(e.path, "t.yaml"),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn unknown_kinds_are_kept_not_errors() {
        let text = "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata:\n  k: v\n";
        let (inv, stats) = parse(text);
        assert_eq!(stats.malformed, 0);
        assert_eq!(inv.other.len(), 2);
        assert_eq!(stats.records, 2);
    }

    #[test]
    fn workloads_of_every_kind() {
        let text = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: n}
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        metadata: {labels: {job: nightly}}
        spec:
          serviceAccountName: reporter
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: n}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: n, labels: {run: bare}}
spec: {containers: [{name: c, image: x}]}
"#;
        let (inv, stats) = parse(text);
        assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
        let ids: Vec<_> =
            inv.workloads.iter().map(|w| (w.id.name.as_str(), w.id.kind, w.service_account.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                ("agent", WorkloadKind::DaemonSet, "default"),
                ("bare", WorkloadKind::Pod, "default"),
                ("nightly", WorkloadKind::CronJob, "reporter")
            ]
        );
        let cron = &inv.workloads[2];
        assert_eq!(cron.selector.match_labels.as_ref().and_then(|l| l.get("job")).map(String::as_str), Some("nightly"));
        let bare = &inv.workloads[1];
        assert_eq!(bare.selector.match_labels.as_ref().and_then(|l| l.get("run")).map(String::as_str), Some("bare"));
    }

    #[test]
    fn duplicate_objects_keep_the_first() {
        let text = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: n}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, namespace: n, labels: {x: y}}\n";
        let (inv, stats) = parse(text);
        assert_eq!(inv.service_accounts.len(), 1);
        assert_eq!(stats.duplicates, 1);
        assert!(inv.service_accounts[0].object.metadata.labels.is_none());
    }

    #[test]
    fn crlf_bom_and_marker_comments() {
        let text = "\u{feff}apiVersion: v1\r\nkind: ServiceAccount\r\nmetadata:\r\n  name: a\r\n  namespace: n\r\n--- # second\r\napiVersion: v1\r\nkind: ServiceAccount\r\nmetadata: {name: b, namespace: n}\r\n";
        let (inv, stats) = parse(text);
        assert_eq!(stats.malformed, 0, "{:?}", stats.errors);
        assert_eq!(inv.service_accounts.len(), 2);
        assert_eq!(inv.service_accounts[1].origin.line, 7);
    }

    #[test]
    fn json_documents_separated_by_markers_and_flow_mappings() {
        let text = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Namespace\",\n  \"metadata\": {\"name\": \"a\"}\n}\n---\n{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}}\n---\n{apiVersion: v1, kind: Namespace, metadata: {name: c}}\n---\n{\"apiVersion\": \"v1\", broken\n";
        let (inv, stats) = parse(text);
        let names: Vec<_> = inv
            .namespaces
            .iter()
            .map(|n| (n.object.metadata.name.clone().unwrap_or_default(), n.origin.line))
            .collect();
        assert_eq!(names, vec![("a".to_string(), 1), ("b".to_string(), 7), ("c".to_string(), 9)]);
        assert_eq!(stats.malformed, 1);
        assert_eq!(stats.errors[0].line, 11, "{:?}", stats.errors);
    }

    #[test]
    fn split_keeps_lines() {
        let chunks = split_documents("a: 1\n---\n\nb: 2\n--- \n");
        assert_eq!(chunks.iter().map(|c| c.content_line).collect::<Vec<_>>(), vec![Some(1), Some(4), None]);
    }

    #[test]
    fn directory_load_is_sorted_and_deterministic() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("b.yaml"),
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b, namespace: n}\n",
        )
        .expect("w");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(
            dir.path().join("sub/a.json"),
            "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}",
        )
        .expect("w");
        std::fs::write(dir.path().join("notes.txt"), "not: read").expect("w");
        let (inv, stats) = load(&[dir.path().to_path_buf()], true).expect("load");
        assert_eq!(stats.files, 2);
        let names: Vec<_> =
            inv.service_accounts.iter().map(|s| s.object.metadata.name.clone().unwrap_or_default()).collect();
        assert_eq!(names, vec!["a", "b"]);
    }
}
