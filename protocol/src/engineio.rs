//! Engine.IO v4 packets, as they travel in WebSocket text frames.
//!
//! A text frame is one type digit followed by the packet data: `0{...}` open,
//! `1` close, `2` ping, `3` pong, `4...` message, `5` upgrade, `6` noop.

use serde::Deserialize;

use crate::DecodeError;

/// The server's answer to a new connection (`0{...}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    /// The Engine.IO session id.
    pub sid: String,
    /// Transports the session may upgrade to.
    #[serde(default)]
    pub upgrades: Vec<String>,
    /// How often the server pings, in milliseconds.
    pub ping_interval: u64,
    /// How long the server waits for a pong, in milliseconds.
    pub ping_timeout: u64,
    /// The largest payload the server accepts, in bytes (default 1,000,000 as in the spec).
    #[serde(default = "default_max_payload")]
    pub max_payload: usize,
}

fn default_max_payload() -> usize {
    1_000_000
}

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Session opened, with its parameters.
    Open(Handshake),
    /// The session is over.
    Close,
    /// Heartbeat from the server (or an upgrade probe with data `probe`).
    Ping(String),
    /// Answer to a ping, echoing its data.
    Pong(String),
    /// A Socket.IO packet, still encoded.
    Message(String),
    /// Finishes a transport upgrade.
    Upgrade,
    /// Does nothing; used to cut short a pending poll.
    Noop,
}

impl Packet {
    /// Decodes one text frame.
    pub fn decode(frame: &str) -> Result<Self, DecodeError> {
        let mut chars = frame.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let data = chars.as_str();
        Ok(match kind {
            '0' => Self::Open(serde_json::from_str(data)?),
            '1' => Self::Close,
            '2' => Self::Ping(data.to_owned()),
            '3' => Self::Pong(data.to_owned()),
            '4' => Self::Message(data.to_owned()),
            '5' => Self::Upgrade,
            '6' => Self::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// Encodes the packets a client sends. An `Open` is only ever sent by
    /// servers, so it encodes as a bare `0`.
    pub fn encode(&self) -> String {
        match self {
            Self::Open(_) => "0".to_owned(),
            Self::Close => "1".to_owned(),
            Self::Ping(data) => format!("2{data}"),
            Self::Pong(data) => format!("3{data}"),
            Self::Message(data) => format!("4{data}"),
            Self::Upgrade => "5".to_owned(),
            Self::Noop => "6".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_packet_type() {
        let open = Packet::decode(
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        )
        .unwrap();
        assert_eq!(
            open,
            Packet::Open(Handshake {
                sid: "abc".into(),
                upgrades: vec!["websocket".into()],
                ping_interval: 25000,
                ping_timeout: 20000,
                max_payload: 1_000_000,
            })
        );
        assert_eq!(Packet::decode("1").unwrap(), Packet::Close);
        assert_eq!(Packet::decode("2").unwrap(), Packet::Ping(String::new()));
        assert_eq!(
            Packet::decode("2probe").unwrap(),
            Packet::Ping("probe".into())
        );
        assert_eq!(
            Packet::decode("3probe").unwrap(),
            Packet::Pong("probe".into())
        );
        assert_eq!(
            Packet::decode("42[\"a\"]").unwrap(),
            Packet::Message("2[\"a\"]".into())
        );
        assert_eq!(Packet::decode("5").unwrap(), Packet::Upgrade);
        assert_eq!(Packet::decode("6").unwrap(), Packet::Noop);
    }

    #[test]
    fn encodes_what_a_client_sends() {
        assert_eq!(Packet::Pong(String::new()).encode(), "3");
        assert_eq!(Packet::Ping("probe".into()).encode(), "2probe");
        assert_eq!(Packet::Message("0".into()).encode(), "40");
        assert_eq!(Packet::Close.encode(), "1");
        assert_eq!(Packet::Upgrade.encode(), "5");
        assert_eq!(Packet::Noop.encode(), "6");
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(Packet::decode(""), Err(DecodeError::Empty)));
        assert!(matches!(
            Packet::decode("7"),
            Err(DecodeError::UnknownType('7'))
        ));
        assert!(matches!(
            Packet::decode("é"),
            Err(DecodeError::UnknownType('é'))
        ));
        assert!(matches!(Packet::decode("0{"), Err(DecodeError::Json(_))));
        assert!(matches!(
            Packet::decode("0{\"sid\":1}"),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(Packet::decode("0[]"), Err(DecodeError::Json(_))));
    }
}
