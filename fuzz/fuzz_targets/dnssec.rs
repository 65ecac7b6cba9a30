#![no_main]

// Each target uses one of the property functions; the rest are for the other targets.
#[allow(dead_code)]
#[path = "../props.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| props::check_dnssec(data));
