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
