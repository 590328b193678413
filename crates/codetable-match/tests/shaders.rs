//! Every kernel in `shaders/` parses and validates with naga, so a broken shader fails
//! here even on a machine without any GPU. The files are read from disk, and each is
//! checked to be the one the matcher embeds.

use std::path::Path;

#[test]
fn every_shader_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{}: no `main` entry point",
            path.display()
        );
        checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
        assert!(
            [
                codetable_match::CANDIDATES_WGSL,
                codetable_match::LCS_WGSL,
                codetable_match::QUERY_WGSL,
            ]
            .contains(&source.as_str()),
            "{}: not embedded by the matcher",
            path.display()
        );
    }
    checked.sort();
    assert_eq!(checked, ["candidates.wgsl", "lcs.wgsl", "query.wgsl"]);
}
