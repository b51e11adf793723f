//! End to end through the `pdsim` binary: outputs, determinism, and bad input (exit 2, a message
//! naming the file and field, never a panic).

mod common;
use common::*;

#[test]
fn run_prints_a_table_and_writes_outputs() {
    let dir = scratch("out");
    let f = write(&dir, "small.yaml", SMALL);
    let out = dir.join("result");
    let o = pdsim(["run".as_ref(), f.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    for word in ["TTFT", "TPOT", "throughput", "cost", "300 arrived"] {
        assert!(table.contains(word), "table lacks {word}:\n{table}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "requests",
        "ttft_ms",
        "tpot_ms",
        "itl_ms",
        "e2e_ms",
        "kv_transfer_ms",
        "prefill_queue_ms",
        "decode_queue_ms",
        "throughput",
        "sla",
        "pools",
        "kv_cache",
        "cost",
        "alerts",
        "sim",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    assert_eq!(csv.lines().count(), 301, "one header and one row per request");
    let ts = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().count() > 2);
    assert!(ts.starts_with("time_s,"));
}

#[test]
fn json_is_exactly_one_object_and_same_seed_gives_same_bytes() {
    let dir = scratch("det");
    let f = write(&dir, "small.yaml", SMALL);
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for d in [&a, &b] {
        let o = pdsim(["run".as_ref(), f.as_os_str(), "--out".as_ref(), d.as_os_str(), "--json".as_ref()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is one JSON object");
        assert!(v.is_object());
    }
    let o = pdsim(["run".as_ref(), f.as_os_str(), "--out".as_ref(), c.as_os_str(), "--seed".as_ref(), "8".as_ref()]);
    assert!(o.status.success());
    for name in ["summary.json", "requests.csv", "timeseries.csv", "timeseries_requests.png", "timeseries_shares.svg"] {
        let x = std::fs::read(a.join(name)).unwrap();
        assert_eq!(x, std::fs::read(b.join(name)).unwrap(), "{name} differs between identical runs");
        if name == "requests.csv" {
            assert_ne!(x, std::fs::read(c.join(name)).unwrap(), "another seed must give other draws");
        }
    }
}

#[test]
fn set_and_flags_override_the_scenario() {
    let dir = scratch("set");
    let f = write(&dir, "small.yaml", SMALL);
    let v = run_json(&[&f], &["--requests", "50", "--set", "decode.maxBatchSize=8", "--set", "kvTransfer.backend=tcp"]);
    assert_eq!(v["requests"]["arrived"], 50);
    assert_eq!(v["kv_transfer_backend"], "tcp");
}

#[test]
fn shipped_scenarios_run() {
    for name in ["llama70b-production.yaml", "llama70b-default.yaml"] {
        let v = run_json(&[&scenario(name)], &["--requests", "1500"]);
        assert_eq!(v["requests"]["arrived"], 1500, "{name}");
        assert_eq!(v["gpus"], 16, "{name}");
        assert!(v["throughput"]["output_tok_s"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn cost_prints_a_breakdown() {
    let o = pdsim([
        "cost",
        "--model",
        "llama-3.1-70b",
        "--tp",
        "4",
        "--phase",
        "decode",
        "--batch",
        "64",
        "--isl",
        "2048",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let total = v["time_ms"].as_f64().unwrap();
    let parts: f64 = v["breakdown_ms"].as_object().unwrap().values().map(|x| x.as_f64().unwrap()).sum();
    assert!((total - parts).abs() < 1e-9 * total.max(1.0));
    assert!(total > 5.0 && total < 100.0, "{total}");
}

/// Runs `pdsim run FILE` (plus `args`) expecting exit 2 with all of `needles` in stderr.
fn expect_bad(file: &std::path::Path, args: &[&str], needles: &[&str]) {
    let mut a: Vec<std::ffi::OsString> = vec!["run".into(), file.as_os_str().to_owned()];
    a.extend(args.iter().map(|s| std::ffi::OsString::from(*s)));
    let o = pdsim(&a);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2 for {}: {err}", file.display());
    assert!(!err.contains("panicked"), "panic instead of an error: {err}");
    for n in needles {
        assert!(err.contains(n), "error lacks {n:?}: {err}");
    }
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let dir = scratch("bad");
    let f = write(&dir, "broken.yaml", &SMALL.replace("  rate: 20", "  rate: [20"));
    expect_bad(&f, &[], &["broken.yaml:"]);
}

#[test]
fn unknown_field_is_an_error_with_its_path() {
    let dir = scratch("bad");
    let f = write(&dir, "unknown.yaml", &SMALL.replace("maxBatchSize: 64", "maxBatchSize: 64, maxBatchSise: 3"));
    expect_bad(&f, &[], &["unknown.yaml", "maxBatchSise"]);
}

#[test]
fn wrong_type_is_an_error() {
    let dir = scratch("bad");
    let f = write(&dir, "type.yaml", &SMALL.replace("maxBatchSize: 64", "maxBatchSize: lots"));
    expect_bad(&f, &[], &["type.yaml", "maxBatchSize"]);
}

#[test]
fn negative_and_zero_sizes_are_errors() {
    let dir = scratch("bad");
    let f = write(&dir, "neg.yaml", &SMALL.replace("maxBatchSize: 64", "maxBatchSize: -4"));
    expect_bad(&f, &[], &["neg.yaml", "maxBatchSize"]);
    let f = write(&dir, "zero.yaml", SMALL);
    expect_bad(&f, &["--set", "decode.replicas=0"], &["decode.replicas"]);
    expect_bad(&f, &["--set", "workload.rate=-1"], &["workload.rate"]);
}

#[test]
fn model_that_does_not_fit_is_an_error() {
    let dir = scratch("bad");
    let f = write(&dir, "fit.yaml", &SMALL.replace("model: llama-3.1-8b", "model: llama-3.1-70b"));
    expect_bad(&f, &[], &["fit.yaml", "tp", "Llama-3.1-70B"]);
}

#[test]
fn missing_and_malformed_traces_are_errors() {
    let dir = scratch("bad");
    let trace_yaml = |path: &str| {
        SMALL.replace(
            "  kind: poisson\n  rate: 20\n  isl: 512\n  osl: 64\n",
            &format!("  kind: trace\n  trace: {path}\n"),
        )
    };
    let f = write(&dir, "missing.yaml", &trace_yaml("nope.csv"));
    expect_bad(&f, &[], &["nope.csv"]);
    write(
        &dir,
        "bad.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,abc,5\n",
    );
    let f = write(&dir, "badtrace.yaml", &trace_yaml("bad.csv"));
    expect_bad(&f, &[], &["bad.csv:3", "ContextTokens"]);
    write(
        &dir,
        "trunc.jsonl",
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n{\"timestamp\": 5, \"input_l",
    );
    let f = write(&dir, "trunc.yaml", &trace_yaml("trunc.jsonl"));
    expect_bad(&f, &[], &["trunc.jsonl:2"]);
}

#[test]
fn unknown_set_key_and_bad_usage_exit_2() {
    let dir = scratch("bad");
    let f = write(&dir, "small.yaml", SMALL);
    expect_bad(&f, &["--set", "decode.batch=3"], &["decode.batch"]);
    let o = pdsim(["run"]);
    assert_eq!(o.status.code(), Some(2));
    let o = pdsim(["run", "/nonexistent/x.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/x.yaml"));
}

#[test]
fn hf_config_json_model_runs_like_its_preset() {
    let dir = scratch("hf");
    std::fs::create_dir_all(dir.join("llama8b")).unwrap();
    // meta-llama/Llama-3.1-8B config.json, the fields pdsim reads
    write(
        &dir.join("llama8b"),
        "config.json",
        r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
            "max_position_embeddings": 131072, "model_type": "llama", "num_attention_heads": 32,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
            "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}"#,
    );
    let preset = write(&dir, "preset.yaml", SMALL);
    let hf = write(&dir, "hf.yaml", &SMALL.replace("model: llama-3.1-8b", "model: llama8b/config.json"));
    let a = run_json(&[&preset], &[]);
    let b = run_json(&[&hf], &[]);
    assert_eq!(a["ttft_ms"], b["ttft_ms"]);
    assert_eq!(a["tpot_ms"], b["tpot_ms"]);
}

#[test]
fn replays_the_real_azure_and_mooncake_traces() {
    for (rel, n) in [
        ("traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv", 19_366),
        ("traces/mooncake/conversation_trace.jsonl", 12_031),
    ] {
        let Some(trace) = shared(rel) else { continue };
        let dir = scratch("trace");
        let yaml = SMALL
            .replace("model: llama-3.1-8b", "model: llama-3.1-8b\nrequests: none")
            .replace("requests: 300\n", "")
            .replace(
                "  kind: poisson\n  rate: 20\n  isl: 512\n  osl: 64\n",
                &format!("  kind: trace\n  trace: {}\n", trace.display()),
            )
            .replace(
                "replicas: 1\n      config: {tensorParallelSize: 1, maxBatchSize: 64",
                "replicas: 8\n      config: {tensorParallelSize: 1, maxBatchSize: 64",
            )
            .replace("prefill:\n      replicas: 1", "prefill:\n      replicas: 8");
        let f = write(&dir, "trace.yaml", &yaml);
        let v = run_json(&[&f], &["--set", "workload.speedup=4"]);
        let r = &v["requests"];
        assert_eq!(r["arrived"], n, "{rel}");
        let total =
            r["completed"].as_u64().unwrap() + r["rejected"].as_u64().unwrap() + r["timed_out"].as_u64().unwrap();
        assert_eq!(total, n as u64);
        // replayed 4x faster: about a quarter of the trace's hour
        let sim_s = v["sim"]["simulated_s"].as_f64().unwrap();
        assert!(sim_s > 800.0 && sim_s < 1200.0, "{rel}: {sim_s}");
    }
}

/// `run --help` and `sweep --help` end with the settings table: every `--set` key with its doc and default.
#[test]
fn run_and_sweep_help_list_the_settings() {
    for cmd in ["run", "sweep"] {
        let o = pdsim([cmd, "--help"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let help = stdout(&o);
        assert!(help.contains(&pdsim::input::settings_help()), "{cmd} --help lacks the settings table:\n{help}");
        for key in pdsim::input::set_keys() {
            assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{key} "))), "{cmd} --help lacks {key}");
        }
    }
}

/// An offline run whose last requests time out, and a workload asking for longer answers than
/// `maxOutputLength` allows, say so on stderr; a run with neither prints no warning.
#[test]
fn run_warns_of_offline_timeouts_and_clamped_outputs() {
    let dir = scratch("warn");
    let f = write(&dir, "small.yaml", &SMALL.replace("requestTimeoutMs: 60000", "requestTimeoutMs: 1000"));
    let run = |sets: &[&str]| {
        let mut args = vec!["run".to_string(), f.display().to_string()];
        for s in sets {
            args.extend(["--set".to_string(), s.to_string()]);
        }
        let o = pdsim(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let quiet = run(&[]);
    assert!(!quiet.contains("warning"), "{quiet}");
    let e = run(&["workload.kind=offline", "workload.osl=2000", "decode.maxOutputLength=1000"]);
    assert!(e.contains("warning: ") && e.contains("timed out") && e.contains("offline run"), "{e}");
    assert!(e.contains("300 of 300 requests asked for more output than decode.maxOutputLength = 1000"), "{e}");
}

/// `--ttft-range` reruns a closed loop with its clients spread out and prints both TTFTs; the spread
/// start is the lower one. An open-loop workload is refused with exit 2.
#[test]
fn run_ttft_range_spans_the_client_start() {
    let dir = scratch("range");
    let f = write(&dir, "small.yaml", SMALL);
    // plain lengths, and prompts with shared system prompts (the workload's other variant)
    for extra in [&["workload.isl=512"][..], &["workload.system_prompts=4", "workload.system_prompt_tok=1024"]] {
        let mut args = vec!["run".to_string(), f.display().to_string(), "--ttft-range".to_string()];
        for set in ["workload.kind=closed_loop", "workload.concurrency=32"].iter().chain(extra) {
            args.extend(["--set".to_string(), set.to_string()]);
        }
        let o = pdsim(&args);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        let e = stderr(&o);
        let line =
            e.lines().find(|l| l.starts_with("TTFT mean over the client start")).unwrap_or_else(|| panic!("{e}"));
        let ms: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        assert!(ms[1] < ms[0], "{extra:?}: spread {} ms not below lockstep {} ms: {line}", ms[1], ms[0]);
    }
    let o = pdsim(["run".as_ref(), f.as_os_str(), "--ttft-range".as_ref()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("expected a closed-loop workload"));
}
