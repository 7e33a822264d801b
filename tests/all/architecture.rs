//! The crate tiers of ARCHITECTURE.md, checked over `cargo metadata`: a crate's dependencies
//! (normal and build, not dev: tests may reach anything below them) point only at crates of a
//! lower tier on its own side, or at the shared model. The host side (broker, worker, the
//! WebAssembly embedding) and the guest side (the SDK and the plugins) never depend on each
//! other. A crate missing from the table fails the test too: a new crate gets a place first.

use std::collections::BTreeMap;
use std::process::Command;

/// Which side of the WebAssembly boundary a crate builds for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Linked on both sides: the record model and config declarations.
    Shared,
    Host,
    Guest,
    /// Benchmarks: they measure the host against native builds of the guest crates.
    Bench,
}

/// Every workspace crate: its side and tier (higher tiers depend on lower ones).
const TIERS: &[(&str, Side, u8)] = &[
    ("connectd-config-derive", Side::Shared, 0),
    ("connectd-config", Side::Shared, 1),
    ("connectd-records", Side::Shared, 1),
    ("connectd-record-batch", Side::Host, 2),
    ("connectd-security", Side::Host, 2),
    ("connectd-log", Side::Host, 3),
    ("connectd-host", Side::Host, 3),
    ("connectd-cluster", Side::Host, 3),
    ("connectd-broker", Side::Host, 4),
    ("connectd-worker", Side::Host, 5),
    ("connectd-api", Side::Host, 6),
    ("connectd", Side::Host, 7),
    ("connectd-sdk", Side::Guest, 2),
    ("connectd-sql-common", Side::Guest, 3),
    ("connectd-file-source", Side::Guest, 4),
    ("connectd-file-sink", Side::Guest, 4),
    ("connectd-console-sink", Side::Guest, 4),
    ("connectd-datagen-source", Side::Guest, 4),
    ("connectd-filter", Side::Guest, 4),
    ("connectd-fields", Side::Guest, 4),
    ("connectd-route", Side::Guest, 4),
    ("connectd-sql-source", Side::Guest, 4),
    ("connectd-sql-sink", Side::Guest, 4),
    ("connectd-lake-sink", Side::Guest, 4),
    ("connectd-test-misbehave", Side::Guest, 4),
    ("connectd-test-flaky-sink", Side::Guest, 4),
    ("ticker-source", Side::Guest, 4),
    ("connectd-bench-kernel", Side::Bench, 8),
    ("connectd-bench-pipeline", Side::Bench, 8),
];

/// Whether a crate at `from` may depend on one at `to`.
fn allowed(from: (Side, u8), to: (Side, u8)) -> bool {
    let same_side = from.0 == to.0 || to.0 == Side::Shared || from.0 == Side::Bench;
    same_side && to.1 < from.1
}

/// Every workspace crate's dependencies on workspace crates (normal and build).
fn edges() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let names: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["kind"].as_str() != Some("dev"))
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d))
                .map(str::to_string)
                .collect();
            (p["name"].as_str().unwrap_or_default().to_string(), deps)
        })
        .collect()
}

/// The edges against the tiers, and the crates the table lacks.
fn violations(edges: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let tier = |name: &str| {
        TIERS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, side, tier)| (*side, *tier))
    };
    let mut found = Vec::new();
    for (name, deps) in edges {
        let Some(from) = tier(name) else {
            found.push(format!(
                "{name} has no tier: add it to TIERS and ARCHITECTURE.md"
            ));
            continue;
        };
        for dep in deps {
            match tier(dep) {
                Some(to) if allowed(from, to) => {}
                Some(to) => found.push(format!(
                    "{name} ({:?} tier {}) depends on {dep} ({:?} tier {})",
                    from.0, from.1, to.0, to.1
                )),
                None => {} // reported as a crate without a tier
            }
        }
    }
    found
}

#[test]
fn every_crate_edge_follows_the_tiers() {
    let edges = edges();
    assert!(edges.len() >= TIERS.len(), "{edges:?}");
    let found = violations(&edges);
    assert!(
        found.is_empty(),
        "against ARCHITECTURE.md:\n{}",
        found.join("\n")
    );
}

#[test]
fn an_edge_against_the_tiers_is_caught() {
    let mut edges = edges();
    for (from, to) in [
        ("connectd-host", "connectd-sdk"),
        ("connectd-records", "connectd-log"),
        ("connectd-broker", "connectd-worker"),
        ("connectd-sdk", "connectd-host"),
    ] {
        let mut bad = edges.clone();
        bad.get_mut(from).expect(from).push(to.to_string());
        let found = violations(&bad);
        assert_eq!(found.len(), 1, "{from} -> {to}: {found:?}");
        assert!(
            found[0].contains(from) && found[0].contains(to),
            "{found:?}"
        );
    }
    edges.insert("connectd-new".into(), vec![]);
    assert!(violations(&edges)[0].contains("connectd-new has no tier"));
}
