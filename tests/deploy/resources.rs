//! Resource strategies against the reference formulas of deploy.md §1, implemented here
//! independently: krr `simple` / `simple_limit` (Prometheus `quantile_over_time` over the rated
//! series, `max_over_time` × 1.15, floors, rounding) and the VPA recommender (decaying
//! exponential histograms with 5 % buckets, P90 target × 1.15, memory as one peak per 24 h,
//! per-pod floors). Same numbers where the strategy is the same; for VPA the difference is
//! bounded by the bucket width and reported.

use kubeguard::model::{MetricSample, Timestamp};
use kubeguard::sources::IngestStats;
use kubeguard::sources::metrics::parse_document;
use kubeguard::synth::deploy::{DeployOptions, ResourceStrategy, size};
use serde_json::json;

use super::support::{T0, series};

const MIB: f64 = 1048576.0;

/// Prometheus `quantile_over_time`: φ-quantile with linear interpolation between ranks.
fn prom_quantile(values: &[f64], phi: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rank = phi * (v.len() as f64 - 1.0);
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let w = rank - lo as f64;
    v[lo] + (v[hi] - v[lo]) * w
}

/// krr: (cpu request m, cpu limit m, memory request=limit MiB).
fn krr(cpu: &[f64], mem: &[f64], limit_strategy: bool) -> (u64, Option<u64>, u64) {
    let round_m = |c: f64| ((c * 1000.0) - 1e-9).ceil() as u64;
    let (req_q, lim_q) = if limit_strategy { (0.66, Some(0.96)) } else { (0.95, None) };
    let req = round_m(prom_quantile(cpu, req_q)).max(10);
    let lim = lim_q.map(|q| round_m(prom_quantile(cpu, q)).max(10));
    let peak = mem.iter().cloned().fold(0.0, f64::max);
    let mem_mi = ((peak * 1.15 / MIB) - 1e-9).ceil() as u64;
    let floor_mi = (100e6 / MIB).ceil() as u64;
    (req, lim, mem_mi.max(floor_mi))
}

/// VPA `util.histogram` with exponential buckets.
struct Histogram {
    first: f64,
    ratio: f64,
    weights: Vec<f64>,
    total: f64,
}

impl Histogram {
    fn new(max: f64, first: f64) -> Histogram {
        let ratio = 1.05;
        let n = ((max * (ratio - 1.0) / first + 1.0).ln() / ratio.ln()).ceil() as usize + 1;
        Histogram { first, ratio, weights: vec![0.0; n], total: 0.0 }
    }
    fn start(&self, i: usize) -> f64 {
        if i == 0 { 0.0 } else { self.first * (self.ratio.powi(i as i32) - 1.0) / (self.ratio - 1.0) }
    }
    fn bucket(&self, v: f64) -> usize {
        if v < self.first {
            return 0;
        }
        let b = ((v * (self.ratio - 1.0) / self.first + 1.0).ln() / self.ratio.ln()).floor() as usize;
        b.min(self.weights.len() - 1)
    }
    fn add(&mut self, v: f64, w: f64) {
        let b = self.bucket(v);
        self.weights[b] += w;
        self.total += w;
    }
    fn percentile(&self, p: f64) -> f64 {
        let threshold = p * self.total;
        let mut sum = 0.0;
        let mut bucket = self.weights.len() - 1;
        for (i, w) in self.weights.iter().enumerate() {
            sum += w;
            if sum >= threshold && *w > 0.0 {
                bucket = i;
                break;
            }
        }
        if bucket < self.weights.len() - 1 { self.start(bucket + 1) } else { self.start(bucket) }
    }
}

/// VPA target (cores, bytes) for one container of a `containers`-container pod with no
/// current request: CPU weight max(request, 0.1) × 2^(age/24h); memory = peak per 24 h.
fn vpa_target(samples: &[MetricSample], containers: usize) -> (f64, f64) {
    let half_life = 24.0 * 3600.0;
    let t0 = samples[0].at.0 as f64 / 1e6;
    let mut cpu = Histogram::new(1000.0, 0.001);
    let mut mem = Histogram::new(1e12, 1e7);
    let mut peaks: std::collections::BTreeMap<i64, f64> = Default::default();
    for s in samples {
        let t = s.at.0 as f64 / 1e6;
        if let Some(c) = s.cpu_cores {
            cpu.add(c, 0.1 * 2f64.powf((t - t0) / half_life));
        }
        if let Some(m) = s.memory_bytes {
            let day = ((t - t0) / 86400.0).floor() as i64;
            let e = peaks.entry(day).or_insert(m);
            *e = e.max(m);
        }
    }
    for (day, peak) in peaks {
        mem.add(peak, 2f64.powf(day as f64));
    }
    let k = containers as f64;
    let cpu_t = (cpu.percentile(0.9) * 1.15).max(0.025 / k);
    let mem_t = (mem.percentile(0.9) * 1.15).max(250e6 / k);
    (cpu_t, mem_t)
}

/// A Prometheus range-query response (raw CPU counter + memory) for one container.
fn prometheus_docs(samples: &[MetricSample], step: i64) -> (String, String) {
    let mut counter = 1000.0;
    let mut cpu_values = vec![json!([T0 as f64 / 1e6 - step as f64, format!("{counter}")])];
    let mut mem_values = Vec::new();
    for s in samples {
        counter += s.cpu_cores.unwrap() * step as f64;
        let t = s.at.0 as f64 / 1e6;
        cpu_values.push(json!([t, format!("{counter}")]));
        mem_values.push(json!([t, format!("{}", s.memory_bytes.unwrap())]));
    }
    let labels = |name: &str| json!({"__name__": name, "namespace": "shop", "pod": "web-6d4cf56db6-x7k2p", "container": "nginx"});
    let doc = |name: &str, values: Vec<serde_json::Value>| {
        json!({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": labels(name), "values": values}]}})
            .to_string()
    };
    (doc("container_cpu_usage_seconds_total", cpu_values), doc("container_memory_working_set_bytes", mem_values))
}

#[test]
fn krr_strategies_match_the_krr_formulas_through_the_prometheus_parser() {
    for seed in [1u64, 7, 42] {
        let step = 75; // krr's default step, 1.25 min
        let truth = series(300, step, seed);
        let (cpu_doc, mem_doc) = prometheus_docs(&truth, step);
        let mut stats = IngestStats::default();
        let mut parsed: Vec<MetricSample> =
            parse_document(cpu_doc.as_bytes(), std::path::Path::new("cpu.json"), &mut stats)
                .into_iter()
                .map(|s| s.sample)
                .collect();
        parsed.extend(
            parse_document(mem_doc.as_bytes(), std::path::Path::new("mem.json"), &mut stats)
                .into_iter()
                .map(|s| s.sample),
        );
        assert_eq!(stats.malformed, 0);
        let cpu: Vec<f64> = truth.iter().map(|s| s.cpu_cores.unwrap()).collect();
        let mem: Vec<f64> = truth.iter().map(|s| s.memory_bytes.unwrap()).collect();
        for (strategy, limit) in [(ResourceStrategy::KrrSimple, false), (ResourceStrategy::KrrSimpleLimit, true)] {
            let opts = DeployOptions { strategy, ..DeployOptions::default() };
            let ours = size(&parsed, &opts, 1);
            let (req, lim, mem_mi) = krr(&cpu, &mem, limit);
            eprintln!(
                "seed {seed} {}: ours cpu {:?}/{:?} mem {:?} — krr cpu {req}/{lim:?} mem {mem_mi}",
                strategy.name(),
                ours.cpu_request_m,
                ours.cpu_limit_m,
                ours.memory_request_mi
            );
            assert_eq!(ours.cpu_request_m, Some(req), "{strategy:?} seed {seed}");
            assert_eq!(ours.cpu_limit_m, lim);
            assert_eq!(ours.memory_request_mi, Some(mem_mi));
            assert_eq!(ours.memory_limit_mi, Some(mem_mi));
            assert_eq!(ours.cpu_samples, 300);
        }
    }
}

#[test]
fn vpa_target_strategy_is_within_one_bucket_of_the_vpa_recommender() {
    for (seed, n, step) in [(3u64, 240usize, 60i64), (11, 2880, 60), (5, 4000, 300)] {
        // memory ×4 so the peak (≈ 0.7 GiB) is above VPA's 250 MB floor and the formula shows
        let samples: Vec<MetricSample> = series(n, step, seed)
            .into_iter()
            .map(|s| MetricSample { memory_bytes: s.memory_bytes.map(|m| m * 4.0), ..s })
            .collect();
        let opts = DeployOptions { strategy: ResourceStrategy::VpaTarget, ..DeployOptions::default() };
        let ours = size(&samples, &opts, 1);
        let (cpu_vpa, mem_vpa) = vpa_target(&samples, 1);
        let cpu_ours = ours.cpu_request_m.unwrap() as f64 / 1000.0;
        let mem_ours = ours.memory_request_mi.unwrap() as f64 * MIB;
        eprintln!(
            "seed {seed}, {n} samples every {step}s: vpa-target cpu {cpu_ours:.3} mem {:.1} MiB — VPA cpu {cpu_vpa:.3} mem {:.1} MiB",
            mem_ours / MIB,
            mem_vpa / MIB
        );
        // VPA answers a bucket's upper bound (buckets grow 5 %) and weights recent samples more.
        assert!((cpu_ours - cpu_vpa).abs() / cpu_vpa <= 0.08, "cpu {cpu_ours} vs {cpu_vpa}");
        // memory: VPA rounds up to the bucket end (≤ 5 %) and P90 of a few daily peaks interpolates
        assert!(mem_ours <= mem_vpa * 1.001 + MIB && mem_ours >= mem_vpa / 1.08, "mem {mem_ours} vs {mem_vpa}");
    }
}

#[test]
fn floors_apply_to_idle_containers() {
    let idle: Vec<MetricSample> = (0..200)
        .map(|i| MetricSample { at: Timestamp(T0 + i * 60_000_000), cpu_cores: Some(0.0005), memory_bytes: Some(5e6) })
        .collect();
    let krr = size(&idle, &DeployOptions::default(), 2);
    assert_eq!(krr.cpu_request_m, Some(10));
    assert_eq!(krr.memory_request_mi, Some(96), "100 MB rounded up to MiB");
    let vpa = size(&idle, &DeployOptions { strategy: ResourceStrategy::VpaTarget, ..DeployOptions::default() }, 2);
    assert_eq!(vpa.cpu_request_m, Some(13), "25m per pod split over 2 containers, rounded up");
    assert_eq!(vpa.memory_request_mi, Some(120), "250 MB per pod / 2 = 119.2 MiB, rounded up");
    assert_eq!(vpa.cpu_limit_m, None);
}
