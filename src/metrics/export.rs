//! The simulated scrapes as the Prometheus series operators query: under the deployment guide's
//! names (`dynamo_ttft_seconds`, `dynamo_prefill_queue_depth`, ...) and under Dynamo's real
//! `dynamo_frontend_*` / `dynamo_component_*` names, so alert rules written for either run unchanged.
//!
//! Histograms are cumulative classic histograms with the Prometheus client libraries' default
//! buckets ([`PROM_BUCKETS_S`]); counters are cumulative; gauges are the value at the scrape, except
//! the utilisation and hit-ratio gauges, which cover the interval since the previous scrape (what a
//! DCGM utilisation gauge or an engine's hit-rate gauge reports).

use super::series::SeriesStore;
use super::{PoolScrape, PromHist, ScrapeRow, PROM_BUCKETS_S};

/// Every metric name [`series_from_scrapes`] writes (histograms by their base name).
pub const METRIC_NAMES: &[&str] = &[
    "dynamo_ttft_seconds",
    "dynamo_tpot_seconds",
    "dynamo_kv_transfer_latency_seconds",
    "dynamo_prefill_queue_depth",
    "dynamo_decode_queue_depth",
    "dynamo_kv_cache_hit_ratio",
    "dynamo_output_tokens_total",
    "dynamo_input_tokens_total",
    "dynamo_gpu_utilization",
    "dynamo_kv_cache_usage_bytes",
    "dynamo_kv_cache_capacity_bytes",
    "dynamo_decode_batch_size",
    "dynamo_decode_max_batch_size",
    "dynamo_replicas",
    "dynamo_replicas_desired",
    "dynamo_requests_total",
    "dynamo_frontend_time_to_first_token_seconds",
    "dynamo_frontend_inter_token_latency_seconds",
    "dynamo_frontend_requests_total",
    "dynamo_frontend_inflight_requests",
    "dynamo_frontend_queued_requests",
    "dynamo_frontend_output_tokens_total",
    "dynamo_component_kvstats_gpu_cache_usage_percent",
    "dynamo_component_kvstats_active_blocks",
    "dynamo_component_kvstats_total_blocks",
    "dynamo_component_kvstats_gpu_prefix_cache_hit_rate",
    "dynamo_component_inflight_requests",
];

fn hist(store: &mut SeriesStore, name: &str, labels: &[(&str, &str)], t: u64, h: &PromHist) {
    let mut counts: Vec<u64> = h.le.to_vec();
    counts.push(h.count);
    store.push_histogram(name, labels, t, &PROM_BUCKETS_S, &counts, h.sum_s());
}

/// Converts the scrapes of one run into Prometheus series. `kv_block_bytes` sizes the
/// `kvstats_*_blocks` gauges (the engines' KV blocks).
pub fn series_from_scrapes(rows: &[ScrapeRow], kv_block_bytes: u64) -> SeriesStore {
    let mut s = SeriesStore::new();
    let mut prev: Option<&ScrapeRow> = None;
    for r in rows {
        let t = r.t_ns;
        hist(&mut s, "dynamo_ttft_seconds", &[], t, &r.ttft);
        hist(&mut s, "dynamo_tpot_seconds", &[], t, &r.tpot);
        hist(&mut s, "dynamo_kv_transfer_latency_seconds", &[], t, &r.kv_transfer);
        hist(&mut s, "dynamo_frontend_time_to_first_token_seconds", &[], t, &r.ttft);
        hist(&mut s, "dynamo_frontend_inter_token_latency_seconds", &[], t, &r.itl);
        let decode_queue = r.decode.queue_depth as f64;
        let prefill_queue = r.prefill.map_or(0, |p| p.queue_depth) as f64;
        s.push("dynamo_prefill_queue_depth", &[], t, prefill_queue);
        s.push("dynamo_decode_queue_depth", &[], t, decode_queue);
        s.push("dynamo_frontend_queued_requests", &[], t, prefill_queue + decode_queue);
        let (hit, total) = match prev {
            Some(p) => (r.prefix_blocks_hit - p.prefix_blocks_hit, r.prefix_blocks_total - p.prefix_blocks_total),
            None => (r.prefix_blocks_hit, r.prefix_blocks_total),
        };
        let hit_ratio = if total > 0 { hit as f64 / total as f64 } else { 0.0 };
        s.push("dynamo_kv_cache_hit_ratio", &[], t, hit_ratio);
        s.push("dynamo_output_tokens_total", &[], t, r.output_tokens as f64);
        s.push("dynamo_input_tokens_total", &[], t, r.input_tokens as f64);
        s.push("dynamo_frontend_output_tokens_total", &[], t, r.output_tokens as f64);
        for (status, n) in
            [("success", r.requests_completed), ("rejected", r.requests_rejected), ("timeout", r.requests_timed_out)]
        {
            s.push("dynamo_requests_total", &[("status", status)], t, n as f64);
            s.push("dynamo_frontend_requests_total", &[("status", status)], t, n as f64);
        }
        s.push("dynamo_frontend_inflight_requests", &[], t, r.in_flight_requests as f64);
        let pools: [(&str, Option<&PoolScrape>); 2] = [("prefill", r.prefill.as_ref()), ("decode", Some(&r.decode))];
        for (name, p) in pools {
            let Some(p) = p else { continue };
            let pool = [("pool", name)];
            s.push("dynamo_gpu_utilization", &pool, t, p.gpu_utilization);
            s.push("dynamo_replicas", &pool, t, (p.serving + p.draining) as f64);
            s.push("dynamo_replicas_desired", &pool, t, p.desired as f64);
            let comp = [("dynamo_component", name)];
            let usage =
                if p.kv_capacity_bytes > 0 { p.kv_usage_bytes as f64 / p.kv_capacity_bytes as f64 } else { 0.0 };
            s.push("dynamo_component_kvstats_gpu_cache_usage_percent", &comp, t, usage);
            s.push(
                "dynamo_component_kvstats_active_blocks",
                &comp,
                t,
                p.kv_usage_bytes.div_ceil(kv_block_bytes.max(1)) as f64,
            );
            s.push(
                "dynamo_component_kvstats_total_blocks",
                &comp,
                t,
                (p.kv_capacity_bytes / kv_block_bytes.max(1)) as f64,
            );
            s.push("dynamo_component_kvstats_gpu_prefix_cache_hit_rate", &comp, t, hit_ratio);
            s.push("dynamo_component_inflight_requests", &comp, t, (p.batch_size + p.queue_depth) as f64);
        }
        // the decode pool holds the KV cache that fills and thrashes
        s.push("dynamo_kv_cache_usage_bytes", &[], t, r.decode.kv_usage_bytes as f64);
        s.push("dynamo_kv_cache_capacity_bytes", &[], t, r.decode.kv_capacity_bytes as f64);
        s.push("dynamo_decode_batch_size", &[], t, r.decode.batch_size as f64);
        s.push("dynamo_decode_max_batch_size", &[], t, r.decode.max_batch_size as f64);
        prev = Some(r);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_is_written_and_histograms_are_cumulative() {
        let mut h = PromHist::default();
        h.observe_n_ns(300_000_000, 2);
        let row = |t: u64, hits: u64| ScrapeRow {
            t_ns: t,
            prefill: Some(PoolScrape { serving: 1, queue_depth: 3, ..Default::default() }),
            decode: PoolScrape { serving: 2, kv_usage_bytes: 10, kv_capacity_bytes: 100, ..Default::default() },
            requests_arrived: 5,
            requests_completed: 2,
            requests_rejected: 0,
            requests_timed_out: 0,
            input_tokens: 100,
            output_tokens: 20,
            prefix_blocks_total: 10 + hits,
            prefix_blocks_hit: hits,
            ttft: h,
            tpot: h,
            itl: h,
            kv_transfer: h,
            in_flight_requests: 3,
        };
        let s = series_from_scrapes(&[row(1, 0), row(2, 5)], 4);
        let names: Vec<&str> = s.names().collect();
        for n in METRIC_NAMES {
            assert!(names.iter().any(|x| x == n || x.strip_suffix("_bucket") == Some(*n)), "{n} missing: {names:?}");
        }
        // 0.3 s falls in the 0.5 s bucket and above
        assert!(names.contains(&"dynamo_ttft_seconds_bucket"));
        assert!(names.contains(&"dynamo_ttft_seconds_count"));
    }
}
