//! The browser side of our Socket.IO client: the [`protocol`] core driven
//! over a `WebSocket`, with timers from the browser's event loop.

mod driver;

use futures::channel::mpsc;
use serde_json::Value;

pub use driver::connect;

/// Something the application asks of the connection.
#[derive(Debug)]
enum Command {
    /// Emit an event; kept while offline and sent on reconnect.
    Emit {
        event: &'static str,
        args: Vec<Value>,
    },
}

/// The application's handle on the connection. Cheap to clone; when every
/// handle is gone the connection is closed.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl SocketHandle {
    /// Emits `event` with one argument. While offline, the emit waits and is
    /// sent, in order, when the connection is back.
    pub fn emit(&self, event: &'static str, arg: Value) {
        let command = Command::Emit {
            event,
            args: vec![arg],
        };
        // The driver only stops when every handle is dropped, so this cannot fail.
        let _ = self.commands.unbounded_send(command);
    }
}
