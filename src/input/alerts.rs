//! `kind: PrometheusRule` documents (monitoring.coreos.com/v1, the Prometheus Operator's resource):
//! their alerting rules are evaluated on the simulated metric series. Several documents may be given;
//! their groups add up. Recording rules (`record:`) are listed but not evaluated.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::error::{Origin, ScenarioError};
use super::raw::{Field, Manifest, Scalar, Source};
use crate::promql::{check_expr, parse_duration_ns};
use crate::spec::scenario::{AlertRule, AlertSpec};

pub(crate) type PrometheusRuleDoc = Manifest<RuleSpec>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleSpec {
    pub groups: Option<Vec<Spanned<RuleGroup>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleGroup {
    #[serde(rename = "name")]
    pub _name: Field,
    /// Evaluation interval of the group (Prometheus' `evaluation_interval` when absent).
    pub interval: Field,
    #[serde(rename = "partial_response_strategy")]
    pub _partial_response_strategy: Option<IgnoredAny>,
    #[serde(rename = "limit")]
    pub _limit: Option<IgnoredAny>,
    pub rules: Option<Vec<Spanned<Rule>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    pub alert: Field,
    pub record: Field,
    pub expr: Field,
    #[serde(rename = "for")]
    pub for_: Field,
    #[serde(rename = "keep_firing_for")]
    pub keep_firing_for: Field,
    pub labels: Option<BTreeMap<String, Scalar>>,
    #[serde(rename = "annotations")]
    pub _annotations: Option<IgnoredAny>,
}

fn origin<T>(src: &Source, s: &Spanned<T>) -> Origin {
    Origin::file(&src.name, s.referenced.line(), s.referenced.column())
}

/// Adds a document's rules to `out`, checking every expression and duration now so that a bad rule is
/// an error naming its line before anything runs.
pub(crate) fn read(src: &Source, doc: &PrometheusRuleDoc, out: &mut AlertSpec) -> Result<(), ScenarioError> {
    if let Some(v) = &doc.api_version {
        if v.value.0 != "monitoring.coreos.com/v1" {
            return Err(ScenarioError::invalid(
                &origin(src, v),
                "apiVersion",
                format!("expected monitoring.coreos.com/v1, got {}", v.value.0),
            ));
        }
    }
    let Some(groups) = doc.spec.as_ref().and_then(|s| s.groups.as_ref()) else { return Ok(()) };
    for (gi, g) in groups.iter().enumerate() {
        let gpath = format!("spec.groups[{gi}]");
        if let Some(i) = &g.value.interval {
            let ns = parse_duration_ns(&i.value.0)
                .map_err(|e| ScenarioError::invalid(&origin(src, i), &format!("{gpath}.interval"), e.to_string()))?;
            out.interval_ns = Some(out.interval_ns.map_or(ns, |x| x.min(ns)));
        }
        for (ri, r) in g.value.rules.iter().flatten().enumerate() {
            let path = format!("{gpath}.rules[{ri}]");
            let rule = &r.value;
            let at = origin(src, r);
            let Some(expr) = &rule.expr else {
                return Err(ScenarioError::invalid(&at, &path, "a rule without `expr`: expected a PromQL expression"));
            };
            match (&rule.alert, &rule.record) {
                (Some(_), Some(rec)) => {
                    return Err(ScenarioError::invalid(
                        &origin(src, rec),
                        &format!("{path}.record"),
                        "a rule is either an alert or a recording rule: expected `alert` or `record`, not both",
                    ))
                }
                (None, Some(rec)) => {
                    out.recording_rules.push(rec.value.0.clone());
                    continue;
                }
                (None, None) => {
                    return Err(ScenarioError::invalid(&at, &path, "expected `alert: NAME` (or `record: NAME`)"))
                }
                (Some(_), None) => {}
            }
            let name = rule.alert.as_ref().expect("checked above").value.0.clone();
            check_expr(&expr.value.0).map_err(|e| {
                ScenarioError::invalid(&origin(src, expr), &format!("{path}.expr"), format!("{name}: {e}"))
            })?;
            let for_ns = match &rule.for_ {
                Some(f) => parse_duration_ns(&f.value.0)
                    .map_err(|e| ScenarioError::invalid(&origin(src, f), &format!("{path}.for"), e.to_string()))?,
                None => 0,
            };
            if let Some(k) = &rule.keep_firing_for {
                return Err(ScenarioError::invalid(
                    &origin(src, k),
                    &format!("{path}.keep_firing_for"),
                    "keep_firing_for is not evaluated by pdsim yet: expected it absent",
                ));
            }
            let labels = rule.labels.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
            out.rules.push(AlertRule { name, expr: expr.value.0.clone(), for_ns, labels });
        }
    }
    Ok(())
}
