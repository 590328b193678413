use codetable_syntax::{Detection, SyntaxParser};
use codetable_fingerprint::{Fingerprinter, FingerprintConfig, UNBANDED};
fn main() {
    let mut p = SyntaxParser::default();
    let mut f = Fingerprinter::default();
    for path in std::env::args().skip(1) {
        let src = std::fs::read(&path).unwrap();
        let lang = Detection::from_file_name(std::path::Path::new(&path).file_name().unwrap()).unwrap().resolve(&src);
        let tree = p.parse(lang, &src).unwrap();
        let fp = f.fingerprint(tree, &src, &FingerprintConfig::default());
        for fr in fp.fragments.iter().take(8) {
            let unb = fr.sketch.0.iter().filter(|&&v| v & UNBANDED != 0).count();
            println!("{} tokens {} unbanded {}", fr.span.start_line, fr.token_count(), unb);
        }
    }
}
