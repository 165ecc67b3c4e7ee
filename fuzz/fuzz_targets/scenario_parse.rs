//! The scenario parser on arbitrary UTF-8: `Ok` or `Err`, never a panic or
//! a hang (libFuzzer's `-timeout`); an accepted scenario is validated too.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(sc) = sched_sim::Scenario::parse(text, "fuzz.toml") {
        let _ = sc.validate();
    }
});
