//! Parser and planner fuzzing: any bytes either parse or give an error, never a panic; a
//! parsed file dumps, serializes, plans (with the empty base resolver) and renders its
//! diagnostics without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::plan::{self, EmptyResolver, PlanOptions};

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    match rbuild::dockerfile::parse(data) {
        Ok(df) => {
            let dump = rbuild::dockerfile::dump(&df);
            assert_eq!(dump.matches('\n').count(), df.instructions.len());
            let _ = serde_json::to_string(&df);
            for node in &df.instructions {
                assert!(node.location.start_line <= node.location.end_line);
            }
            match plan::plan(&df, &PlanOptions::default(), &EmptyResolver) {
                Ok(g) => {
                    let _ = plan::render_dry_run(&g);
                }
                Err(e) => {
                    let _ = e.diagnostic("Dockerfile").render(&source);
                }
            }
        }
        Err(e) => {
            let _ = e.diagnostic("Dockerfile").render(&source);
        }
    }
});
