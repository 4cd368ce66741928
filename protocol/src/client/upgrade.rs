//! Upgrading a long-polling session to WebSocket, as the JavaScript client
//! does: open a second transport with the session id, probe it (`2probe` /
//! `3probe`), let the polling requests in flight finish (the server answers
//! the long-poll with a noop once probed), then send `5` on the WebSocket
//! and carry on there. Switching with a long-poll still out would make the
//! server answer it with a close. Frames emitted meanwhile wait and go out
//! on the WebSocket, in order. If the probe fails the session stays on polling.

use std::time::Duration;

use super::{Client, ClientEvent, Output};
use crate::engineio;
use crate::transport::{TransportKind, Transports};

/// Where an upgrade stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// The probe WebSocket is being opened.
    Opening,
    /// `2probe` sent, waiting for `3probe`.
    Probing,
    /// `3probe` received; waiting for the polling requests in flight to finish.
    Pausing,
}

impl Client {
    /// After a polling handshake that offers WebSocket: start probing it,
    /// with [`Transports::PollingThenUpgrade`], and with
    /// [`Transports::WebSocketWithFallback`] once it has fallen back (so a
    /// WebSocket that failed only because the server was away comes back).
    pub(super) fn maybe_start_upgrade(&mut self, upgrades: &[String]) {
        let wanted = match self.config.transports {
            Transports::PollingThenUpgrade => true,
            Transports::WebSocketWithFallback => self.websocket_failed,
            Transports::WebSocketOnly | Transports::PollingOnly => false,
        };
        if wanted
            && self.transport == Some(TransportKind::Polling)
            && upgrades.iter().any(|u| u == "websocket")
            && let Some(sid) = self.polling.sid.clone()
        {
            self.probe = Some(Probe::Opening);
            self.out.push_back(Output::OpenProbe {
                query: format!("EIO=4&transport=websocket&sid={sid}"),
            });
        }
    }

    /// Whether polling must hold new POSTs back, because an upgrade is about to switch.
    pub(super) fn upgrade_pausing(&self) -> bool {
        self.probe == Some(Probe::Pausing)
    }

    /// The probe WebSocket opened.
    pub fn on_probe_open(&mut self) {
        if self.probe == Some(Probe::Opening) {
            self.probe = Some(Probe::Probing);
            self.out.push_back(Output::SendProbe(
                engineio::Packet::Ping("probe".into()).encode(),
            ));
        }
    }

    /// A text frame arrived on the probe WebSocket.
    pub fn on_probe_text(&mut self, frame: &str, _now: Duration) {
        match (self.probe, engineio::Packet::decode(frame)) {
            (Some(Probe::Probing), Ok(engineio::Packet::Pong(data))) if data == "probe" => {
                self.probe = Some(Probe::Pausing);
                self.finish_upgrade();
            }
            (None, _) => {}
            // Anything else on a probe means it did not work out.
            _ => self.abandon_upgrade(),
        }
    }

    /// The probe WebSocket closed or failed by itself: stay on polling.
    pub fn on_probe_closed(&mut self) {
        if self.probe.is_some() {
            self.probe = None;
        }
    }

    /// Switches to the probe once no polling request is in flight.
    pub(super) fn finish_upgrade(&mut self) {
        if self.probe != Some(Probe::Pausing) || self.polling.busy() {
            return;
        }
        self.probe = None;
        self.out
            .push_back(Output::SendProbe(engineio::Packet::Upgrade.encode()));
        self.out.push_back(Output::PromoteProbe);
        self.transport = Some(TransportKind::WebSocket);
        // WebSocket works here after all: try it first next time.
        self.websocket_failed = false;
        // Frames that waited go out now, first on the new transport.
        let waiting = self.polling.retire();
        for frame in waiting {
            self.out.push_back(Output::Send(frame));
        }
        self.out.push_back(Output::Event(ClientEvent::Upgraded {
            transport: TransportKind::WebSocket,
        }));
    }

    /// Gives up on the probe; the session goes on over polling.
    pub(super) fn abandon_upgrade(&mut self) {
        if self.probe.take().is_some() {
            self.out.push_back(Output::CloseProbe);
            self.pump();
        }
    }
}
