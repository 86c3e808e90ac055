//! Lexer fuzzing: expansion of any word, in every mode, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild::dockerfile::shell::Lexer;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let env: Vec<(String, String)> = vec![
        ("A".into(), "a b".into()),
        ("E".into(), String::new()),
        ("P".into(), "/x/*/y?".into()),
    ];
    for (i, escape) in ['\\', '`'].into_iter().enumerate() {
        let mut lex = Lexer::new(escape);
        lex.raw_quotes = i == 1;
        lex.raw_escapes = i == 1;
        lex.skip_unset_env = i == 1;
        let _ = lex.process_word(s, &env);
        let _ = lex.process_words(s, &env);
    }
});
