//! SASL/PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

use crate::Error;

/// A PLAIN message's user and password.
pub struct PlainMessage {
    /// The user (authcid).
    pub user: String,
    /// The password.
    pub password: String,
}

impl PlainMessage {
    /// Parses a client's message. An authorization id other than the user itself is refused,
    /// as Kafka refuses it.
    pub fn parse(message: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(message)
            .map_err(|_| Error::Exchange("PLAIN message is not UTF-8".into()))?;
        let mut parts = text.split('\0');
        let (Some(authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Exchange(
                "expected authzid NUL user NUL password (RFC 4616)".into(),
            ));
        };
        if user.is_empty() || password.is_empty() {
            return Err(Error::Exchange(
                "PLAIN user and password must not be empty".into(),
            ));
        }
        if !authzid.is_empty() && authzid != user {
            return Err(Error::Exchange(
                "an authorization id other than the user is not supported".into(),
            ));
        }
        Ok(PlainMessage {
            user: user.to_string(),
            password: password.to_string(),
        })
    }

    /// A client's message for `user` and `password`.
    pub fn encode(user: &str, password: &str) -> Vec<u8> {
        format!("\0{user}\0{password}").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let m = PlainMessage::parse(&PlainMessage::encode("alice", "pw")).unwrap();
        assert_eq!((m.user.as_str(), m.password.as_str()), ("alice", "pw"));
        assert!(PlainMessage::parse(b"alice\0alice\0pw").is_ok());
        for bad in [&b"bob\0alice\0pw"[..], b"\0alice", b"\0\0pw", b"\0a\0b\0c"] {
            assert!(PlainMessage::parse(bad).is_err(), "{bad:?}");
        }
    }
}
