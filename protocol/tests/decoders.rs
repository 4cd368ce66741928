//! Property tests of the decoders: arbitrary input is an error or a packet,
//! never a panic, and every packet we can encode decodes to itself.

use proptest::prelude::*;
use protocol::socketio::{Packet, PacketKind};
use protocol::{Client, ClientConfig, engineio};
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z]{1,10}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}") {
        let _ = engineio::Packet::decode(&text);
        let _ = Packet::decode(&text);
    }

    #[test]
    fn protocol_shaped_text_never_panics(text in "[0-6]{1,2}[0-9-]{0,4}(/[a-z]{0,4},?)?[0-9]{0,3}[\\[\\]{}\",:a-z0-9]{0,24}") {
        let _ = Packet::decode(&text);
        let mut client = Client::new(ClientConfig::default(), 1);
        client.connect(std::time::Duration::ZERO);
        client.on_text(&format!("4{text}"), std::time::Duration::ZERO);
        while client.poll_output().is_some() {}
    }

    #[test]
    fn events_round_trip(ns in namespace(), name in "[a-z]{1,12}", args in prop::collection::vec(json_value(), 0..4), id in proptest::option::of(0u64..1_000_000)) {
        let packet = Packet::event(&ns, &name, args.clone(), id);
        let decoded = Packet::decode(&packet.encode()).unwrap();
        prop_assert_eq!(&decoded, &packet);
        let (decoded_name, decoded_args) = decoded.event_parts().unwrap();
        prop_assert_eq!(decoded_name, name.as_str());
        prop_assert_eq!(decoded_args, args.as_slice());
    }

    #[test]
    fn acks_round_trip(ns in namespace(), id in any::<u64>(), args in prop::collection::vec(json_value(), 0..4)) {
        let packet = Packet::ack(&ns, id, args);
        prop_assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
    }

    #[test]
    fn connects_round_trip(ns in namespace(), auth in proptest::option::of(prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4))) {
        let auth = auth.map(|map| Value::Object(map.into_iter().collect()));
        let packet = Packet::connect(&ns, auth);
        let decoded = Packet::decode(&packet.encode()).unwrap();
        prop_assert_eq!(decoded.kind, PacketKind::Connect);
        prop_assert_eq!(decoded, packet);
    }
}
