//! The client state machine, driven by hand the way a transport would drive it.

use std::time::Duration;

use protocol::{
    Client, ClientConfig, ClientEvent, ConnectionState, DecodeError, Output, ReconnectConfig,
};
use serde_json::json;

const HANDSHAKE: &str = r#"0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Everything the client asked for since the last call.
fn drain(client: &mut Client) -> Vec<Output> {
    std::iter::from_fn(|| client.poll_output()).collect()
}

fn sent(outputs: &[Output]) -> Vec<&str> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(frame) => Some(frame.as_str()),
            _ => None,
        })
        .collect()
}

fn opens(outputs: &[Output]) -> usize {
    outputs.iter().filter(|o| matches!(o, Output::Open)).count()
}

fn closes(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::Close))
        .count()
}

/// WebSocket only, with predictable reconnection delays.
fn no_jitter() -> ClientConfig {
    ClientConfig {
        reconnect: ReconnectConfig {
            randomization: 0.0,
            ..ReconnectConfig::default()
        },
        transports: protocol::Transports::WebSocketOnly,
        ..ClientConfig::default()
    }
}

/// A client using `transports`, with predictable reconnection delays.
fn client_over(transports: protocol::Transports) -> Client {
    Client::new(
        ClientConfig {
            transports,
            ..no_jitter()
        },
        1,
    )
}

/// A client that has completed the handshake and joined `/` at time 0.
fn connected() -> Client {
    let mut client = Client::new(no_jitter(), 1);
    client.connect(ms(0));
    client.on_text(HANDSHAKE, ms(0));
    client.on_text(r#"40{"sid":"sio1"}"#, ms(0));
    drain(&mut client);
    client
}

#[test]
fn joins_the_namespace_after_the_engine_handshake() {
    let mut client = Client::new(ClientConfig::default(), 1);
    assert_eq!(client.state(), ConnectionState::Idle);
    client.connect(ms(0));
    let out = drain(&mut client);
    assert_eq!(opens(&out), 1);
    assert_eq!(client.state(), ConnectionState::Connecting);

    client.on_text(HANDSHAKE, ms(10));
    assert_eq!(sent(&drain(&mut client)), ["40"]);

    client.on_text(r#"40{"sid":"sio1"}"#, ms(20));
    let out = drain(&mut client);
    assert!(matches!(&out[0], Output::Event(ClientEvent::Connected { sid, .. }) if sid == "sio1"));
    assert!(matches!(
        out.last(),
        Some(Output::Event(ClientEvent::StateChanged(
            ConnectionState::Connected
        )))
    ));
}

#[test]
fn sends_auth_to_a_named_namespace() {
    let config = ClientConfig {
        namespace: "/bot".into(),
        auth: Some(json!({"token": "abc"})),
        ..ClientConfig::default()
    };
    let mut client = Client::new(config, 1);
    client.connect(ms(0));
    client.on_text(HANDSHAKE, ms(0));
    assert_eq!(sent(&drain(&mut client)), [r#"40/bot,{"token":"abc"}"#]);
    // A CONNECT for another namespace is not ours.
    client.on_text(r#"40{"sid":"x"}"#, ms(0));
    assert_ne!(client.state(), ConnectionState::Connected);
    client.on_text(r#"40/bot,{"sid":"x"}"#, ms(0));
    assert_eq!(client.state(), ConnectionState::Connected);
}

#[test]
fn answers_pings_and_echoes_their_data() {
    let mut client = connected();
    client.on_text("2", ms(1000));
    client.on_text("2probe", ms(1000));
    assert_eq!(sent(&drain(&mut client)), ["3", "3probe"]);
}

#[test]
fn a_silent_server_is_declared_dead_after_ping_interval_plus_timeout() {
    let mut client = connected();
    client.on_text("2", ms(10_000));
    // The deadline moved with the ping: 10 s + 25 s + 20 s.
    assert_eq!(client.poll_timeout(), Some(ms(55_000)));
    client.on_timeout(ms(54_999));
    assert_eq!(client.state(), ConnectionState::Connected);
    client.on_timeout(ms(55_000));
    let out = drain(&mut client);
    assert_eq!(closes(&out), 1);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(ClientEvent::Disconnected { reason }) if reason == "ping timeout"
    )));
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
}

#[test]
fn reconnects_with_growing_delays_and_resets_after_success() {
    let mut client = connected();
    client.on_transport_closed(ms(0));
    drain(&mut client);
    assert_eq!(client.poll_timeout(), Some(ms(1000)));
    client.on_timeout(ms(999));
    assert_eq!(opens(&drain(&mut client)), 0);
    client.on_timeout(ms(1000));
    assert_eq!(opens(&drain(&mut client)), 1);

    // The attempt fails: the next delay is twice as long.
    client.on_transport_closed(ms(1100));
    drain(&mut client);
    assert_eq!(client.poll_timeout(), Some(ms(3100)));
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 2 });
    client.on_timeout(ms(3100));
    client.on_text(HANDSHAKE, ms(3200));
    client.on_text("40", ms(3200));
    assert_eq!(client.state(), ConnectionState::Connected);

    client.on_transport_closed(ms(5000));
    assert_eq!(client.poll_timeout(), Some(ms(6000)), "backoff starts over");
}

#[test]
fn emits_made_offline_are_sent_in_order_once_connected() {
    let mut client = Client::new(no_jitter(), 1);
    client.emit("newmessage", vec![json!({"user": "ann", "body": "one"})]);
    client.connect(ms(0));
    client.emit("newmessage", vec![json!({"user": "ann", "body": "two"})]);
    client.on_text(HANDSHAKE, ms(0));
    assert_eq!(sent(&drain(&mut client)), ["40"]);
    client.on_text("40", ms(0));
    assert_eq!(
        sent(&drain(&mut client)),
        [
            r#"42["newmessage",{"body":"one","user":"ann"}]"#,
            r#"42["newmessage",{"body":"two","user":"ann"}]"#,
        ]
    );

    // Lost again: the next emit waits for the next connection.
    client.on_transport_closed(ms(10));
    client.emit("newmessage", vec![json!("three")]);
    assert!(sent(&drain(&mut client)).is_empty());
    client.on_timeout(ms(1010));
    client.on_text(HANDSHAKE, ms(1010));
    client.on_text("40", ms(1010));
    assert_eq!(
        sent(&drain(&mut client)),
        ["40", r#"42["newmessage","three"]"#]
    );
}

#[test]
fn acks_are_matched_to_their_emit() {
    let mut client = connected();
    let first = client.emit_with_ack("newmessage", vec![json!(1)], None, ms(0));
    let second = client.emit_with_ack("newmessage", vec![json!(2)], None, ms(0));
    assert_eq!(
        sent(&drain(&mut client)),
        [r#"420["newmessage",1]"#, r#"421["newmessage",2]"#]
    );
    client.on_text(r#"431[{"accepted":{"id":9}}]"#, ms(5));
    client.on_text(r#"431["again"]"#, ms(5));
    client.on_text(r#"430[]"#, ms(5));
    let acks: Vec<_> = drain(&mut client)
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(ClientEvent::Ack { id, args, .. }) => Some((id, args)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acks,
        [
            (second, vec![json!({"accepted": {"id": 9}})]),
            (first, vec![])
        ],
        "a duplicate ack is ignored"
    );
}

#[test]
fn an_unanswered_ack_times_out() {
    let mut client = connected();
    let id = client.emit_with_ack("x", vec![], Some(ms(500)), ms(100));
    drain(&mut client);
    assert_eq!(client.poll_timeout(), Some(ms(600)));
    client.on_timeout(ms(600));
    let out = drain(&mut client);
    assert!(matches!(
        out.as_slice(),
        [Output::Event(ClientEvent::AckTimedOut { id: timed_out })] if *timed_out == id
    ));
    // A late answer is ignored.
    client.on_text(&format!("43{id}[]"), ms(700));
    assert!(drain(&mut client).is_empty());
}

#[test]
fn server_events_are_delivered_and_can_be_acked() {
    let mut client = connected();
    client.on_text(r#"42["botmessage",{"body":"Hello, ann!"}]"#, ms(1));
    client.on_text(r#"427["question"]"#, ms(1));
    let events: Vec<_> = drain(&mut client)
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(ClientEvent::Event {
                name, args, ack, ..
            }) => Some((name, args, ack)),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "botmessage".into(),
                vec![json!({"body": "Hello, ann!"})],
                None
            ),
            ("question".into(), vec![], Some(7)),
        ]
    );
    client.ack(7, vec![json!("answer")]);
    assert_eq!(sent(&drain(&mut client)), [r#"437["answer"]"#]);
}

#[test]
fn a_refused_connection_is_reported_and_not_retried() {
    let mut client = Client::new(no_jitter(), 1);
    client.connect(ms(0));
    client.on_text(HANDSHAKE, ms(0));
    client.on_text(r#"44{"message":"Authentication error"}"#, ms(0));
    let out = drain(&mut client);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(ClientEvent::ConnectError { message }) if message == "Authentication error"
    )));
    assert_eq!(closes(&out), 1);
    assert_eq!(client.state(), ConnectionState::Closed);
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn garbage_from_the_server_drops_the_connection_and_reconnects() {
    let mut client = connected();
    client.on_text("42[not json", ms(0));
    let out = drain(&mut client);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(ClientEvent::ProtocolError(DecodeError::Json(_)))
    )));
    assert_eq!(closes(&out), 1);
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
}

#[test]
fn a_frame_over_the_incoming_limit_is_refused() {
    let config = ClientConfig {
        max_incoming_bytes: 100,
        ..no_jitter()
    };
    let mut client = Client::new(config, 1);
    client.connect(ms(0));
    client.on_text(HANDSHAKE, ms(0));
    client.on_text("40", ms(0));
    drain(&mut client);
    let big = format!(r#"42["x","{}"]"#, "a".repeat(200));
    client.on_text(&big, ms(0));
    let out = drain(&mut client);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(ClientEvent::ProtocolError(DecodeError::TooLarge {
            limit: 100,
            ..
        }))
    )));
}

#[test]
fn the_servers_max_payload_does_not_limit_what_the_client_receives() {
    // maxPayload is what the server reads; its broadcasts (a long history) may be bigger.
    let mut client = Client::new(no_jitter(), 1);
    client.connect(ms(0));
    client.on_text(
        r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100}"#,
        ms(0),
    );
    client.on_text("40", ms(0));
    drain(&mut client);
    let big = format!(r#"42["history","{}"]"#, "a".repeat(200_000));
    client.on_text(&big, ms(0));
    let out = drain(&mut client);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Event(ClientEvent::Event { name, .. }) if name == "history"
    )));
    assert_eq!(client.state(), ConnectionState::Connected);
}

#[test]
fn a_connection_that_never_opens_times_out() {
    let mut client = Client::new(no_jitter(), 1);
    client.connect(ms(0));
    drain(&mut client);
    assert_eq!(client.poll_timeout(), Some(ms(20_000)));
    client.on_timeout(ms(20_000));
    let out = drain(&mut client);
    assert_eq!(closes(&out), 1);
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
}

#[test]
fn disconnect_leaves_the_namespace_and_stays_closed() {
    let mut client = connected();
    client.disconnect();
    let out = drain(&mut client);
    assert_eq!(sent(&out), ["41"]);
    assert_eq!(closes(&out), 1);
    assert_eq!(client.state(), ConnectionState::Closed);
    client.on_transport_closed(ms(5));
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn the_server_closing_the_session_means_reconnect() {
    let mut client = connected();
    client.on_text("41", ms(0));
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
    let mut client = connected();
    client.on_text("1", ms(0));
    assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
}

#[test]
fn a_limited_client_gives_up() {
    let config = ClientConfig {
        reconnect: ReconnectConfig {
            max_attempts: Some(1),
            ..ReconnectConfig::default()
        },
        ..no_jitter()
    };
    let mut client = Client::new(config, 1);
    client.connect(ms(0));
    client.on_transport_closed(ms(0));
    let deadline = client.poll_timeout().unwrap();
    client.on_timeout(deadline);
    client.on_transport_closed(deadline);
    assert_eq!(client.state(), ConnectionState::Closed);
}

#[test]
fn arbitrary_frames_never_panic() {
    // A deterministic sweep over short strings built from the protocol's own alphabet.
    let alphabet: Vec<char> = "0123456-/,[]{}\":abcé\\".chars().collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        let mut client = connected();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 12) as usize;
        let frame: String = (0..len)
            .map(|i| alphabet[((seed >> (i * 5)) % alphabet.len() as u64) as usize])
            .collect();
        client.on_text(&format!("4{frame}"), ms(1));
        client.on_text(&frame, ms(1));
        drain(&mut client);
    }
}

mod polling {
    use protocol::{PollRequest, TransportKind, Transports};

    use super::*;

    fn polling_only() -> ClientConfig {
        ClientConfig {
            transports: Transports::PollingOnly,
            ..no_jitter()
        }
    }

    fn requests(outputs: &[Output]) -> Vec<&PollRequest> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Request(request) => Some(request),
                _ => None,
            })
            .collect()
    }

    /// A polling client that has joined `/`; returns it with the id of its pending GET.
    fn joined() -> (Client, u64) {
        joined_after(HANDSHAKE)
    }

    /// [`joined`], with the server's handshake given.
    fn joined_after(handshake_frame: &str) -> (Client, u64) {
        let mut client = Client::new(polling_only(), 1);
        client.connect(ms(0));
        let handshake = requests(&drain(&mut client))[0].id;
        client.on_response(handshake, Ok(handshake_frame.to_owned()), ms(0));
        let out = drain(&mut client);
        let (post, get) = (requests(&out)[0].id, requests(&out)[1].id);
        client.on_response(post, Ok("ok".into()), ms(0));
        client.on_response(get, Ok(r#"40{"sid":"s"}"#.into()), ms(0));
        let out = drain(&mut client);
        let next_get = requests(&out)[0].id;
        assert_eq!(client.state(), ConnectionState::Connected);
        (client, next_get)
    }

    #[test]
    fn the_session_opens_with_a_get_and_joins_with_a_post() {
        let mut client = Client::new(polling_only(), 1);
        client.connect(ms(0));
        let out = drain(&mut client);
        assert_eq!(opens(&out), 0, "no WebSocket");
        let handshake = requests(&out)[0].clone();
        assert!(!handshake.is_post());
        assert!(handshake.query().starts_with("EIO=4&transport=polling&t="));
        assert!(!handshake.query().contains("sid="));

        client.on_response(handshake.id, Ok(HANDSHAKE.to_owned()), ms(5));
        let out = drain(&mut client);
        let sent = requests(&out);
        assert_eq!(
            sent.len(),
            2,
            "the CONNECT is posted and a long-poll GET starts"
        );
        assert_eq!(sent[0].body.as_deref(), Some("40"));
        assert!(sent[0].query().ends_with("&sid=eio1"));
        assert!(!sent[1].is_post());

        client.on_response(sent[0].id, Ok("ok".into()), ms(6));
        client.on_response(sent[1].id, Ok(r#"40{"sid":"sio"}"#.into()), ms(7));
        let out = drain(&mut client);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(ClientEvent::Connected {
                transport: TransportKind::Polling,
                ..
            })
        )));
        assert_eq!(requests(&out).len(), 1, "the next long-poll");
        assert_eq!(client.transport(), Some(TransportKind::Polling));
    }

    #[test]
    fn frames_sent_while_a_post_is_out_go_together_in_the_next() {
        let (mut client, _get) = joined();
        client.emit("a", vec![]);
        client.emit("b", vec![]);
        client.emit("c", vec![]);
        let out = drain(&mut client);
        let posts = requests(&out);
        assert_eq!(posts.len(), 1, "one POST at a time");
        assert_eq!(posts[0].body.as_deref(), Some(r#"42["a"]"#));
        let first = posts[0].id;
        client.on_response(first, Ok("ok".into()), ms(1));
        let out = drain(&mut client);
        assert_eq!(
            requests(&out)[0].body.as_deref(),
            Some("42[\"b\"]\u{1e}42[\"c\"]")
        );
    }

    #[test]
    fn queued_frames_are_split_into_posts_within_the_servers_max_payload() {
        let (mut client, _get) = joined_after(
            r#"0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":40}"#,
        );
        let names = ["a", "b", "c", "d", "e", "f", "g"];
        for name in names {
            client.emit(name, vec![]);
        }
        let big = "x".repeat(100);
        client.emit(&big, vec![]);
        let mut bodies = Vec::new();
        loop {
            let out = drain(&mut client);
            let Some(post) = requests(&out).into_iter().find(|r| r.is_post()).cloned() else {
                break;
            };
            bodies.push(post.body.clone().unwrap());
            client.on_response(post.id, Ok("ok".into()), ms(1));
        }
        // `42["a"]` is 7 bytes: one alone (sent at once), then five fit in
        // 40 bytes with their separators, then the last small one, then
        // the frame that is over the limit by itself goes alone.
        let frames: Vec<Vec<&str>> = bodies.iter().map(|b| b.split('\u{1e}').collect()).collect();
        let counts: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(counts, [1, 5, 1, 1]);
        assert!(bodies[..3].iter().all(|b| b.len() <= 40), "{bodies:?}");
        let mut expected: Vec<String> = names.iter().map(|n| format!(r#"42["{n}"]"#)).collect();
        expected.push(format!(r#"42["{big}"]"#));
        assert_eq!(frames.concat(), expected, "every frame once, in order");
    }

    #[test]
    fn a_payload_of_several_packets_is_read_in_order_and_pings_are_answered() {
        let (mut client, get) = joined();
        client.on_response(get, Ok("2\u{1e}42[\"x\",1]\u{1e}42[\"y\",2]".into()), ms(1));
        let out = drain(&mut client);
        let names: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Event(ClientEvent::Event { name, .. }) => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["x", "y"]);
        let sent = requests(&out);
        assert_eq!(sent[0].body.as_deref(), Some("3"), "pong by POST");
        assert!(!sent[1].is_post(), "and the next long-poll");
    }

    #[test]
    fn a_failed_request_drops_the_session_and_late_answers_are_ignored() {
        let (mut client, get) = joined();
        client.emit("x", vec![]);
        let post = requests(&drain(&mut client))[0].id;
        client.on_response(get, Err(()), ms(1));
        let out = drain(&mut client);
        assert_eq!(closes(&out), 1);
        assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
        client.on_response(post, Ok("ok".into()), ms(2));
        assert!(
            drain(&mut client).is_empty(),
            "a stale answer changes nothing"
        );
        // The next attempt is polling again, with a fresh handshake.
        client.on_timeout(ms(1001));
        let handshake = requests(&drain(&mut client))[0].clone();
        assert!(!handshake.query().contains("sid="));
    }

    #[test]
    fn a_websocket_that_cannot_open_falls_back_to_polling() {
        let mut client = client_over(protocol::Transports::WebSocketWithFallback);
        client.connect(ms(0));
        assert_eq!(opens(&drain(&mut client)), 1, "WebSocket first");
        client.on_transport_closed(ms(10));
        client.on_timeout(ms(1010));
        let out = drain(&mut client);
        assert_eq!(opens(&out), 0);
        assert_eq!(requests(&out).len(), 1, "then long-polling");
        assert_eq!(client.transport(), Some(TransportKind::Polling));
    }

    #[test]
    fn after_falling_back_the_client_probes_websocket_and_returns_to_it() {
        let mut client = client_over(protocol::Transports::WebSocketWithFallback);
        client.connect(ms(0));
        drain(&mut client);
        // The server was away: the WebSocket failed, so the next attempt polls.
        client.on_transport_closed(ms(10));
        client.on_timeout(ms(1010));
        let handshake = requests(&drain(&mut client))[0].clone();
        let offers = r#"0{"sid":"eio1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        client.on_response(handshake.id, Ok(offers.to_owned()), ms(1020));
        let out = drain(&mut client);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::OpenProbe { query } if query.contains("sid=eio1"))),
            "a probe for the upgrade: {out:?}"
        );
    }

    #[test]
    fn a_websocket_lost_after_its_handshake_is_tried_again() {
        let mut client = client_over(protocol::Transports::WebSocketWithFallback);
        client.connect(ms(0));
        client.on_text(HANDSHAKE, ms(0));
        client.on_text("40", ms(0));
        drain(&mut client);
        client.on_transport_closed(ms(10));
        client.on_timeout(ms(1010));
        assert_eq!(opens(&drain(&mut client)), 1);
    }

    #[test]
    fn websocket_only_never_falls_back() {
        let mut client = client_over(protocol::Transports::WebSocketOnly);
        client.connect(ms(0));
        drain(&mut client);
        client.on_transport_closed(ms(10));
        client.on_timeout(ms(1010));
        assert_eq!(opens(&drain(&mut client)), 1);
    }

    mod upgrade {
        use super::*;

        const OFFERS_WEBSOCKET: &str = r#"0{"sid":"eio1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

        fn probe_query(outputs: &[Output]) -> Option<&str> {
            outputs.iter().find_map(|o| match o {
                Output::OpenProbe { query } => Some(query.as_str()),
                _ => None,
            })
        }

        fn probe_frames(outputs: &[Output]) -> Vec<&str> {
            outputs
                .iter()
                .filter_map(|o| match o {
                    Output::SendProbe(frame) => Some(frame.as_str()),
                    _ => None,
                })
                .collect()
        }

        /// A polling session that offered WebSocket, joined `/`, probe opening.
        /// Returns the client and its pending long-poll GET.
        fn probing() -> (Client, u64) {
            let mut client = client_over(protocol::Transports::PollingThenUpgrade);
            client.connect(ms(0));
            let handshake = requests(&drain(&mut client))[0].id;
            client.on_response(handshake, Ok(OFFERS_WEBSOCKET.to_owned()), ms(0));
            let out = drain(&mut client);
            assert_eq!(
                probe_query(&out),
                Some("EIO=4&transport=websocket&sid=eio1")
            );
            let (post, get) = (requests(&out)[0].id, requests(&out)[1].id);
            client.on_response(post, Ok("ok".into()), ms(0));
            client.on_response(get, Ok("40".into()), ms(0));
            let get = requests(&drain(&mut client))[0].id;
            assert_eq!(client.state(), ConnectionState::Connected);
            (client, get)
        }

        #[test]
        fn a_successful_probe_moves_the_session_to_websocket() {
            let (mut client, get) = probing();
            client.on_probe_open();
            assert_eq!(probe_frames(&drain(&mut client)), ["2probe"]);
            client.on_probe_text("3probe", ms(1));
            let out = drain(&mut client);
            assert!(probe_frames(&out).is_empty(), "the long-poll is still out");

            // The server answers the long-poll once probed; its packets count.
            client.on_response(get, Ok("6\u{1e}42[\"late\"]".into()), ms(2));
            let out = drain(&mut client);
            assert!(out.iter().any(|o| matches!(
                o,
                Output::Event(ClientEvent::Event { name, .. }) if name == "late"
            )));
            assert_eq!(probe_frames(&out), ["5"]);
            assert!(out.iter().any(|o| matches!(o, Output::PromoteProbe)));
            assert!(out.iter().any(|o| matches!(
                o,
                Output::Event(ClientEvent::Upgraded {
                    transport: TransportKind::WebSocket
                })
            )));
            assert!(requests(&out).is_empty(), "no more polling");
            assert_eq!(client.transport(), Some(TransportKind::WebSocket));
            client.emit("x", vec![]);
            assert_eq!(sent(&drain(&mut client)), [r#"42["x"]"#]);
        }

        #[test]
        fn frames_emitted_during_the_switch_wait_for_the_requests_then_go_by_websocket() {
            let (mut client, get) = probing();
            client.emit("first", vec![]);
            let post = requests(&drain(&mut client))[0].id;
            client.on_probe_open();
            client.on_probe_text("3probe", ms(1));
            client.emit("second", vec![]);
            client.on_response(get, Ok("6".into()), ms(2));
            let out = drain(&mut client);
            assert!(
                probe_frames(&out).iter().all(|f| *f != "5"),
                "waits for the POST"
            );
            assert!(requests(&out).is_empty(), "no new request while pausing");
            client.on_response(post, Ok("ok".into()), ms(2));
            let out = drain(&mut client);
            assert_eq!(probe_frames(&out), ["5"]);
            assert_eq!(sent(&out), [r#"42["second"]"#]);
        }

        #[test]
        fn a_failed_probe_leaves_the_session_on_polling() {
            let (mut client, _get) = probing();
            client.on_probe_closed();
            client.emit("x", vec![]);
            let out = drain(&mut client);
            assert_eq!(requests(&out)[0].body.as_deref(), Some(r#"42["x"]"#));
            assert_eq!(client.transport(), Some(TransportKind::Polling));

            let (mut client, _get) = probing();
            client.on_probe_open();
            client.on_probe_text("3nope", ms(1));
            assert!(
                drain(&mut client)
                    .iter()
                    .any(|o| matches!(o, Output::CloseProbe))
            );
            assert_eq!(client.transport(), Some(TransportKind::Polling));
        }

        #[test]
        fn without_an_offer_there_is_no_probe() {
            let mut client = client_over(protocol::Transports::PollingThenUpgrade);
            client.connect(ms(0));
            let handshake = requests(&drain(&mut client))[0].id;
            client.on_response(handshake, Ok(HANDSHAKE.to_owned()), ms(0));
            assert_eq!(probe_query(&drain(&mut client)), None);
        }
    }
}

mod binary {
    use protocol::placeholder;

    use super::*;

    fn binaries(outputs: &[Output]) -> Vec<&[u8]> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::SendBinary(data) => Some(data.as_slice()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_event_with_attachments_is_delivered_once_they_all_arrived() {
        let mut client = connected();
        client.on_text(
            r#"452-["file",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}]"#,
            ms(1),
        );
        client.on_binary(vec![1, 2, 3], ms(1));
        assert!(
            drain(&mut client).is_empty(),
            "one attachment still missing"
        );
        client.on_binary(vec![], ms(1));
        let out = drain(&mut client);
        match out.as_slice() {
            [
                Output::Event(ClientEvent::Event {
                    name,
                    args,
                    attachments,
                    ..
                }),
            ] => {
                assert_eq!(name, "file");
                assert_eq!(args, &[placeholder(0), json!("x"), placeholder(1)]);
                assert_eq!(attachments, &[vec![1, 2, 3], vec![]]);
            }
            other => panic!("expected one event, got {other:?}"),
        }
    }

    #[test]
    fn binary_acks_answer_their_emit() {
        let mut client = connected();
        let id = client.emit_with_ack("upload", vec![], None, ms(0));
        drain(&mut client);
        client.on_text(
            &format!(r#"461-{id}[{{"_placeholder":true,"num":0}}]"#),
            ms(1),
        );
        client.on_binary(b"ok".to_vec(), ms(1));
        let out = drain(&mut client);
        assert!(matches!(
            out.as_slice(),
            [Output::Event(ClientEvent::Ack { attachments, .. })] if attachments == &[b"ok".to_vec()]
        ));
    }

    #[test]
    fn attachments_go_out_after_their_packet() {
        let mut client = connected();
        client.emit_binary(
            "file",
            vec![json!("a.txt"), placeholder(0)],
            vec![b"hi".to_vec()],
        );
        let out = drain(&mut client);
        assert_eq!(
            sent(&out),
            [r#"451-["file","a.txt",{"_placeholder":true,"num":0}]"#]
        );
        assert_eq!(binaries(&out), [b"hi".as_slice()]);
    }

    #[test]
    fn attachments_emitted_offline_wait_with_their_packet() {
        let mut client = Client::new(no_jitter(), 1);
        client.emit_binary("file", vec![placeholder(0)], vec![vec![9]]);
        client.connect(ms(0));
        client.on_text(HANDSHAKE, ms(0));
        client.on_text("40", ms(0));
        let out = drain(&mut client);
        assert_eq!(binaries(&out), [[9u8].as_slice()]);
    }

    #[test]
    fn over_polling_attachments_travel_as_base64() {
        let mut client = client_over(protocol::Transports::PollingOnly);
        client.connect(ms(0));
        let request = |out: &[Output]| -> Vec<protocol::PollRequest> {
            out.iter()
                .filter_map(|o| match o {
                    Output::Request(r) => Some(r.clone()),
                    _ => None,
                })
                .collect()
        };
        let handshake = request(&drain(&mut client))[0].id;
        client.on_response(handshake, Ok(HANDSHAKE.into()), ms(0));
        let out = request(&drain(&mut client));
        client.on_response(out[0].id, Ok("ok".into()), ms(0));
        client.on_response(
            out[1].id,
            Ok("40\u{1e}451-[\"f\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID".into()),
            ms(0),
        );
        let out = drain(&mut client);
        assert!(out.iter().any(|o| matches!(
            o,
            Output::Event(ClientEvent::Event { attachments, .. }) if attachments == &[vec![1, 2, 3]]
        )));
        client.emit_binary("g", vec![placeholder(0)], vec![vec![1, 2, 3]]);
        let posts = request(&drain(&mut client));
        assert_eq!(
            posts[0].body.as_deref(),
            Some("451-[\"g\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID")
        );
    }

    #[test]
    fn stray_or_interrupted_attachments_drop_the_connection() {
        let mut client = connected();
        client.on_binary(vec![1], ms(0));
        assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });

        let mut client = connected();
        client.on_text(r#"451-["f",{"_placeholder":true,"num":0}]"#, ms(0));
        client.on_text(r#"42["too soon"]"#, ms(0));
        assert_eq!(client.state(), ConnectionState::Reconnecting { attempt: 1 });
    }
}
