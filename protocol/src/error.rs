use thiserror::Error;

/// Why a frame from the server could not be decoded. Decoding never panics:
/// every malformed input ends up as one of these.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The frame was empty; every packet starts with a type digit.
    #[error("empty frame")]
    Empty,
    /// The first character is not a known packet type.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// The JSON part of the frame is not valid JSON.
    #[error("invalid JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    /// A numeric field (ack id, attachment count) is missing its digits or overflows.
    #[error("invalid number in packet header")]
    BadNumber,
    /// The payload is valid JSON but not the shape this packet type requires.
    #[error("invalid payload for {kind} packet: {reason}")]
    BadPayload {
        /// The packet type whose rules were broken.
        kind: &'static str,
        /// What was expected.
        reason: &'static str,
    },
    /// The frame is larger than the negotiated `maxPayload`.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the frame received.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
}
