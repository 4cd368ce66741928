//! Server-sent events, as far as chat-completion streams use them: the
//! `data:` lines of a `text/event-stream` body, read as they arrive.

use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::BotError;

/// The longest line accepted; a stream that never ends a line is an error,
/// not a memory leak.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Reads the `data:` fields of an event stream, one at a time.
pub(super) struct DataLines {
    body: Incoming,
    buffer: Vec<u8>,
    ended: bool,
}

impl DataLines {
    /// Reads `body` as an event stream.
    pub(super) fn new(body: Incoming) -> Self {
        Self {
            body,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next `data:` field, without the prefix; `None` when the body ended.
    /// Comments, other fields and blank lines are skipped.
    pub(super) async fn next(&mut self) -> Result<Option<String>, BotError> {
        loop {
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8(line)
                    .map_err(|_| BotError::Unavailable("stream is not UTF-8".to_owned()))?;
                let line = line.trim_end_matches(['\n', '\r']);
                if let Some(data) = line.strip_prefix("data:") {
                    return Ok(Some(data.strip_prefix(' ').unwrap_or(data).to_owned()));
                }
            }
            if self.ended {
                return Ok(None);
            }
            if self.buffer.len() > MAX_LINE_BYTES {
                return Err(BotError::Unavailable("stream line too long".to_owned()));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => {
                    return Err(BotError::Unavailable(format!("stream broken: {error}")));
                }
                None => {
                    self.ended = true;
                    // A last line without its newline still counts.
                    if !self.buffer.is_empty() {
                        self.buffer.push(b'\n');
                    }
                }
            }
        }
    }
}
