//! SCRAM (RFC 5802, with the SHA-256 and SHA-512 of RFC 7677 as Kafka names them): stored
//! credentials, the server's two-step exchange, and the client's.
//!
//! What a broker stores is what RFC 5802 lets it store: the salt, the iteration count,
//! `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
//! `ServerKey = HMAC(SaltedPassword, "Server Key")`. Neither the password nor the salted
//! password is kept, so a stolen credential file cannot log in (it can still be attacked
//! offline, which the iteration count slows down).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::Error;

/// The fewest iterations Kafka accepts for a SCRAM credential.
pub const MIN_ITERATIONS: u32 = 4096;
/// The most iterations Kafka accepts for a SCRAM credential.
pub const MAX_ITERATIONS: u32 = 16384;
/// The iterations of a credential made without a count: the admin user's, `connectd users
/// create`'s default (Kafka's tools use 4096; twice that costs a login a few milliseconds
/// more and an offline guesser twice as much).
pub const DEFAULT_ITERATIONS: u32 = 8192;

/// A SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Mechanism {
    /// `SCRAM-SHA-256`
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    /// `SCRAM-SHA-512`
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl Mechanism {
    /// Both, in the order Kafka lists them.
    pub const ALL: [Mechanism; 2] = [Mechanism::Sha256, Mechanism::Sha512];

    /// The SASL name (`SCRAM-SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism a SASL name stands for.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// KIP-554's number for it (1 and 2).
    pub fn kip554_type(self) -> i8 {
        match self {
            Mechanism::Sha256 => 1,
            Mechanism::Sha512 => 2,
        }
    }

    /// The mechanism KIP-554's number stands for.
    pub fn from_kip554_type(t: i8) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.kip554_type() == t)
    }

    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Mechanism::Sha256 => run::<Hmac<Sha256>>(key, parts),
            Mechanism::Sha512 => run::<Hmac<Sha512>>(key, parts),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
            Mechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Mechanism::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Mechanism::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a broker keeps of one user's password for one mechanism.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credential {
    /// The salt, base64.
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    /// `H(ClientKey)`, base64.
    #[serde(with = "b64")]
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`, base64.
    #[serde(with = "b64")]
    pub server_key: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// A fresh random salt.
pub fn new_salt() -> [u8; 24] {
    rand::random()
}

/// Checks an iteration count against Kafka's bounds.
pub fn check_iterations(iterations: u32) -> Result<(), Error> {
    if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(Error::Credential(format!(
            "{iterations} iterations; SCRAM credentials take {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )))
    }
}

impl Credential {
    /// A credential for `password`, with a fresh random salt.
    pub fn new(mechanism: Mechanism, password: &str, iterations: u32) -> Result<Self, Error> {
        check_iterations(iterations)?;
        let salt = new_salt();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        Ok(Credential::from_salted_password(
            mechanism, &salted, &salt, iterations,
        ))
    }

    /// A credential from a salted password, as KIP-554's AlterUserScramCredentials sends it
    /// (the client salts and hashes; the password never reaches the broker).
    pub fn from_salted_password(
        mechanism: Mechanism,
        salted_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, &[b"Client Key"]);
        Credential {
            salt: salt.to_vec(),
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, &[b"Server Key"]),
            iterations,
        }
    }

    /// Whether `password` is the one this credential was made from (SASL/PLAIN checks a
    /// password this way, so no plain password is ever stored). Constant time in the keys.
    pub fn verifies(&self, mechanism: Mechanism, password: &str) -> bool {
        let salted = mechanism.salted_password(password.as_bytes(), &self.salt, self.iterations);
        let client_key = mechanism.hmac(&salted, &[b"Client Key"]);
        mechanism.hash(&client_key).ct_eq(&self.stored_key).into()
    }
}

/// SCRAM's `saslname`: `,` and `=` written as `=2C` and `=3D`.
fn decode_saslname(s: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(bad(format!("user name {s:?} has a bare '='"))),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

fn bad(what: impl Into<String>) -> Error {
    Error::Exchange(what.into())
}

/// The `key=value` attributes of a SCRAM message, in order.
fn attributes(message: &str) -> Vec<(char, &str)> {
    message
        .split(',')
        .filter_map(|a| {
            let mut chars = a.chars();
            let key = chars.next()?;
            a.get(1..)?.strip_prefix('=').map(|v| (key, v))
        })
        .collect()
}

fn nonce() -> String {
    let bytes: [u8; 24] = rand::random();
    B64.encode(bytes)
}

/// The server's side of one exchange, after the client's first message.
pub struct ServerExchange {
    mechanism: Mechanism,
    user: String,
    credential: Credential,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// What the client's first message asks for, before the credential is looked up.
pub struct ClientFirst {
    /// The user name, decoded.
    pub user: String,
    bare: String,
    client_nonce: String,
}

impl ClientFirst {
    /// Parses the client's first message (`n,,n=user,r=nonce[,ext...]`). Channel binding and
    /// authorization identities are refused (Kafka refuses them too), and so is KIP-48's
    /// `tokenauth` extension (delegation tokens are not supported).
    pub fn parse(message: &[u8]) -> Result<Self, Error> {
        let message = std::str::from_utf8(message).map_err(|_| bad("not UTF-8"))?;
        let bare = message.strip_prefix("n,,").ok_or_else(|| {
            bad("expected the GS2 header \"n,,\" (no channel binding, no authorization id)")
        })?;
        let attrs = attributes(bare);
        let user = match attrs.first() {
            Some(('n', user)) if !user.is_empty() => decode_saslname(user)?,
            _ => return Err(bad("expected n=<user> first")),
        };
        let client_nonce = match attrs.get(1) {
            Some(('r', nonce)) if !nonce.is_empty() => nonce.to_string(),
            _ => return Err(bad("expected r=<nonce> after the user")),
        };
        if attrs
            .iter()
            .skip(2)
            .any(|(_, v)| v.starts_with("tokenauth"))
            || bare.contains("tokenauth=true")
        {
            return Err(bad("delegation tokens (tokenauth) are not supported"));
        }
        Ok(ClientFirst {
            user,
            bare: bare.to_string(),
            client_nonce,
        })
    }

    /// Answers with the server's first message, for the user's stored credential.
    pub fn respond(
        self,
        mechanism: Mechanism,
        credential: Credential,
    ) -> (ServerExchange, Vec<u8>) {
        let nonce = format!("{}{}", self.client_nonce, nonce());
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        (
            ServerExchange {
                mechanism,
                user: self.user,
                credential,
                client_first_bare: self.bare,
                server_first,
                nonce,
            },
            reply,
        )
    }
}

impl ServerExchange {
    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Checks the client's final message; on success, the user name and the server's final
    /// message (`v=<signature>`).
    pub fn finish(self, message: &[u8]) -> Result<(String, Vec<u8>), Error> {
        let message = std::str::from_utf8(message).map_err(|_| bad("not UTF-8"))?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| bad("expected p=<proof> last"))?;
        let attrs = attributes(without_proof);
        match attrs.first() {
            // base64("n,,"): the GS2 header of the first message, no channel binding.
            Some(('c', "biws")) => {}
            _ => return Err(bad("expected c=biws (no channel binding) first")),
        }
        // Kafka's rule: the nonce must end with the one the server sent. librdkafka sends
        // its own nonce again in front of it; the proof covers what was sent either way.
        match attrs.get(1) {
            Some(('r', nonce)) if nonce.ends_with(self.nonce.as_str()) => {}
            _ => return Err(bad("the nonce does not end with the one the server sent")),
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| bad("the proof is not base64"))?;
        let m = self.mechanism;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = m.hmac(&self.credential.stored_key, &[auth_message.as_bytes()]);
        if proof.len() != signature.len() {
            return Err(Error::InvalidCredentials);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if !bool::from(m.hash(&client_key).ct_eq(&self.credential.stored_key)) {
            return Err(Error::InvalidCredentials);
        }
        let server_signature = m.hmac(&self.credential.server_key, &[auth_message.as_bytes()]);
        Ok((
            self.user,
            format!("v={}", B64.encode(server_signature)).into_bytes(),
        ))
    }
}

/// The client's side of one exchange.
pub struct ClientExchange {
    mechanism: Mechanism,
    password: String,
    client_first_bare: String,
    client_nonce: String,
    server_signature: Option<Vec<u8>>,
}

impl ClientExchange {
    /// Starts an exchange; the first message to send is [`ClientExchange::first`].
    pub fn new(mechanism: Mechanism, user: &str, password: &str) -> Self {
        let client_nonce = nonce();
        ClientExchange {
            mechanism,
            password: password.to_string(),
            client_first_bare: format!("n={},r={client_nonce}", encode_saslname(user)),
            client_nonce,
            server_signature: None,
        }
    }

    /// The client's first message.
    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client's final message, in answer to the server's first.
    pub fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>, Error> {
        let server_first = std::str::from_utf8(server_first).map_err(|_| bad("not UTF-8"))?;
        let attrs = attributes(server_first);
        let get = |k: char| attrs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        if let Some(e) = get('e') {
            return Err(bad(format!("the server refused: {e}")));
        }
        let nonce = get('r').ok_or_else(|| bad("the server sent no nonce"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(bad("the server's nonce does not extend ours"));
        }
        let salt = B64
            .decode(get('s').ok_or_else(|| bad("the server sent no salt"))?)
            .map_err(|_| bad("the salt is not base64"))?;
        let iterations: u32 = get('i')
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| bad("the server sent no iteration count"))?;
        check_iterations(iterations)?;
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_key = m.hmac(&salted, &[b"Client Key"]);
        let signature = m.hmac(&m.hash(&client_key), &[auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = m.hmac(&salted, &[b"Server Key"]);
        self.server_signature = Some(m.hmac(&server_key, &[auth_message.as_bytes()]));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server's final message: a server that does not know the password cannot
    /// sign it.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), Error> {
        let text = std::str::from_utf8(server_final).map_err(|_| bad("not UTF-8"))?;
        let attrs = attributes(text);
        if let Some((_, e)) = attrs.iter().find(|(k, _)| *k == 'e') {
            return Err(bad(format!("the server refused: {e}")));
        }
        let v = attrs
            .iter()
            .find(|(k, _)| *k == 'v')
            .and_then(|(_, v)| B64.decode(v).ok())
            .ok_or_else(|| bad("the server's final message has no signature"))?;
        match &self.server_signature {
            Some(expected) if bool::from(v.ct_eq(expected)) => Ok(()),
            _ => Err(bad(
                "the server's signature is wrong: it does not know the password",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_example_verifies() {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let m = Mechanism::Sha256;
        let cred = Credential::from_salted_password(
            m,
            &m.salted_password(b"pencil", &salt, 4096),
            &salt,
            4096,
        );
        let first = ClientFirst::parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first.user, "user");
        let (mut server, _) = first.respond(m, cred);
        // Use the RFC's server nonce so the RFC's proof applies.
        server.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into();
        server.server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                .into();
        let (user, last) = server
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    fn exchange(m: Mechanism, stored: &str, tried: &str) -> Result<String, Error> {
        let cred = Credential::new(m, stored, 4096).unwrap();
        let mut client = ClientExchange::new(m, "al,i=ce", tried);
        let first = ClientFirst::parse(&client.first()).unwrap();
        assert_eq!(first.user, "al,i=ce");
        let (server, server_first) = first.respond(m, cred);
        let client_final = client.respond(&server_first)?;
        let (user, server_final) = server.finish(&client_final)?;
        client.verify(&server_final)?;
        Ok(user)
    }

    #[test]
    fn both_mechanisms_accept_the_password_and_refuse_another() {
        for m in Mechanism::ALL {
            assert_eq!(exchange(m, "s3cret", "s3cret").unwrap(), "al,i=ce");
            assert!(matches!(
                exchange(m, "s3cret", "wrong"),
                Err(Error::InvalidCredentials)
            ));
        }
    }

    #[test]
    fn plain_checks_against_the_scram_credential() {
        let cred = Credential::new(Mechanism::Sha512, "pw", 4096).unwrap();
        assert!(cred.verifies(Mechanism::Sha512, "pw"));
        assert!(!cred.verifies(Mechanism::Sha512, "pw2"));
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        for msg in [
            &b"y,,n=u,r=x"[..],
            b"n,a=other,n=u,r=x",
            b"n,,r=x",
            b"n,,n=u",
            b"n,,n=a=b,r=x",
            b"n,,n=u,r=x,tokenauth=true",
            b"\xff",
        ] {
            assert!(
                matches!(ClientFirst::parse(msg), Err(Error::Exchange(_))),
                "{msg:?}"
            );
        }
        let cred = Credential::new(Mechanism::Sha256, "pw", 4096).unwrap();
        let first = ClientFirst::parse(b"n,,n=u,r=abc").unwrap();
        let (server, _) = first.respond(Mechanism::Sha256, cred);
        assert!(
            server.finish(b"c=biws,r=abc,p=AAAA").is_err(),
            "a nonce the server did not extend"
        );
    }

    #[test]
    fn iterations_outside_kafkas_bounds_are_refused() {
        assert!(Credential::new(Mechanism::Sha256, "pw", 4095).is_err());
        assert!(Credential::new(Mechanism::Sha256, "pw", 16385).is_err());
    }
}
