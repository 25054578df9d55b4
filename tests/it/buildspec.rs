//! The top-level buildspec.yml: the CodeBuild step runs the checked binary, nothing else.

use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn commands(doc: &Yaml, phase: &str) -> Vec<String> {
    doc["phases"][phase]["commands"]
        .as_vec()
        .unwrap_or_else(|| panic!("phase {phase} has no commands"))
        .iter()
        .map(|c| c.as_str().expect("commands are strings").to_string())
        .collect()
}

#[test]
fn buildspec_runs_the_checked_binary_and_exports_its_results() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    assert_eq!(doc["version"].as_f64(), Some(0.2));
    let install = commands(doc, "install");
    assert!(
        install[0].contains("sha256sum --check"),
        "the binary's SHA-256 is checked first: {install:?}"
    );
    let build = commands(doc, "build");
    assert!(
        build
            .iter()
            .any(|c| c.contains("invisible-pipeline\" \"${INVISIBLE_PIPELINE_COMMAND:-deploy}\"")),
        "{build:?}"
    );
    let exported: Vec<_> = doc["env"]["exported-variables"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(
        exported,
        ["DEPLOYMENT_ID", "BUNDLE_LOCATION", "BUNDLE_SHA256"]
    );
    // Every exported variable is one the binary writes to its export file.
    let src = std::fs::read_to_string(format!("{ROOT}/src/deploy.rs")).unwrap();
    for var in exported {
        assert!(
            src.contains(&format!("{var}=")),
            "{var} is not written by the binary"
        );
    }
}

#[test]
fn buildspec_has_no_privileged_or_network_installs() {
    let text = std::fs::read_to_string(format!("{ROOT}/buildspec.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    for phase in ["install", "build"] {
        for command in commands(doc, phase) {
            for banned in [
                "npm install",
                "pip install",
                "git clone",
                "sudo",
                "docker",
                "curl",
                "wget",
                "aws s3 cp",
                "yum",
                "dnf",
                "apt",
            ] {
                assert!(
                    !command.contains(banned),
                    "{phase}: '{command}' uses {banned}"
                );
            }
        }
    }
    assert!(doc["phases"]["pre_build"].is_badvalue() && doc["phases"]["post_build"].is_badvalue());
}
