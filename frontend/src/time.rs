//! Showing server timestamps in the reader's own time zone.

use shared::Timestamp;

/// `14:05`, in the browser's local time.
pub fn clock(at: Timestamp) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// The full local date and time, for a tooltip and the `datetime` attribute.
pub fn full(at: Timestamp) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    String::from(date.to_iso_string())
}

/// The local calendar day of `at`, to tell days apart.
pub fn day(at: Timestamp) -> (u32, u32, u32) {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    (date.get_full_year(), date.get_month(), date.get_date())
}

/// The day of `at` as the reader's browser writes it: `Today`, or a date
/// like `Friday 27 November 2026` in the browser's language.
pub fn day_label(at: Timestamp) -> String {
    let now = js_sys::Date::now();
    if day(at) == day(Timestamp(now as u64)) {
        return "Today".to_owned();
    }
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(at.0 as f64));
    let options = js_sys::Object::new();
    for (key, value) in [
        ("weekday", "long"),
        ("day", "numeric"),
        ("month", "long"),
        ("year", "numeric"),
    ] {
        let _ = js_sys::Reflect::set(&options, &key.into(), &value.into());
    }
    String::from(date.to_locale_date_string("default", &options))
}
