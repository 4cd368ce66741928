//! Desktop notifications, opt-in: once the reader turns them on (and the
//! browser grants the permission), a message from someone else arriving
//! while the tab is hidden shows as a notification. The choice is kept in
//! local storage.

use leptos::prelude::*;
use shared::ChatMessage;
use wasm_bindgen::JsCast as _;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

const STORAGE_KEY: &str = "chat.notify";

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// Whether the browser has notifications at all.
pub fn supported() -> bool {
    js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false)
}

/// Whether the reader turned notifications on, and the browser allows them.
pub fn enabled() -> bool {
    supported()
        && Notification::permission() == NotificationPermission::Granted
        && storage().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()) == Some("on".into())
}

/// Turns notifications on (asking the browser's permission first) or off;
/// `done` gets whether they are on afterwards.
pub fn set(on: bool, done: impl FnOnce(bool) + 'static) {
    let keep = |on: bool| {
        if let Some(storage) = storage() {
            let _ = storage.set_item(STORAGE_KEY, if on { "on" } else { "off" });
        }
    };
    if !on || !supported() {
        keep(false);
        return done(false);
    }
    let Ok(asking) = Notification::request_permission() else {
        return done(false);
    };
    leptos::task::spawn_local(async move {
        let answer = wasm_bindgen_futures::JsFuture::from(asking).await;
        let granted = answer.ok().and_then(|v| v.as_string()).as_deref() == Some("granted");
        keep(granted);
        done(granted);
    });
}

/// Shows `message` of `room` as a notification when they are on and the
/// tab is hidden.
pub fn message(room: &str, message: &ChatMessage) {
    if !document().hidden() || !enabled() {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(message.body.as_str());
    // One per room: a newer message replaces the older one.
    options.set_tag(room);
    let title = format!("{} in #{room}", message.user.as_str());
    if let Ok(shown) = Notification::new_with_options(&title, &options) {
        let focus = wasm_bindgen::closure::Closure::once_into_js(move || {
            let _ = window().focus();
        });
        shown.set_onclick(Some(focus.unchecked_ref()));
    }
}
