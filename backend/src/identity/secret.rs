use std::io::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Bytes of a generated secret.
const SECRET_BYTES: usize = 32;

/// Why the token secret could not be loaded or created.
#[derive(Debug, Error)]
pub enum SecretError {
    /// Reading or writing the secret file failed.
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file exists but does not hold a hex secret of at least 16 bytes.
    #[error("secret file {0} is not a hex secret of at least 16 bytes")]
    Invalid(PathBuf),
}

/// The HMAC secret in `path` (hex), created with fresh random bytes and
/// owner-only permissions on first run, so tokens survive restarts. Nodes
/// that share the folder and start at once agree on one secret: it is
/// written whole beside `path` and linked into place only if no other
/// process did so first, so nobody ever reads a half-written file.
pub fn load_or_create_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    match load_secret(path) {
        Err(SecretError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let mut key = vec![0u8; SECRET_BYTES];
            getrandom::fill(&mut key).expect("the operating system provides randomness");
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut nonce = [0u8; 8];
            getrandom::fill(&mut nonce).expect("the operating system provides randomness");
            let draft = path.with_extension(format!("new-{}", encode_hex(&nonce)));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let written = options.open(&draft).and_then(|mut file| {
                writeln!(file, "{}", encode_hex(&key))?;
                file.sync_all()
            });
            // A link never replaces a file: whoever links first wins.
            let linked = written.and_then(|()| std::fs::hard_link(&draft, path));
            let _ = std::fs::remove_file(&draft);
            match linked {
                Ok(()) => Ok(key),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create_secret(path)
                }
                Err(error) => Err(io(error)),
            }
        }
        loaded => loaded,
    }
}

/// The HMAC secret in `path` (hex, at least 16 bytes), which must exist.
pub fn load_secret(path: &Path) -> Result<Vec<u8>, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_hex(text.trim())
        .filter(|key| key.len() >= 16)
        .ok_or_else(|| SecretError::Invalid(path.to_owned()))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_once_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("chat-secret-test-{}", std::process::id()));
        let path = dir.join("nested/secret");
        let _ = std::fs::remove_dir_all(&dir);
        let first = load_or_create_secret(&path).unwrap();
        assert_eq!(first.len(), SECRET_BYTES);
        assert_eq!(load_or_create_secret(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(
            load_or_create_secret(&path),
            Err(SecretError::Invalid(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn servers_starting_at_once_share_one_secret() {
        let dir = std::env::temp_dir().join(format!("chat-secret-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("secret");
        let keys: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let starting: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| load_or_create_secret(&path).unwrap()))
                .collect();
            starting.into_iter().map(|s| s.join().unwrap()).collect()
        });
        assert!(
            keys.iter().all(|key| *key == keys[0]),
            "every server has the one secret"
        );
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "only the secret is left: {left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
