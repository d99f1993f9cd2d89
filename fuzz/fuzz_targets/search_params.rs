#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| semtrace_fuzzing::search_params(data));
