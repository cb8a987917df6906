//! The stand-in's Actions and Checks answers checked against GitHub's published description
//! (`schema/github-actions-checks-openapi.json`): every required field present, every value
//! of the declared type, nullable only where declared, enums respected.

use super::*;
use squadron_standin_github::{Annotation, CheckScript, FailureReport, Workflow};

const SPEC: &str = include_str!("../../schema/github-actions-checks-openapi.json");

struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        Spec(serde_json::from_str(SPEC).expect("the vendored description parses"))
    }

    /// The JSON schema of the 2xx answer of `method path`.
    fn response(&self, method: &str, path: &str, status: &str) -> &Value {
        let schema = &self.0["paths"][path][method]["responses"][status]["content"]["application/json"]
            ["schema"];
        assert!(!schema.is_null(), "no {status} schema for {method} {path}");
        schema
    }

    fn component(&self, name: &str) -> &Value {
        &self.0["components"]["schemas"][name]
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .expect("a schema reference");
                self.resolve(self.component(name))
            }
            None => schema,
        }
    }

    /// Every way `value` departs from `schema`, with its JSON path.
    fn violations(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.violations(part, value, at, out);
            }
            return;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(choices) = schema[key].as_array() {
                let fits = choices.iter().any(|choice| {
                    let mut errors = Vec::new();
                    self.violations(choice, value, at, &mut errors);
                    errors.is_empty()
                });
                let allowed_null = value.is_null() && schema["nullable"] == true;
                if !fits && !allowed_null {
                    out.push(format!("{at}: fits none of {key}"));
                }
                return;
            }
        }
        if value.is_null() {
            if schema["nullable"] != true && !schema["type"].is_null() {
                out.push(format!("{at}: null but not nullable"));
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            out.push(format!("{at}: {value} not in {allowed:?}"));
        }
        let fits = match schema["type"].as_str() {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !fits {
            out.push(format!("{at}: {value} is not of type {}", schema["type"]));
            return;
        }
        if let Some(required) = schema["required"].as_array() {
            for field in required.iter().filter_map(Value::as_str) {
                if value.get(field).is_none() {
                    out.push(format!("{at}: missing required `{field}`"));
                }
            }
        }
        if let (Some(properties), Some(object)) =
            (schema["properties"].as_object(), value.as_object())
        {
            for (field, sub) in properties {
                if let Some(inner) = object.get(field) {
                    self.violations(sub, inner, &format!("{at}.{field}"), out);
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (index, item) in array.iter().enumerate() {
                self.violations(items, item, &format!("{at}[{index}]"), out);
            }
        }
    }

    fn assert_fits(&self, schema: &Value, value: &Value, what: &str) {
        let mut out = Vec::new();
        self.violations(schema, value, "$", &mut out);
        assert!(
            out.is_empty(),
            "{what} departs from GitHub's description:\n{}",
            out.join("\n")
        );
    }
}

#[tokio::test]
async fn actions_and_checks_answers_follow_githubs_published_description() {
    let spec = Spec::load();
    let fx = Fixture::new().await;
    fx.standin
        .add_workflow(
            SLUG,
            Workflow::new("CI", "test")
                .script(CheckScript::FailsWhileFileContains {
                    path: "a.txt".into(),
                    text: "bug".into(),
                })
                .failure(FailureReport {
                    annotations: vec![Annotation {
                        path: "a.txt".into(),
                        line: 1,
                        message: "bug".into(),
                    }],
                    ..FailureReport::default()
                }),
        )
        .expect("workflow");
    fx.standin
        .add_workflow(
            SLUG,
            Workflow::new("Slow", "slow").script(CheckScript::NeverStarts),
        )
        .expect("workflow");
    let (_, head) = fx.open_pull("eng-1", &[("a.txt", "bug\n")]).await;

    let checks = fx
        .get(&format!("/repos/acme/shop/commits/{head}/check-runs"))
        .await;
    assert_eq!(checks["total_count"], 2);
    for check in checks["check_runs"].as_array().expect("runs") {
        spec.assert_fits(spec.component("check-run"), check, "a check run");
    }
    let failed = checks["check_runs"]
        .as_array()
        .expect("runs")
        .iter()
        .find(|c| c["name"] == "test")
        .expect("the test check")
        .clone();
    let annotations = fx
        .get(&format!(
            "/repos/acme/shop/check-runs/{}/annotations",
            failed["id"]
        ))
        .await;
    spec.assert_fits(
        spec.response(
            "get",
            "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations",
            "200",
        ),
        &annotations,
        "the annotations",
    );

    let runs = fx
        .get(&format!("/repos/acme/shop/actions/runs?head_sha={head}"))
        .await;
    spec.assert_fits(
        spec.response("get", "/repos/{owner}/{repo}/actions/runs", "200"),
        &runs,
        "the workflow-run list",
    );
    for run in runs["workflow_runs"].as_array().expect("runs") {
        let one = fx
            .get(&format!("/repos/acme/shop/actions/runs/{}", run["id"]))
            .await;
        spec.assert_fits(
            spec.response("get", "/repos/{owner}/{repo}/actions/runs/{run_id}", "200"),
            &one,
            "a workflow run",
        );
        let jobs = fx
            .get(&format!("/repos/acme/shop/actions/runs/{}/jobs", run["id"]))
            .await;
        spec.assert_fits(
            spec.response(
                "get",
                "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
                "200",
            ),
            &jobs,
            "a job list",
        );
        let job = fx
            .get(&format!(
                "/repos/acme/shop/actions/jobs/{}",
                jobs["jobs"][0]["id"]
            ))
            .await;
        spec.assert_fits(
            spec.response("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}", "200"),
            &job,
            "a job",
        );
    }

    let (status, rerun) = fx
        .call(
            "tok-dev",
            Method::POST,
            &format!("/repos/acme/shop/actions/jobs/{}/rerun", failed["id"]),
            Some(json!({"enable_debug_logging": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    spec.assert_fits(
        spec.response(
            "post",
            "/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun",
            "201",
        ),
        &rerun,
        "a re-run's answer",
    );
}

#[test]
fn the_validator_catches_what_it_is_meant_to() {
    let spec = Spec::load();
    let job = spec.component("job");
    let mut out = Vec::new();
    spec.violations(
        job,
        &json!({"id": "7", "status": "sleeping"}),
        "$",
        &mut out,
    );
    assert!(
        out.iter().any(|e| e.contains("missing required `run_id`")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|e| e.contains("$.id") && e.contains("integer")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|e| e.contains("$.status") && e.contains("not in")),
        "{out:?}"
    );
}
