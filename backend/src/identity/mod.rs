//! Who a socket is. Anonymous sockets use the group chat under any display
//! name; a user id, which Botmaster mode trusts, must be proven with a token
//! the server signed.

mod secret;
mod token;

pub use secret::{SecretError, load_or_create_secret, load_secret};
pub use token::{Signer, TokenError, UserId};
