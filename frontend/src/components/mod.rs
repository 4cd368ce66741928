//! The page's parts, one component per file.

mod announcer;
mod compose_form;
mod connection_status;
mod message_item;
mod message_list;
mod notify_toggle;
mod presence_bar;
mod private_conversation;
mod room_list;

pub use announcer::Announcer;
pub use compose_form::ComposeForm;
pub use connection_status::ConnectionStatus;
pub use message_item::MessageItem;
pub use message_list::MessageList;
pub use notify_toggle::NotifyToggle;
pub use presence_bar::PresenceBar;
pub use private_conversation::PrivateConversation;
pub use room_list::RoomList;
