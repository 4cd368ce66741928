//! Binary attachments: a BINARY_EVENT or BINARY_ACK names how many binary
//! frames follow it (`{"_placeholder":true,"num":i}` marks where each
//! belongs); the packet is delivered once they have all arrived. Over
//! WebSocket they are binary frames; over long-polling, `b` + base64.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{Client, ClientEvent, Output, Phase};
use crate::socketio::{Packet, PacketKind};
use crate::transport::TransportKind;
use crate::{DecodeError, engineio};

/// Marks where attachment `num` belongs among an event's arguments, as the
/// Socket.IO protocol writes it.
pub fn placeholder(num: usize) -> Value {
    json!({"_placeholder": true, "num": num})
}

/// A binary packet waiting for its attachments.
#[derive(Debug)]
pub(super) struct Partial {
    packet: Packet,
    attachments: Vec<Vec<u8>>,
}

impl Client {
    /// Emits `name` with `args` and binary `attachments`; `args` refer to
    /// them with [`placeholder`]s. Kept and sent in order while offline, like
    /// [`emit`](Self::emit).
    pub fn emit_binary(&mut self, name: &str, args: Vec<Value>, attachments: Vec<Vec<u8>>) {
        let mut packet = Packet::event(&self.config.namespace, name, args, None);
        packet.kind = PacketKind::BinaryEvent;
        packet.attachments = attachments.len();
        self.send_or_buffer(packet, attachments);
    }

    /// A binary frame arrived on the WebSocket.
    pub fn on_binary(&mut self, data: Vec<u8>, now: Duration) {
        if self.transport == Some(TransportKind::WebSocket) {
            self.receive_attachment(data, now);
        }
        self.sync_state();
    }

    /// A long-polling `b<base64>` frame.
    pub(super) fn receive_base64(&mut self, encoded: &str, now: Duration) -> bool {
        match STANDARD.decode(encoded) {
            Ok(data) => self.receive_attachment(data, now),
            Err(_) => self.fail(
                DecodeError::BadPayload {
                    kind: "BINARY",
                    reason: "invalid base64 attachment",
                },
                now,
            ),
        }
    }

    /// Takes one attachment; `false` if it cost the connection.
    fn receive_attachment(&mut self, data: Vec<u8>, now: Duration) -> bool {
        if matches!(
            self.phase,
            Phase::Idle | Phase::Closed | Phase::Waiting { .. }
        ) {
            return false;
        }
        if data.len() > self.config.max_incoming_bytes {
            let error = DecodeError::TooLarge {
                size: data.len(),
                limit: self.config.max_incoming_bytes,
            };
            return self.fail(error, now);
        }
        let Some(partial) = self.partial.as_mut() else {
            let error = DecodeError::BadPayload {
                kind: "BINARY",
                reason: "an attachment arrived without a binary packet",
            };
            return self.fail(error, now);
        };
        partial.attachments.push(data);
        if partial.attachments.len() == partial.packet.attachments
            && let Some(Partial {
                packet,
                attachments,
            }) = self.partial.take()
        {
            self.deliver(packet, attachments);
        }
        true
    }

    /// A binary packet arrived: deliver it now if it has no attachments,
    /// else wait for them.
    pub(super) fn start_binary(&mut self, packet: Packet) {
        if packet.attachments == 0 {
            self.deliver(packet, Vec::new());
        } else {
            let expected = packet.attachments.min(16);
            self.partial = Some(Partial {
                packet,
                attachments: Vec::with_capacity(expected),
            });
        }
    }

    /// Hands a complete event or ack to the application.
    pub(super) fn deliver(&mut self, packet: Packet, attachments: Vec<Vec<u8>>) {
        if packet.namespace != self.config.namespace {
            return;
        }
        match packet.kind {
            PacketKind::Event | PacketKind::BinaryEvent => {
                let ack = packet.id;
                if let Some((name, args)) = packet.into_event_parts() {
                    let event = ClientEvent::Event {
                        name,
                        args,
                        ack,
                        attachments,
                    };
                    self.out.push_back(Output::Event(event));
                }
            }
            PacketKind::Ack | PacketKind::BinaryAck => {
                if let Some(id) = packet.id
                    && self.pending_acks.remove(&id).is_some()
                    && let Some(args) = packet.into_ack_args()
                {
                    self.out.push_back(Output::Event(ClientEvent::Ack {
                        id,
                        args,
                        attachments,
                    }));
                }
            }
            PacketKind::Connect | PacketKind::Disconnect | PacketKind::ConnectError => {}
        }
    }

    /// Sends a packet and its binary frames, together in one POST when polling.
    pub(super) fn send_with_attachments(&mut self, packet: &Packet, attachments: Vec<Vec<u8>>) {
        let frame = engineio::Packet::Message(packet.encode()).encode();
        if self.transport == Some(TransportKind::Polling) {
            self.polling.queue(frame);
            for data in attachments {
                self.polling.queue(format!("b{}", STANDARD.encode(&data)));
            }
            self.pump();
        } else {
            self.out.push_back(Output::Send(frame));
            for data in attachments {
                self.out.push_back(Output::SendBinary(data));
            }
        }
    }
}
