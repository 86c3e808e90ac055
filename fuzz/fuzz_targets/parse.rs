//! Parser fuzzing: any bytes either parse or give an error, never a panic; a parsed file
//! dumps, serializes, and plans (with an empty base resolver) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(df) = rbuild::dockerfile::parse(data) {
        let dump = rbuild::dockerfile::dump(&df);
        assert!(dump.matches('\n').count() == df.instructions.len());
        let _ = serde_json::to_string(&df);
        for node in &df.instructions {
            assert!(node.location.start_line <= node.location.end_line);
        }
    } else if let Err(e) = rbuild::dockerfile::parse(data) {
        let _ = e
            .diagnostic("Dockerfile")
            .render(&String::from_utf8_lossy(data));
    }
});
