//! Socket.IO v5 packets, carried inside Engine.IO messages.
//!
//! Format: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, where the
//! namespace is written only when it is not `/`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::DecodeError;

/// Largest number of binary attachments a packet may announce. The official
/// server never sends more than the arguments it was given; a larger count
/// is hostile and would make a client wait for frames that never come.
pub const MAX_ATTACHMENTS: usize = 1024;

/// The seven Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// Join a namespace (client, with optional auth) or confirm it (server, with `{sid}`).
    Connect,
    /// Leave a namespace.
    Disconnect,
    /// An event: `["name", args...]`, optionally asking for an ack.
    Event,
    /// The answer to an event that asked for one: `[args...]`.
    Ack,
    /// The server refused a namespace connection: `{message, data?}`.
    ConnectError,
    /// An event with binary attachments following in separate frames.
    BinaryEvent,
    /// An ack with binary attachments following in separate frames.
    BinaryAck,
}

impl PacketKind {
    fn from_digit(c: char) -> Option<Self> {
        Some(match c {
            '0' => Self::Connect,
            '1' => Self::Disconnect,
            '2' => Self::Event,
            '3' => Self::Ack,
            '4' => Self::ConnectError,
            '5' => Self::BinaryEvent,
            '6' => Self::BinaryAck,
            _ => return None,
        })
    }

    fn digit(self) -> char {
        match self {
            Self::Connect => '0',
            Self::Disconnect => '1',
            Self::Event => '2',
            Self::Ack => '3',
            Self::ConnectError => '4',
            Self::BinaryEvent => '5',
            Self::BinaryAck => '6',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::Disconnect => "DISCONNECT",
            Self::Event => "EVENT",
            Self::Ack => "ACK",
            Self::ConnectError => "CONNECT_ERROR",
            Self::BinaryEvent => "BINARY_EVENT",
            Self::BinaryAck => "BINARY_ACK",
        }
    }

    /// Whether binary attachments follow packets of this type.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }
}

/// One Socket.IO packet. [`Packet::decode`] only returns packets whose data
/// has the shape their type requires, so the accessors can be trusted.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// What the packet is.
    pub kind: PacketKind,
    /// The namespace, `/` by default.
    pub namespace: String,
    /// The ack id: asked for on events, answered on acks.
    pub id: Option<u64>,
    /// How many binary frames follow (binary types only).
    pub attachments: usize,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

impl Packet {
    /// A CONNECT to `namespace`, with the auth payload the server's middleware reads.
    pub fn connect(namespace: &str, auth: Option<Value>) -> Self {
        Self::new(PacketKind::Connect, namespace, None, auth)
    }

    /// A DISCONNECT from `namespace`.
    pub fn disconnect(namespace: &str) -> Self {
        Self::new(PacketKind::Disconnect, namespace, None, None)
    }

    /// An EVENT `name` with `args`, asking for an ack when `id` is set.
    pub fn event(namespace: &str, name: &str, args: Vec<Value>, id: Option<u64>) -> Self {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::String(name.to_owned()));
        data.extend(args);
        Self::new(PacketKind::Event, namespace, id, Some(Value::Array(data)))
    }

    /// The ACK answering event `id` with `args`.
    pub fn ack(namespace: &str, id: u64, args: Vec<Value>) -> Self {
        Self::new(
            PacketKind::Ack,
            namespace,
            Some(id),
            Some(Value::Array(args)),
        )
    }

    fn new(kind: PacketKind, namespace: &str, id: Option<u64>, data: Option<Value>) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            id,
            attachments: 0,
            data,
        }
    }

    /// For an event: its name and arguments.
    pub fn event_parts(&self) -> Option<(&str, &[Value])> {
        match (&self.kind, &self.data) {
            (PacketKind::Event | PacketKind::BinaryEvent, Some(Value::Array(items))) => {
                let (name, args) = items.split_first()?;
                Some((name.as_str()?, args))
            }
            _ => None,
        }
    }

    /// For an event: its name and arguments, taken out of the packet
    /// rather than copied.
    pub fn into_event_parts(self) -> Option<(String, Vec<Value>)> {
        match (self.kind, self.data) {
            (PacketKind::Event | PacketKind::BinaryEvent, Some(Value::Array(mut items)))
                if items.first().is_some_and(Value::is_string) =>
            {
                let Value::String(name) = items.remove(0) else {
                    return None;
                };
                Some((name, items))
            }
            _ => None,
        }
    }

    /// For an ack: its arguments, taken out of the packet rather than
    /// copied.
    pub fn into_ack_args(self) -> Option<Vec<Value>> {
        match (self.kind, self.data) {
            (PacketKind::Ack | PacketKind::BinaryAck, Some(Value::Array(items))) => Some(items),
            _ => None,
        }
    }

    /// For an ack: its arguments.
    pub fn ack_args(&self) -> Option<&[Value]> {
        match (&self.kind, &self.data) {
            (PacketKind::Ack | PacketKind::BinaryAck, Some(Value::Array(items))) => Some(items),
            _ => None,
        }
    }

    /// Writes the packet in its text form (the part after the Engine.IO `4`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(self.kind.digit());
        if self.kind.is_binary() {
            // Writing to a String cannot fail.
            let _ = write!(out, "{}-", self.attachments);
        }
        if self.namespace != "/" {
            out.push_str(&self.namespace);
            out.push(',');
        }
        if let Some(id) = self.id {
            let _ = write!(out, "{id}");
        }
        if let Some(data) = &self.data {
            out.push_str(&data.to_string());
        }
        out
    }

    /// Reads a packet from its text form, checking that the payload has the
    /// shape its type requires.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let mut rest = text;
        let first = rest.chars().next().ok_or(DecodeError::Empty)?;
        let kind = PacketKind::from_digit(first).ok_or(DecodeError::UnknownType(first))?;
        rest = &rest[first.len_utf8()..];

        let mut attachments = 0;
        if kind.is_binary() {
            let (count, after) = rest.split_once('-').ok_or(DecodeError::BadNumber)?;
            attachments = parse_number(count)?;
            if attachments > MAX_ATTACHMENTS as u64 {
                return Err(DecodeError::BadPayload {
                    kind: kind.name(),
                    reason: "too many attachments",
                });
            }
            rest = after;
        }

        let mut namespace = "/";
        if rest.starts_with('/') {
            match rest.split_once(',') {
                Some((ns, after)) => {
                    namespace = ns;
                    rest = after;
                }
                None => {
                    namespace = rest;
                    rest = "";
                }
            }
        }

        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id = if digits > 0 {
            Some(parse_number(&rest[..digits])?)
        } else {
            None
        };
        rest = &rest[digits..];

        let data = if rest.is_empty() {
            None
        } else {
            Some(serde_json::from_str::<Value>(rest)?)
        };

        let packet = Self {
            kind,
            namespace: namespace.to_owned(),
            id,
            attachments: usize::try_from(attachments).map_err(|_| DecodeError::BadNumber)?,
            data,
        };
        packet.check_shape()?;
        Ok(packet)
    }

    fn check_shape(&self) -> Result<(), DecodeError> {
        let bad = |reason| DecodeError::BadPayload {
            kind: self.kind.name(),
            reason,
        };
        match self.kind {
            PacketKind::Connect => match &self.data {
                None | Some(Value::Object(_)) => Ok(()),
                Some(_) => Err(bad("expected an object")),
            },
            PacketKind::Disconnect => Ok(()),
            PacketKind::Event | PacketKind::BinaryEvent => self
                .event_parts()
                .map(|_| ())
                .ok_or_else(|| bad("expected an array starting with the event name")),
            PacketKind::Ack | PacketKind::BinaryAck => {
                if self.id.is_none() {
                    Err(bad("missing ack id"))
                } else if self.ack_args().is_none() {
                    Err(bad("expected an array of arguments"))
                } else {
                    Ok(())
                }
            }
            PacketKind::ConnectError => match &self.data {
                Some(Value::Object(_) | Value::String(_)) => Ok(()),
                _ => Err(bad("expected an object with a message")),
            },
        }
    }
}

fn parse_number(digits: &str) -> Result<u64, DecodeError> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::BadNumber);
    }
    digits.parse().map_err(|_| DecodeError::BadNumber)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(packet: &Packet, text: &str) {
        assert_eq!(packet.encode(), text);
        assert_eq!(&Packet::decode(text).unwrap(), packet);
    }

    #[test]
    fn every_packet_type_round_trips() {
        round_trip(&Packet::connect("/", None), "0");
        round_trip(
            &Packet::connect("/admin", Some(json!({"token": "t"}))),
            r#"0/admin,{"token":"t"}"#,
        );
        round_trip(&Packet::disconnect("/"), "1");
        round_trip(&Packet::disconnect("/admin"), "1/admin,");
        round_trip(
            &Packet::event("/", "newmessage", vec![json!({"user": "ann"})], None),
            r#"2["newmessage",{"user":"ann"}]"#,
        );
        round_trip(
            &Packet::event("/chat", "hello", vec![json!(1)], Some(12)),
            r#"2/chat,12["hello",1]"#,
        );
        round_trip(&Packet::ack("/", 12, vec![json!("ok")]), r#"312["ok"]"#);
        round_trip(&Packet::ack("/chat", 0, vec![]), "3/chat,0[]");
        let refused = Packet {
            kind: PacketKind::ConnectError,
            namespace: "/".into(),
            id: None,
            attachments: 0,
            data: Some(json!({"message": "Authentication error"})),
        };
        round_trip(&refused, r#"4{"message":"Authentication error"}"#);
        let binary = Packet {
            kind: PacketKind::BinaryEvent,
            namespace: "/".into(),
            id: Some(3),
            attachments: 1,
            data: Some(json!(["file", {"_placeholder": true, "num": 0}])),
        };
        round_trip(&binary, r#"51-3["file",{"_placeholder":true,"num":0}]"#);
        let binary_ack = Packet {
            kind: PacketKind::BinaryAck,
            namespace: "/x".into(),
            id: Some(4),
            attachments: 2,
            data: Some(json!([{"_placeholder": true, "num": 0}, {"_placeholder": true, "num": 1}])),
        };
        round_trip(
            &binary_ack,
            r#"62-/x,4[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        );
    }

    #[test]
    fn server_connect_reply_carries_the_sid() {
        let packet = Packet::decode(r#"0{"sid":"xyz"}"#).unwrap();
        assert_eq!(packet.kind, PacketKind::Connect);
        assert_eq!(packet.data, Some(json!({"sid": "xyz"})));
    }

    #[test]
    fn event_parts_split_name_and_args() {
        let packet = Packet::decode(r#"2["botmessage",{"body":"hi"},2]"#).unwrap();
        let (name, args) = packet.event_parts().unwrap();
        assert_eq!(name, "botmessage");
        assert_eq!(args, &[json!({"body": "hi"}), json!(2)]);
        let (name, args) = packet.clone().into_event_parts().unwrap();
        assert_eq!(name, "botmessage");
        assert_eq!(args, [json!({"body": "hi"}), json!(2)]);
        assert_eq!(
            Packet::decode(r#"32[1,2]"#).unwrap().into_ack_args(),
            Some(vec![json!(1), json!(2)])
        );
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let cases = [
            "",
            "7",
            "x",
            "2",
            "2{}",
            "2[]",
            "2[1]",
            "2[\"a\"",
            "3[]",
            "31",
            "3{}",
            "4",
            "4[1]",
            "0[]",
            "0\"s\"",
            "5[\"a\"]",
            "5-[\"a\"]",
            "5x-[\"a\"]",
            "599999-[\"a\"]",
            "599999999999999999999999-[\"a\"]",
            "2/chat,99999999999999999999999[\"a\"]",
            "2/chat",
            "2é",
            "2[\"a\"]trailing",
        ];
        for case in cases {
            assert!(Packet::decode(case).is_err(), "{case:?} should not decode");
        }
    }

    #[test]
    fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
        let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(Packet::decode(&deep), Err(DecodeError::Json(_))));
    }

    #[test]
    fn namespace_without_comma_is_accepted_like_the_official_parser() {
        let packet = Packet::decode("1/admin").unwrap();
        assert_eq!(packet.namespace, "/admin");
        assert_eq!(packet.kind, PacketKind::Disconnect);
    }
}
