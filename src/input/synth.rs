//! Value parsers for the synthetic workload keys (`workload.profile`, `workload.amplitude`, ...), used by
//! [`super::resolve`]. Each `Err` says what was expected and what was found.

use super::resolve::duration_ns;

/// A profile time: `0` or a duration (`300`, `300s`, `5m`, `1h`, `1500ms`), in seconds.
fn profile_time_s(t: &str) -> Result<f64, String> {
    let t = t.trim();
    let zero = t.trim_end_matches(|c: char| c.is_ascii_alphabetic()).trim().parse::<f64>().is_ok_and(|x| x == 0.0);
    if zero {
        return Ok(0.0);
    }
    duration_ns(t).map(|ns| ns as f64 / 1e9).map_err(|_| format!("expected a time such as 0, 300s, 5m or 1h, got {t}"))
}

/// A step/ramp profile in the text form `TIME:RATE,TIME:RATE,...` (what a YAML list of pairs becomes):
/// times from 0, increasing; rates in requests/s, >= 0, at least one > 0.
pub(crate) fn profile(s: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut points = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (t, r) = part.split_once(':').ok_or_else(|| {
            format!("expected TIME:RATE points such as 0:10,300s:40 (or [[0, 10], [300s, 40]]), got {part:?}")
        })?;
        let t = profile_time_s(t).map_err(|e| format!("profile point {part:?}: {e}"))?;
        let r = r
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("profile point {part:?}: expected a rate >= 0 requests/s, got {}", r.trim()))?;
        points.push((t, r));
    }
    crate::workload::synthetic::validate_profile(&points)?;
    Ok(points)
}

/// A number in [0, 1].
pub(crate) fn unit_interval(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("expected a number in [0, 1], got {s}")),
    }
}

/// A finite number.
pub(crate) fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!("expected a number, got {s}")),
    }
}

/// A duration >= 0 in seconds (`0`, `30s`, `2m`).
pub(crate) fn duration_s_or_zero(s: &str) -> Result<f64, String> {
    profile_time_s(s).map_err(|_| format!("expected a duration >= 0 such as 0, 30s or 2m, got {}", s.trim()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::input::load_from_strs;
    use crate::spec::workload::{Arrival, LengthDist, PrefixSpec, SessionSpec, WorkloadSpec};
    use crate::workload::presets::Preset;

    const DEPLOY: &str = "\
apiVersion: nvidia.com/v1alpha1
kind: DynamoGraphDeploymentRequest
spec:
  model: meta-llama/Llama-3.1-8B-Instruct
  components:
    decode: {replicas: 1}
";

    fn load(workload: &str, sets: &[&str]) -> Result<WorkloadSpec, String> {
        let scen = format!("kind: Scenario\nmodel: llama-3.1-8b\nworkload: {workload}\n");
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load_from_strs(&[("d.yaml", DEPLOY), ("s.yaml", &scen)], Path::new("."), &sets)
            .map(|s| s.workload)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn profile_text() {
        assert_eq!(profile("0:10, 300s:40,1h:0"), Ok(vec![(0.0, 10.0), (300.0, 40.0), (3600.0, 0.0)]));
        assert_eq!(profile("0s:5"), Ok(vec![(0.0, 5.0)]));
        for (bad, want) in [
            ("10:5", "first point at time 0"),
            ("0:5,10:x", "rate >= 0"),
            ("0:5,10:-1", "rate >= 0"),
            ("0:5,10:1,5:2", "times increasing"),
            ("0:0", "every rate is 0"),
            ("0-5", "TIME:RATE"),
            ("", "at least one"),
            ("0:1,soon:2", "expected a time"),
        ] {
            let e = profile(bad).unwrap_err();
            assert!(e.contains(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn preset_keys() {
        let w = load("{preset: chatbot, rate: 20}", &[]).unwrap();
        let (isl, osl) = Preset::Chatbot.lengths().unwrap();
        assert_eq!(w, WorkloadSpec::Synthetic { arrival: Arrival::Poisson { rate_per_s: 20.0 }, isl, osl });
        // --set picks another preset; an explicit osl replaces the preset's.
        let w = load("{preset: chatbot, rate: 20}", &["workload.preset=rag", "workload.osl=100"]).unwrap();
        let WorkloadSpec::Synthetic { isl, osl, .. } = w else { panic!("{w:?}") };
        assert_eq!(isl, Preset::Rag.lengths().unwrap().0);
        assert_eq!(osl, LengthDist::Fixed(100));
        let e = load("{preset: summarization, rate: 2}", &[]).unwrap_err();
        assert!(e.contains("workload.preset") && e.contains("no grounded length source yet"), "{e}");
        let e = load("{preset: chat-gpt, rate: 2}", &[]).unwrap_err();
        assert!(e.contains("unknown preset") && e.contains("code_generation"), "{e}");
        let e = load("{kind: trace, trace: x.csv, preset: chatbot}", &[]).unwrap_err();
        assert!(e.contains("workload.preset") && e.contains("not used by workload kind trace"), "{e}");
        // Closed loop takes preset lengths too.
        let w = load("{kind: closed_loop, concurrency: 8, preset: code}", &[]).unwrap();
        assert!(matches!(
            w,
            WorkloadSpec::Synthetic { arrival: Arrival::ClosedLoop { concurrency: 8, ramp_up_ns: 0 }, .. }
        ));
    }

    #[test]
    fn rate_profile_keys() {
        let w = load("{kind: diurnal, rate: 20, amplitude: 0.5, period: 24h, preset: chatbot}", &[]).unwrap();
        let WorkloadSpec::Synthetic { arrival, .. } = w else { panic!() };
        assert_eq!(arrival, Arrival::Diurnal { rate_per_s: 20.0, amplitude: 0.5, period_s: 86_400.0, phase_rad: 0.0 });
        let w = load("{kind: diurnal, rate: 3, isl: 10, osl: 10}", &["workload.period=10m", "workload.phase=1.5"]);
        let WorkloadSpec::Synthetic { arrival, .. } = w.unwrap() else { panic!() };
        assert_eq!(arrival, Arrival::Diurnal { rate_per_s: 3.0, amplitude: 0.5, period_s: 600.0, phase_rad: 1.5 });
        let w = load("{kind: step, profile: [[0, 10], [300s, 40]], isl: 10, osl: 10}", &[]).unwrap();
        let WorkloadSpec::Synthetic { arrival, .. } = w else { panic!() };
        assert_eq!(arrival, Arrival::Step { points: vec![(0.0, 10.0), (300.0, 40.0)] });
        let w = load(
            "{kind: step, profile: [[0, 10]], isl: 10, osl: 10}",
            &["workload.kind=ramp", "workload.profile=0:1,1m:5"],
        );
        let WorkloadSpec::Synthetic { arrival, .. } = w.unwrap() else { panic!() };
        assert_eq!(arrival, Arrival::Ramp { points: vec![(0.0, 1.0), (60.0, 5.0)] });
        for (w, want) in [
            ("{kind: diurnal, rate: 3, amplitude: 1.5, isl: 1, osl: 1}", "expected a number in [0, 1], got 1.5"),
            ("{kind: diurnal, amplitude: 0.2, isl: 1, osl: 1}", "workload.rate: missing"),
            ("{kind: step, isl: 1, osl: 1}", "workload.profile: missing"),
            ("{kind: step, profile: [[5, 1]], isl: 1, osl: 1}", "first point at time 0"),
            ("{kind: step, profile: [[0, 1, 2]], isl: 1, osl: 1}", "expected [time, rate]"),
            ("{kind: poisson, rate: 1, profile: [[0, 1]], isl: 1, osl: 1}", "not used by workload kind poisson"),
        ] {
            let e = load(w, &[]).unwrap_err();
            assert!(e.contains(want), "{w}: {e}");
        }
    }

    #[test]
    fn prefix_keys() {
        let w = load(
            "{preset: chatbot, rate: 10, system_prompts: 8, system_prompt_tok: 1024, sessions: {turns: 3, think_time: 20s}}",
            &[],
        )
        .unwrap();
        let WorkloadSpec::SyntheticPrefix { prefix, arrival, .. } = w else { panic!("{w:?}") };
        assert_eq!(arrival, Arrival::Poisson { rate_per_s: 10.0 });
        assert_eq!(
            prefix,
            PrefixSpec {
                system_prompts: 8,
                system_prompt_tok: 1024,
                system_prompt_zipf: 0.0,
                sessions: Some(SessionSpec { mean_turns: 3.0, think_time_s: 20.0 }),
            }
        );
        // closed-loop clients hold conversations
        let w = load("{kind: closed_loop, concurrency: 2, isl: 5, osl: 5, sessions: {turns: 2, think_time: 1s}}", &[]);
        assert!(matches!(
            w.unwrap(),
            WorkloadSpec::SyntheticPrefix { prefix: PrefixSpec { sessions: Some(_), .. }, .. }
        ));
        let w = load("{rate: 1, isl: 5, osl: 5}", &["workload.system_prompts=2", "workload.system_prompt_tok=512"]);
        assert!(matches!(
            w.unwrap(),
            WorkloadSpec::SyntheticPrefix { prefix: PrefixSpec { system_prompts: 2, .. }, .. }
        ));
        for (w, want) in [
            ("{rate: 1, isl: 5, osl: 5, system_prompts: 2}", "workload.system_prompt_tok: missing"),
            ("{rate: 1, isl: 5, osl: 5, system_prompts: 2, system_prompt_tok: 100}", "at least 512"),
            ("{rate: 1, isl: 5, osl: 5, sessions: {turns: 3}}", "workload.sessions.think_time: missing"),
            ("{rate: 1, isl: 5, osl: 5, sessions: {turns: 0.5, think_time: 1s}}", "turns >= 1"),
            (
                "{kind: offline, isl: 5, osl: 5, sessions: {turns: 2, think_time: 1s}}",
                "not used by workload kind offline",
            ),
            ("{rate: 1, isl: 5, osl: 5, sessions: {turns: 2, think: 1s}}", "unknown field"),
        ] {
            let e = load(w, &[]).unwrap_err();
            assert!(e.contains(want), "{w}: {e}");
        }
    }
}
