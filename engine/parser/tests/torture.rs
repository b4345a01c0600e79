//! RFC 4475 and RFC 5118 torture messages as a conformance suite (STYLE L10): every valid
//! message parses, every invalid one is an error (or, for `badvers`, a parse with the version
//! recorded so that the caller answers 505).

use std::path::PathBuf;

use ferrosip_parser::{parse, HeaderName, ParseError, Version};

/// The torture data directory, `None` (with a note) if it is not checked out.
fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/sip-torture");
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("note: {} absent, torture tests skipped", dir.display());
        None
    }
}

/// One MANIFEST.tsv row: file, category, and the expected outcome.
struct Row {
    file: String,
    category: String,
}

fn manifest(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Row { file: cols[0].to_string(), category: cols[5].to_string() }
        })
        .collect()
}

/// The error each invalid message must produce (the most specific reason we give).
fn expected_error(name: &str) -> Option<ParseError> {
    Some(match name {
        "badinv01" => ParseError::BadVia,
        "clerr" => ParseError::BodyTruncated,
        "ncl" => ParseError::BadContentLength,
        "scalar02" | "scalarlg" => ParseError::BadCSeq,
        "quotbal" => ParseError::UnterminatedQuote,
        "ltgtruri" | "escruri" | "ipv6-bad" => ParseError::BadUri,
        "lwsruri" | "lwsstart" | "trws" | "test" => ParseError::StartLine,
        "baddate" => ParseError::HeaderValue(HeaderName::Date),
        "regbadct" => ParseError::HeaderValue(HeaderName::Contact),
        "badaspec" => ParseError::HeaderValue(HeaderName::To),
        "baddn" => ParseError::HeaderValue(HeaderName::From),
        "mismatch01" | "mismatch02" => ParseError::CSeqMethodMismatch,
        "bigcode" => ParseError::BadStatusCode,
        "insuf" => ParseError::MissingHeader(HeaderName::From),
        "multi01" => ParseError::DuplicateHeader(HeaderName::CSeq),
        "mcl01" => ParseError::DuplicateHeader(HeaderName::ContentLength),
        _ => return None,
    })
}

#[test]
fn torture_manifest() {
    let Some(dir) = data_dir() else { return };
    let rows = manifest(&dir);
    assert!(rows.len() >= 60, "MANIFEST has {} rows", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let buf = std::fs::read(dir.join(&row.file)).expect("read .dat");
        let arena = bumpalo::Bump::new();
        let stem = row.file.rsplit('/').next().unwrap().trim_end_matches(".dat").to_string();
        let res = parse(&buf, &arena);
        match (row.category.as_str(), &res) {
            ("valid", Ok(_)) => {}
            ("invalid", Ok(m)) if stem == "badvers" => {
                assert_eq!(m.version(), Version { major: 7, minor: 0 });
            }
            ("invalid", Err(e)) if expected_error(&stem).map_or(true, |x| x == *e) => {}
            _ => failures.push(format!("{} ({}): {:?}", row.file, row.category, res.map(|_| ()))),
        }
    }
    assert!(failures.is_empty(), "unexpected results:\n{}", failures.join("\n"));
}

/// Prints every message's outcome (run with `--nocapture` to review).
#[test]
fn torture_outcomes_listed() {
    let Some(dir) = data_dir() else { return };
    for row in manifest(&dir) {
        let buf = std::fs::read(dir.join(&row.file)).expect("read .dat");
        let arena = bumpalo::Bump::new();
        let res = parse(&buf, &arena);
        println!("{:45} {:8} {:?}", row.file, row.category, res.as_ref().map(|m| m.vias().len()));
    }
}
