//! The browser side of our Socket.IO client: the [`protocol`] core driven
//! over a `WebSocket`, with timers from the browser's event loop.

mod driver;

use std::time::Duration;

use futures::channel::mpsc;
use serde_json::Value;

pub use driver::connect;

/// What the server answered to an emit made with an ack: its arguments,
/// or `None` when no answer came in time.
pub type AckCallback = Box<dyn FnOnce(Option<Vec<Value>>) + Send>;

/// Something the application asks of the connection.
enum Command {
    /// Emit an event and hand the server's answer to `answer`.
    EmitWithAck {
        event: &'static str,
        args: Vec<Value>,
        timeout: Duration,
        answer: AckCallback,
    },
    /// Send this CONNECT payload on the next (re)connection.
    SetAuth(Option<Value>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EmitWithAck { event, .. } => write!(f, "EmitWithAck({event})"),
            Self::SetAuth(_) => f.write_str("SetAuth"),
        }
    }
}

/// The application's handle on the connection. Cheap to clone; when every
/// handle is gone the connection is closed.
#[derive(Debug, Clone)]
pub struct SocketHandle {
    commands: mpsc::UnboundedSender<Command>,
}

impl SocketHandle {
    /// Emits `event` with one argument and calls `answer` with the server's
    /// answer, or with `None` once `timeout` has passed without one.
    pub fn emit_with_ack(
        &self,
        event: &'static str,
        arg: Value,
        timeout: Duration,
        answer: impl FnOnce(Option<Vec<Value>>) + Send + 'static,
    ) {
        self.send(Command::EmitWithAck {
            event,
            args: vec![arg],
            timeout,
            answer: Box::new(answer),
        });
    }

    /// Sends `auth` as the CONNECT payload from the next reconnection on.
    pub fn set_auth(&self, auth: Option<Value>) {
        self.send(Command::SetAuth(auth));
    }

    fn send(&self, command: Command) {
        // The driver only stops when every handle is dropped, so this cannot fail.
        let _ = self.commands.unbounded_send(command);
    }
}
