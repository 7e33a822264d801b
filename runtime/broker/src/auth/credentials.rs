//! Users' SCRAM credentials (`__meta/scram-credentials.json`): per user and mechanism the
//! salt, iteration count, StoredKey and ServerKey, never a password. Written whole and
//! atomically on each change (changes are rare and the file small).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use connectd_security::scram::{Credential, Mechanism};
use parking_lot::RwLock;

use crate::{Error, Result};

type Users = BTreeMap<String, BTreeMap<Mechanism, Credential>>;

/// The stored credentials.
pub struct Credentials {
    path: PathBuf,
    users: RwLock<Users>,
}

/// One change of an AlterUserScramCredentials request.
pub enum Change {
    /// Set the user's credential for the mechanism.
    Upsert(String, Mechanism, Credential),
    /// Remove it.
    Delete(String, Mechanism),
}

impl Credentials {
    /// Reads the file in `meta` (none yet: no users).
    pub fn open(meta: &Path) -> Result<Self> {
        let path = meta.join("scram-credentials.json");
        let users = super::read_json_file(&path, "a credentials file")?;
        Ok(Credentials {
            path,
            users: RwLock::new(users),
        })
    }

    /// The user's credential for `mechanism`.
    pub fn get(&self, user: &str, mechanism: Mechanism) -> Option<Credential> {
        self.users.read().get(user)?.get(&mechanism).cloned()
    }

    /// Every user with the mechanisms and iteration counts it has.
    pub fn describe(&self) -> Vec<(String, Vec<(Mechanism, u32)>)> {
        self.users
            .read()
            .iter()
            .map(|(user, creds)| {
                let list = creds.iter().map(|(m, c)| (*m, c.iterations)).collect();
                (user.clone(), list)
            })
            .collect()
    }

    /// Whether `user` has any credential.
    pub fn exists(&self, user: &str) -> bool {
        self.users.read().contains_key(user)
    }

    /// Applies `changes` and writes the file once. A deletion of a credential that does not
    /// exist is reported by index (Kafka's RESOURCE_NOT_FOUND) and changes nothing else.
    pub fn alter(&self, changes: Vec<Change>) -> Result<Vec<Result<(), usize>>> {
        let mut users = self.users.write();
        let mut next = users.clone();
        let mut outcome = Vec::with_capacity(changes.len());
        for (i, change) in changes.into_iter().enumerate() {
            match change {
                Change::Upsert(user, m, cred) => {
                    next.entry(user).or_default().insert(m, cred);
                    outcome.push(Ok(()));
                }
                Change::Delete(user, m) => {
                    let removed = next.get_mut(&user).and_then(|c| c.remove(&m)).is_some();
                    if next.get(&user).is_some_and(|c| c.is_empty()) {
                        next.remove(&user);
                    }
                    outcome.push(if removed { Ok(()) } else { Err(i) });
                }
            }
        }
        if next != *users {
            let json = serde_json::to_vec_pretty(&next).expect("credentials serialize");
            crate::topics::write_private_atomic(&self.path, &json)?;
            *users = next;
        }
        Ok(outcome)
    }

    /// Makes `password` the user's password for both SCRAM mechanisms, unless it already is
    /// (so a restart does not rewrite the file).
    pub fn ensure_password(&self, user: &str, password: &str, iterations: u32) -> Result<()> {
        let current = Mechanism::ALL
            .iter()
            .all(|m| self.get(user, *m).is_some_and(|c| c.verifies(*m, password)));
        if current {
            return Ok(());
        }
        let mut changes = Vec::new();
        for m in Mechanism::ALL {
            let cred = Credential::new(m, password, iterations).map_err(|e| Error::Metadata {
                path: PathBuf::from("worker.toml [broker.sasl] admin_password"),
                reason: e.to_string(),
            })?;
            changes.push(Change::Upsert(user.to_string(), m, cred));
        }
        self.alter(changes).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_survive_a_reopen_and_deletions_report_what_was_missing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Credentials::open(dir.path()).unwrap();
        store.ensure_password("admin", "pw", 4096).unwrap();
        let stamp = std::fs::metadata(dir.path().join("scram-credentials.json"))
            .unwrap()
            .modified()
            .unwrap();
        store.ensure_password("admin", "pw", 4096).unwrap();
        let again = std::fs::metadata(dir.path().join("scram-credentials.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(stamp, again, "the same password is not written again");
        let text = std::fs::read_to_string(dir.path().join("scram-credentials.json")).unwrap();
        assert!(!text.contains("\"pw\""));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("scram-credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner alone: {mode:o}");
        let reopened = Credentials::open(dir.path()).unwrap();
        let cred = reopened.get("admin", Mechanism::Sha512).unwrap();
        assert!(cred.verifies(Mechanism::Sha512, "pw"));
        let outcome = reopened
            .alter(vec![
                Change::Delete("admin".into(), Mechanism::Sha256),
                Change::Delete("nobody".into(), Mechanism::Sha256),
            ])
            .unwrap();
        assert_eq!(outcome, vec![Ok(()), Err(1)]);
        assert_eq!(
            reopened.describe(),
            vec![("admin".to_string(), vec![(Mechanism::Sha512, 4096)])]
        );
    }
}
