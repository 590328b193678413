//! Every kernel parses and validates with naga, so a broken shader fails here even on a
//! machine without any GPU; and every file in `shaders/` is part of a kernel the matcher
//! embeds.

use std::path::Path;

const KERNELS: [(&str, &str); 3] = [
    ("candidates", codetable_match::CANDIDATES_WGSL),
    ("lcs", codetable_match::LCS_WGSL),
    ("query", codetable_match::QUERY_WGSL),
];

#[test]
fn every_kernel_parses_and_validates() {
    for (name, source) in KERNELS {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{name}: no `main` entry point"
        );
    }
}

#[test]
fn every_shader_file_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shaders");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            KERNELS.iter().any(|(_, source)| source.contains(&text)),
            "{}: not part of any kernel the matcher embeds",
            path.display()
        );
        files.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    files.sort();
    assert_eq!(
        files,
        ["candidates.wgsl", "lcs.wgsl", "query.wgsl", "scan.wgsl"]
    );
}
