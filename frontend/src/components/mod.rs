//! The page's parts, one component per file.

mod announcer;
mod bot_conversation;
mod compose_form;
mod connection_status;
mod message_item;
mod message_list;
mod notify_toggle;
mod presence_bar;
mod room_list;

pub use announcer::Announcer;
pub use bot_conversation::BotConversation;
pub use compose_form::ComposeForm;
pub use connection_status::ConnectionStatus;
pub use message_item::MessageItem;
pub use message_list::MessageList;
pub use notify_toggle::NotifyToggle;
pub use presence_bar::PresenceBar;
pub use room_list::RoomList;
