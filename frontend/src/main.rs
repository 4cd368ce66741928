//! The chat in the browser: a Leptos app over our own Socket.IO client.
//! Built by Trunk (see `Trunk.toml`); `main` only mounts [`app::App`].

mod app;
mod chat;
mod components;
mod group;
mod notify;
mod outbox;
mod private;
mod private_lines;
mod rooms;
mod session;
mod socket;
mod time;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
