use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// A user id: 1 to 64 characters from `A-Z a-z 0-9 _ -`, so it is safe in
/// room names, logs and URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    /// Checks `raw` against the id rules.
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        let valid = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(TokenError::BadUserId)
        }
    }

    /// A fresh random id (128 bits), for a new anonymous user.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system provides randomness");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a token was refused. Clients only learn that it was invalid.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// The user id breaks the id rules.
    #[error("invalid user id")]
    BadUserId,
    /// The token is not `<user id>.<signature>` with a base64url signature.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match: forged, or signed with another secret.
    #[error("invalid token signature")]
    BadSignature,
}

/// Signs and checks session tokens `<user id>.<HMAC-SHA256 of it, base64url>`.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    /// A secret being retired: what it signed is still accepted.
    previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: <redacted> }")
    }
}

impl Signer {
    /// A signer with `key` as the HMAC secret.
    pub fn new(key: Vec<u8>) -> Self {
        Self {
            key,
            previous: None,
        }
    }

    /// This signer, also accepting tokens signed with `previous` (a secret
    /// being rotated out); new tokens are still signed with its own key.
    pub fn also_accepting(self, previous: Vec<u8>) -> Self {
        Self {
            previous: Some(previous),
            ..self
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        mac(&self.key)
    }

    /// The token proving `user`.
    pub fn issue(&self, user: &UserId) -> String {
        let mut mac = self.mac();
        mac.update(user.as_str().as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{}.{signature}", user.as_str())
    }

    /// The user a token proves, if it is genuine: signed with this signer's
    /// key, or with the previous one it also accepts. Each comparison takes
    /// the same time whatever the signature.
    pub fn verify(&self, token: &str) -> Result<UserId, TokenError> {
        let (user, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let user = UserId::parse(user)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let signed_with = |key: &[u8]| {
            let mut mac = mac(key);
            mac.update(user.as_str().as_bytes());
            mac.verify_slice(&signature).is_ok()
        };
        if signed_with(&self.key) || self.previous.as_deref().is_some_and(signed_with) {
            Ok(user)
        } else {
            Err(TokenError::BadSignature)
        }
    }
}

/// A MAC keyed with `key`.
fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"test secret".to_vec())
    }

    #[test]
    fn an_issued_token_proves_its_user() {
        let user = UserId::parse("ann").unwrap();
        let token = signer().issue(&user);
        assert_eq!(signer().verify(&token), Ok(user));
    }

    #[test]
    fn a_token_for_another_user_or_secret_is_refused() {
        let token = signer().issue(&UserId::parse("ann").unwrap());
        let (_, signature) = token.split_once('.').unwrap();
        assert_eq!(
            signer().verify(&format!("bob.{signature}")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            Signer::new(b"other".to_vec()).verify(&token),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_rotated_secret_still_accepts_what_the_previous_one_signed() {
        let user = UserId::parse("ann").unwrap();
        let old = signer().issue(&user);
        let rotated = Signer::new(b"new secret".to_vec()).also_accepting(b"test secret".to_vec());
        assert_eq!(rotated.verify(&old), Ok(user.clone()));
        let new = rotated.issue(&user);
        assert_ne!(new, old, "new tokens are signed with the new secret");
        assert_eq!(Signer::new(b"new secret".to_vec()).verify(&new), Ok(user));
        assert_eq!(
            Signer::new(b"third".to_vec())
                .also_accepting(b"new secret".to_vec())
                .verify(&old),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for token in [
            "",
            "ann",
            "ann.",
            "ann.!!!",
            ".abc",
            "a b.abc",
            "ann.abc.def",
        ] {
            assert!(signer().verify(token).is_err(), "{token:?}");
        }
    }

    #[test]
    fn user_ids_are_restricted() {
        assert!(UserId::parse("user_1-A").is_ok());
        for bad in ["", "a b", "a.b", "é", &"x".repeat(65)] {
            assert_eq!(UserId::parse(bad), Err(TokenError::BadUserId), "{bad:?}");
        }
        let random = UserId::random();
        assert!(UserId::parse(random.as_str()).is_ok());
        assert_ne!(random, UserId::random());
    }
}
