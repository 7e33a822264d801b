//! deploy/ checked by the tools this machine has (no container engine or Kubernetes runs
//! here): `systemd-analyze verify` for the unit, the compose spec's JSON schema
//! (check-jsonschema) for the compose file, Kubernetes' OpenAPI schemas (kubernetes-validate,
//! strict) for the manifests, and connectd's own loader for every worker.toml they carry.

use std::path::Path;

use crate::support::{repo_root, run_tool};

#[test]
fn the_systemd_unit_verifies_cleanly() {
    // systemd-analyze wants ExecStart to exist: check a copy that runs the built binary,
    // otherwise identical.
    let unit = std::fs::read_to_string(repo_root().join("deploy/connectd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/connectd --config"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("connectd.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/connectd", env!("CARGO_BIN_EXE_connectd")),
    )
    .unwrap();
    let (ok, out, err) = run_tool(
        "systemd-analyze",
        &["verify", "--man=no", copy.to_str().unwrap()],
        None,
    );
    // It exits 0 even for keys it ignores; a clean unit prints nothing at all.
    assert!(
        ok && out.trim().is_empty() && err.trim().is_empty(),
        "systemd-analyze verify:\n{out}{err}"
    );
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=connectd",
        "Restart=on-failure",
    ] {
        assert!(unit.contains(needed), "the unit sets {needed}");
    }
    // And the check can fail: a misspelt restart policy is reported.
    std::fs::write(
        &copy,
        std::fs::read_to_string(&copy)
            .unwrap()
            .replace("Restart=on-failure", "Restart=sometimes"),
    )
    .unwrap();
    let (_, out, err) = run_tool(
        "systemd-analyze",
        &["verify", "--man=no", copy.to_str().unwrap()],
        None,
    );
    assert!(format!("{out}{err}").contains("sometimes"), "{out}{err}");
}

#[test]
fn the_compose_file_fits_the_compose_spec() {
    let file = repo_root().join("deploy/compose/compose.yaml");
    let (ok, out, err) = run_tool(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "compose spec:\n{out}{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    for service in [
        "kafka:",
        "worker-1:",
        "worker-2:",
        "worker-3:",
        "KAFKA_PROCESS_ROLES: broker,controller",
    ] {
        assert!(text.contains(service), "compose.yaml has {service}");
    }
    // A wrong key is caught.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("compose.yaml");
    std::fs::write(
        &bad,
        text.replace("restart: unless-stopped", "restarts: unless-stopped"),
    )
    .unwrap();
    let (ok, _, _) = run_tool(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.compose-spec",
            bad.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok, "a misspelt key must fail the schema check");
}

#[test]
fn the_kubernetes_manifests_fit_the_kubernetes_schemas() {
    let file = repo_root().join("deploy/kubernetes/connectd.yaml");
    let (ok, out, err) = run_tool(
        "kubernetes-validate",
        &["--strict", "-k", "1.30.0", file.to_str().unwrap()],
        None,
    );
    let all = format!("{out}{err}");
    assert!(ok, "kubernetes-validate:\n{all}");
    for kind in [
        "statefulset/connectd",
        "service/connectd",
        "configmap/connectd",
    ] {
        assert!(
            all.contains(&format!("passed for resource {kind}")),
            "{all}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &bad,
        text.replace("serviceName: connectd", "serviceNam: connectd"),
    )
    .unwrap();
    let (ok, _, _) = run_tool(
        "kubernetes-validate",
        &["--strict", "-k", "1.30.0", bad.to_str().unwrap()],
        None,
    );
    assert!(!ok, "a misspelt field must fail the strict check");
}

/// Each worker.toml that deploy/ ships is one connectd accepts: it starts and fails only at
/// reaching its (absent) Kafka cluster, naming bootstrap_servers, not at its config.
#[test]
fn the_deploy_worker_configs_load() {
    let root = repo_root();
    let k8s = std::fs::read_to_string(root.join("deploy/kubernetes/connectd.yaml")).unwrap();
    let embedded = k8s
        .split("worker.toml: |\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let compose = std::fs::read_to_string(root.join("deploy/compose/worker.toml")).unwrap();
    for (what, text) in [("kubernetes", embedded), ("compose", compose)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // The container paths, moved under a temporary folder; Kafka at a closed port.
        let text = text
            .replace("/var/lib/connectd", &d.join("data").display().to_string())
            .replace(
                "/opt/connectd/plugins",
                &d.join("plugins").display().to_string(),
            )
            .replace(
                "/etc/connectd/connectors.d",
                &d.join("connectors.d").display().to_string(),
            )
            .replace("kafka:9092", "127.0.0.1:9");
        for sub in ["plugins", "connectors.d"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("worker.toml"), text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_connectd"))
            .args(["--config", d.join("worker.toml").to_str().unwrap()])
            .env("POD_NAME", "connectd-0")
            .env("HOSTNAME", "worker-1")
            .env("CONNECTD_LOG", "warn")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: {err}");
        assert!(
            err.contains("bootstrap_servers") && !err.contains("worker.toml:"),
            "{what}: the config loads and only the cluster is missing:\n{err}"
        );
    }
    assert!(Path::new(&root.join("deploy/Dockerfile")).exists());
}
