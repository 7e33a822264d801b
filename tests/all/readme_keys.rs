//! The README's key tables are what the plugins declare: each `<!-- keys: NAME -->` block
//! holds exactly what `connectd plugins describe` prints for that plugin (built from source
//! for wasm32-wasip2), or for `--worker`. A declaration changed without the README fails
//! here; `CONNECTD_BLESS=1` rewrites the blocks instead.

use std::path::Path;
use std::process::Command;

use crate::connectors::build_connector;

/// Every block the README must hold: its name and the crate that builds the plugin.
const BLOCKS: &[(&str, Option<&str>)] = &[
    ("worker", None),
    ("file-source", Some("connectd-file-source")),
    ("file-sink", Some("connectd-file-sink")),
    ("console-sink", Some("connectd-console-sink")),
    ("datagen-source", Some("connectd-datagen-source")),
    ("filter", Some("connectd-filter")),
    ("fields", Some("connectd-fields")),
    ("route", Some("connectd-route")),
    ("sql-source", Some("connectd-sql-source")),
    ("sql-sink", Some("connectd-sql-sink")),
    ("lake-sink", Some("connectd-lake-sink")),
];

const END: &str = "<!-- /keys -->";

/// What `connectd plugins describe` prints for one block.
fn described(package: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_connectd"));
    command.args(["plugins", "describe"]);
    match package {
        Some(package) => command.arg(build_connector(package)),
        None => command.arg("--worker"),
    };
    let out = command.output().expect("running connectd plugins describe");
    assert!(
        out.status.success(),
        "connectd plugins describe {package:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 table")
}

/// The text between `<!-- keys: name -->` and the end marker, and where it starts and ends.
fn block(readme: &str, name: &str) -> Option<(usize, usize)> {
    let start_marker = format!("<!-- keys: {name} -->\n");
    let start = readme.find(&start_marker)? + start_marker.len();
    let end = start + readme[start..].find(END)?;
    Some((start, end))
}

#[test]
fn readme_key_tables_are_what_the_plugins_declare() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let mut readme = std::fs::read_to_string(&path).expect("README.md");
    let bless = std::env::var_os("CONNECTD_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, package) in BLOCKS {
        let (start, end) = block(&readme, name)
            .unwrap_or_else(|| panic!("README.md has no <!-- keys: {name} --> ... {END} block"));
        let table = described(*package);
        assert!(
            table.lines().count() > 2,
            "{name}: describe printed no key:\n{table}"
        );
        if readme[start..end] != table {
            stale.push(*name);
            if bless {
                readme.replace_range(start..end, &table);
            }
        }
    }
    if bless {
        std::fs::write(&path, &readme).expect("writing README.md");
        return;
    }
    assert!(
        stale.is_empty(),
        "README.md's key tables for {stale:?} differ from what the plugins declare; \
         regenerate them with `CONNECTD_BLESS=1 cargo test -p connectd --test all readme_key_tables`"
    );
}
