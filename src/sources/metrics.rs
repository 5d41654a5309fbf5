//! Resource metrics per container over a window: Prometheus HTTP API query results (matrix or
//! vector; `container_cpu_usage_seconds_total` as a raw counter, converted to cores by
//! per-interval rate, or an already-rated series; `container_memory_working_set_bytes`),
//! metrics-server `PodMetrics` / `PodMetricsList` JSON, and `kubectl top pod --containers`
//! output (whitespace table or CSV, with or without a NAMESPACE column).
//!
//! Which resource a Prometheus series carries: its `__name__` label; for rated series without a
//! name, the file name (`*cpu*` → cores, `*mem*` → bytes). cAdvisor's pod-level series
//! (`container=""` and `container="POD"`) are skipped. Pods are attributed to workloads with
//! `provenance::workload_for_pod`. `kubectl top` has no timestamp: its samples carry time 0
//! ("unknown") unless the file has a `# time: <RFC 3339>` comment line.
//!
//! Must not decide anything about sizing (that is `synth::deploy`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::input;
use super::provenance::workload_for_pod;
use super::{IngestStats, InputError};
use crate::model::{ContainerRef, Inventory, MetricSample, Timestamp};
use crate::profile::MetricsSet;

/// Largest single metrics document read whole (Prometheus/PodMetrics JSON).
pub const MAX_DOCUMENT_BYTES: u64 = 512 * 1024 * 1024;

/// One sample before attribution: (namespace, pod, container, sample).
#[derive(Debug, Clone, PartialEq)]
pub struct PodSample {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub sample: MetricSample,
}

pub fn ingest(
    paths: &[PathBuf],
    inventory: &Inventory,
    strict: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(MetricsSet, IngestStats), InputError> {
    let files = input::expand(paths, &["json", "csv", "txt", "gz", "log", "top"])?;
    let mut set = MetricsSet::default();
    let mut stats = IngestStats::default();
    let mut consumed = 0u64;
    for file in files {
        let label = file.display().to_string();
        let mut reader = input::open(&file)?;
        let mut buf = Vec::new();
        let n = (&mut reader)
            .take(MAX_DOCUMENT_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|source| InputError::Io { path: label.clone(), source })?;
        stats.files += 1;
        stats.bytes += n as u64;
        consumed += n as u64;
        progress(consumed);
        if n as u64 > MAX_DOCUMENT_BYTES {
            stats.error(&label, 1, format!("document larger than {MAX_DOCUMENT_BYTES} bytes"));
            continue;
        }
        let before = stats.errors.len();
        let before_malformed = stats.malformed;
        let samples = parse_document(&buf, &file, &mut stats);
        if strict
            && stats.malformed > before_malformed
            && let Some(e) = stats.errors.get(before).cloned()
        {
            return Err(InputError::Malformed(e));
        }
        let mut per: BTreeMap<ContainerRef, Vec<MetricSample>> = BTreeMap::new();
        for s in samples {
            let workload = workload_for_pod(inventory, &s.namespace, &s.pod);
            per.entry(ContainerRef { workload, container: s.container }).or_default().push(s.sample);
        }
        set.merge(MetricsSet { series: per });
    }
    // Samples of the same container and time (CPU and memory from separate files) are joined.
    for v in set.series.values_mut() {
        *v = join_same_time(std::mem::take(v));
    }
    Ok((set, stats))
}

/// Combine samples at the same timestamp that carry different resources.
fn join_same_time(samples: Vec<MetricSample>) -> Vec<MetricSample> {
    let mut out: Vec<MetricSample> = Vec::with_capacity(samples.len());
    for s in samples {
        if let Some(last) = out.last_mut()
            && last.at == s.at
            && s.at.0 != 0
            && (last.cpu_cores.is_none() || s.cpu_cores.is_none())
            && (last.memory_bytes.is_none() || s.memory_bytes.is_none())
        {
            last.cpu_cores = last.cpu_cores.or(s.cpu_cores);
            last.memory_bytes = last.memory_bytes.or(s.memory_bytes);
            continue;
        }
        out.push(s);
    }
    out
}

/// Parse one document of any supported format.
pub fn parse_document(buf: &[u8], path: &Path, stats: &mut IngestStats) -> Vec<PodSample> {
    let label = path.display().to_string();
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(_) => {
            stats.error(&label, 1, "not UTF-8");
            return Vec::new();
        }
    };
    let trimmed = text.trim_start();
    stats.lines += text.lines().count() as u64;
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = match serde_json::from_str(trimmed) {
            Ok(v) => v,
            Err(e) => {
                stats.error(&label, e.line(), format!("invalid JSON: {e}"));
                return Vec::new();
            }
        };
        let name_hint = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_ascii_lowercase();
        if value.get("data").is_some() && value.get("status").is_some() {
            return parse_prometheus(&value, &name_hint, &label, stats);
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind == "PodMetrics" || kind == "PodMetricsList" || value.get("containers").is_some() {
            return parse_pod_metrics(&value, &label, stats);
        }
        if value.get("items").is_some() {
            return parse_pod_metrics(&value, &label, stats);
        }
        stats.error(&label, 1, "unrecognised metrics JSON: expected a Prometheus API response or PodMetrics");
        return Vec::new();
    }
    parse_top(text, &label, stats)
}

fn label_of<'a>(metric: &'a Value, k: &str) -> &'a str {
    metric.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `[ts, "value"]` → (timestamp, value).
fn point(p: &Value) -> Option<(Timestamp, f64)> {
    let a = p.as_array()?;
    let ts = a.first()?.as_f64()?;
    let v: f64 = match a.get(1)? {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    if !ts.is_finite() || ts < 0.0 {
        return None;
    }
    Some((Timestamp((ts * 1e6).round() as i64), v))
}

#[derive(Clone, Copy, PartialEq)]
enum Series {
    CpuCounter,
    CpuRate,
    Memory,
}

fn parse_prometheus(v: &Value, name_hint: &str, label: &str, stats: &mut IngestStats) -> Vec<PodSample> {
    if v.get("status").and_then(Value::as_str) != Some("success") {
        stats.error(label, 1, "Prometheus response status is not `success`");
        return Vec::new();
    }
    let Some(result) = v.get("data").and_then(|d| d.get("result")).and_then(Value::as_array) else {
        stats.error(label, 1, "Prometheus response without data.result");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, series) in result.iter().enumerate() {
        let metric = series.get("metric").cloned().unwrap_or(Value::Null);
        let name = label_of(&metric, "__name__");
        let kind = match name {
            "container_cpu_usage_seconds_total" => Series::CpuCounter,
            "container_memory_working_set_bytes" => Series::Memory,
            "" if name_hint.contains("cpu") => Series::CpuRate,
            "" if name_hint.contains("mem") => Series::Memory,
            other => {
                stats.error(
                    label,
                    1,
                    format!(
                        "result[{i}]: cannot tell CPU from memory (metric `{other}`); name the file *cpu* or *mem*"
                    ),
                );
                continue;
            }
        };
        let container = label_of(&metric, "container");
        let container = if container.is_empty() { label_of(&metric, "container_name") } else { container };
        if container.is_empty() || container == "POD" {
            stats.skipped += 1;
            continue;
        }
        let pod = {
            let p = label_of(&metric, "pod");
            if p.is_empty() { label_of(&metric, "pod_name") } else { p }
        };
        let namespace = label_of(&metric, "namespace");
        if pod.is_empty() || namespace.is_empty() {
            stats.error(label, 1, format!("result[{i}]: series without namespace/pod labels"));
            continue;
        }
        let mut points: Vec<(Timestamp, f64)> = Vec::new();
        let raw_points: Vec<Value> = match (series.get("values"), series.get("value")) {
            (Some(Value::Array(a)), _) => a.clone(),
            (_, Some(p)) => vec![p.clone()],
            _ => {
                stats.error(label, 1, format!("result[{i}]: no values"));
                continue;
            }
        };
        for p in &raw_points {
            match point(p) {
                Some(x) if x.1.is_finite() && x.1 >= 0.0 => points.push(x),
                _ => stats.error(label, 1, format!("result[{i}]: malformed point {p}")),
            }
        }
        points.sort_by_key(|p| p.0);
        let mk = |at: Timestamp, cpu: Option<f64>, mem: Option<f64>| PodSample {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
            sample: MetricSample { at, cpu_cores: cpu, memory_bytes: mem },
        };
        match kind {
            Series::Memory => out.extend(points.iter().map(|(t, x)| mk(*t, None, Some(*x)))),
            Series::CpuRate => out.extend(points.iter().map(|(t, x)| mk(*t, Some(*x), None))),
            Series::CpuCounter => {
                for w in points.windows(2) {
                    let (t0, c0) = w[0];
                    let (t1, c1) = w[1];
                    let dt = (t1.0 - t0.0) as f64 / 1e6;
                    if dt <= 0.0 {
                        continue;
                    }
                    // counter reset: the new value is the increase since the reset
                    let inc = if c1 >= c0 { c1 - c0 } else { c1 };
                    out.push(mk(t1, Some(inc / dt), None));
                }
            }
        }
        stats.records += raw_points.len() as u64;
    }
    out
}

/// Kubernetes quantity → base units (cores for CPU, bytes for memory).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0f64.powi(2)),
        ("Gi", 1024.0f64.powi(3)),
        ("Ti", 1024.0f64.powi(4)),
        ("Pi", 1024.0f64.powi(5)),
        ("Ei", 1024.0f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (s, mult) in suffixes {
        if let Some(num) = q.strip_suffix(s) {
            return num.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0).map(|x| x * mult);
        }
    }
    if let Some(num) = q.strip_suffix('P') {
        return num.parse::<f64>().ok().map(|x| x * 1e15);
    }
    if let Some(num) = q.strip_suffix('E')
        && !num.contains(['e', 'E'])
    {
        return num.parse::<f64>().ok().map(|x| x * 1e18);
    }
    q.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0)
}

fn parse_pod_metrics(v: &Value, label: &str, stats: &mut IngestStats) -> Vec<PodSample> {
    let items: Vec<&Value> = match v.get("items").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None => vec![v],
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ns = item.get("metadata").and_then(|m| m.get("namespace")).and_then(Value::as_str);
        let pod = item.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str);
        let (Some(ns), Some(pod)) = (ns, pod) else {
            stats.error(label, 1, format!("items[{i}]: PodMetrics without metadata.namespace/name"));
            continue;
        };
        let at = item.get("timestamp").and_then(Value::as_str).and_then(Timestamp::parse_rfc3339).unwrap_or_default();
        let Some(containers) = item.get("containers").and_then(Value::as_array) else {
            stats.error(label, 1, format!("items[{i}]: PodMetrics without containers"));
            continue;
        };
        for c in containers {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let usage = c.get("usage");
            let cpu = usage.and_then(|u| u.get("cpu")).and_then(Value::as_str).and_then(parse_quantity);
            let mem = usage.and_then(|u| u.get("memory")).and_then(Value::as_str).and_then(parse_quantity);
            if name.is_empty() || (cpu.is_none() && mem.is_none()) {
                stats.error(label, 1, format!("items[{i}]: container without name or usage"));
                continue;
            }
            stats.records += 1;
            out.push(PodSample {
                namespace: ns.to_string(),
                pod: pod.to_string(),
                container: name.to_string(),
                sample: MetricSample { at, cpu_cores: cpu, memory_bytes: mem },
            });
        }
    }
    out
}

/// `kubectl top pod --containers [-A]` as a table or CSV.
fn parse_top(text: &str, label: &str, stats: &mut IngestStats) -> Vec<PodSample> {
    let mut out = Vec::new();
    let mut header: Option<Vec<String>> = None;
    let mut at = Timestamp(0);
    let mut default_ns = "default".to_string();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            if let Some(ts) = c.strip_prefix("time:") {
                at = Timestamp::parse_rfc3339(ts.trim()).unwrap_or_default();
            } else if let Some(ns) = c.strip_prefix("namespace:") {
                default_ns = ns.trim().to_string();
            }
            continue;
        }
        let cells: Vec<String> = if t.contains(',') {
            t.split(',').map(|c| c.trim().trim_matches('"').to_string()).collect()
        } else {
            t.split_whitespace().map(str::to_string).collect()
        };
        if header.is_none() {
            let upper: Vec<String> = cells.iter().map(|c| c.to_ascii_uppercase()).collect();
            if upper.iter().any(|c| c.starts_with("CPU")) && upper.iter().any(|c| c.starts_with("MEM")) {
                header = Some(upper);
                continue;
            }
            stats.error(
                label,
                line_no,
                "expected a `kubectl top pod --containers` header (POD NAME CPU(cores) MEMORY(bytes))",
            );
            return out;
        }
        let Some(h) = header.as_ref() else { continue };
        let col = |name: &str| h.iter().position(|c| c.starts_with(name));
        let get = |idx: Option<usize>| idx.and_then(|i| cells.get(i)).map(String::as_str);
        let ns = get(col("NAMESPACE")).map(str::to_string).unwrap_or_else(|| default_ns.clone());
        let pod = get(col("POD"));
        let exact = |name: &str| h.iter().position(|c| c == name);
        let name = get(exact("NAME")).or_else(|| get(col("CONTAINER")));
        let cpu = get(col("CPU")).and_then(parse_quantity);
        let mem = get(col("MEM")).and_then(parse_quantity);
        match (pod, name, cpu, mem) {
            (Some(pod), Some(name), Some(cpu), Some(mem)) => {
                stats.records += 1;
                out.push(PodSample {
                    namespace: ns,
                    pod: pod.to_string(),
                    container: name.to_string(),
                    sample: MetricSample { at, cpu_cores: Some(cpu), memory_bytes: Some(mem) },
                });
            }
            _ => stats.error(label, line_no, format!("malformed `kubectl top` row: {t}")),
        }
    }
    out
}
