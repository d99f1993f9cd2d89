//! Seed 004's eight scenarios (`examples/seed-004`), as a user runs them: the shell one (curl and
//! the CLI) and the Python one (the OpenTelemetry SDK), each against a `semtrace serve` of its
//! own. Each script checks what every scenario gets and exits non-zero saying why.

use crate::common;

fn run(command: &mut std::process::Command) -> String {
    let output = command.output().expect("the example runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the example failed:\n{text}");
    assert!(text.contains("all eight scenarios passed"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_scenarios_pass() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_binary(dir.path()).await;
    let script = common::workspace_root().join("examples/seed-004/scenarios.sh");
    let (api, otlp) = (server.api.clone(), server.otlp_http.clone());
    tokio::task::spawn_blocking(move || {
        run(std::process::Command::new("bash")
            .arg(script)
            .env("SEMTRACE", env!("CARGO_BIN_EXE_semtrace"))
            .env("SEMTRACE_API", api)
            .env("SEMTRACE_OTLP", otlp)
            .env_remove("SEMTRACE_TOKEN"))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_scenarios_pass() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_binary(dir.path()).await;
    let script = common::workspace_root().join("examples/seed-004/scenarios.py");
    let (api, otlp) = (server.api.clone(), server.otlp_http.clone());
    tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(common::python())
            .arg(script)
            .env("SEMTRACE_API", api)
            .env("SEMTRACE_OTLP", otlp)
            .env_remove("SEMTRACE_TOKEN"))
    })
    .await
    .unwrap();
}
