//! An example semtrace error classifier: a team's rules for its applications' own dialect of
//! failure messages, which no built-in signature knows (`[getThing][Get Thing Failed]`,
//! `No instances available for orders`, `[check][Wrong State]`), filed under semtrace's
//! taxonomy. The ABI: `semtrace_alloc(len) -> ptr`, `semtrace_classify(ptr, len) -> i64`
//! returning `(out_ptr << 32) | out_len` of `{"label": "...", "score": ...}`; 0 for no opinion.

use std::cell::RefCell;

thread_local! {
    /// The last answer, kept alive until the host has read it.
    static ANSWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// (what the text contains, lower-cased; the label; the score).
const RULES: &[(&[&str], &str, f32)] = &[
    (&["no instances available", "no healthy upstream", "no available server"], "service discovery failure", 0.95),
    (&["failed][", "result is null", "returned null", "is empty]"], "lookup found nothing", 0.7),
    (&["wrong state", "illegal state transition", "invalid status"], "request refused by a business rule", 0.8),
    (&["insufficient funds", "card declined", "do not honor"], "payment declined", 0.9),
    (&["quota exceeded", "too many requests", "throttl"], "rate limited", 0.85),
];

#[no_mangle]
pub extern "C" fn semtrace_alloc(len: i32) -> i32 {
    let buffer = vec![0u8; len.max(0) as usize].into_boxed_slice();
    Box::leak(buffer).as_mut_ptr() as i32
}

#[no_mangle]
pub extern "C" fn semtrace_classify(ptr: i32, len: i32) -> i64 {
    // SAFETY: the host wrote `len` bytes at the address `semtrace_alloc` returned.
    let input = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) };
    let text = String::from_utf8_lossy(input).to_lowercase();
    let Some((_, label, score)) = RULES.iter().find(|(needles, _, _)| needles.iter().any(|needle| text.contains(needle)))
    else {
        return 0;
    };
    ANSWER.with(|answer| {
        let mut answer = answer.borrow_mut();
        *answer = format!(r#"{{"label":"{label}","score":{score}}}"#).into_bytes();
        ((answer.as_ptr() as i64) << 32) | answer.len() as i64
    })
}
