//! Names that only trusted clients may use through the Kafka port: a worker's internal topics
//! (configs, offsets, status), its Connect group and its sinks' groups.
//!
//! Trust is by principal where the broker authenticates: the workers' own user
//! (`[broker.sasl] admin_user`), which the worker's group membership and peer workers log in
//! as. A client no listener authenticated (`User:ANONYMOUS`) is trusted by connection: this
//! process's own connections and clients from listed addresses (peer workers), the trust of
//! a broker without SASL. Anyone else gets Kafka's authorization errors
//! (`TOPIC_AUTHORIZATION_FAILED`, `GROUP_AUTHORIZATION_FAILED`) for requests that name a
//! reserved topic or group, and does not see them in Metadata or ListGroups answers, as a
//! Kafka broker with ACLs answers a client without permission.

use std::net::{IpAddr, SocketAddr};

use crate::handlers::Client;

/// What is reserved, and for whom.
pub struct Reserved {
    /// Topics by exact name.
    pub topics: Vec<String>,
    /// Groups by exact name.
    pub groups: Vec<String>,
    /// Groups by name prefix (Kafka Connect's sink groups, `connect-`).
    pub group_prefixes: Vec<String>,
    /// Clients from these addresses are trusted.
    pub clients: Vec<IpAddr>,
    /// Whether a peer address is one of this process's own outbound connections.
    pub own: fn(SocketAddr) -> bool,
    /// The workers' principal (`User:<admin_user>`), when the broker authenticates.
    pub principal: Option<String>,
}

impl Reserved {
    fn trusts(&self, principal: &str, peer: SocketAddr) -> bool {
        if self.principal.as_deref() == Some(principal) {
            return true;
        }
        principal == connectd_security::ANONYMOUS
            && (self.clients.contains(&peer.ip()) || (self.own)(peer))
    }

    /// Whether `client` must be refused the topic `name`.
    pub(crate) fn refuses_topic(&self, client: &Client, name: &str) -> bool {
        self.refuses_topic_to(&client.principal, client.peer, name)
    }

    /// Whether `client` must be refused the group `name`.
    pub(crate) fn refuses_group(&self, client: &Client, name: &str) -> bool {
        self.refuses_group_to(&client.principal, client.peer, name)
    }

    fn refuses_topic_to(&self, principal: &str, peer: SocketAddr, name: &str) -> bool {
        self.topics.iter().any(|t| t == name) && !self.trusts(principal, peer)
    }

    fn refuses_group_to(&self, principal: &str, peer: SocketAddr, name: &str) -> bool {
        let reserved = self.groups.iter().any(|g| g == name)
            || self
                .group_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()));
        reserved && !self.trusts(principal, peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: SocketAddr) -> bool {
        false
    }

    fn own_port_7(peer: SocketAddr) -> bool {
        peer.port() == 7
    }

    #[test]
    fn refuses_reserved_names_to_strangers_only() {
        let reserved = Reserved {
            topics: vec!["connectd-configs".into()],
            groups: vec!["connectd-cluster".into()],
            group_prefixes: vec!["connect-".into()],
            clients: vec!["10.0.0.2".parse().unwrap()],
            own: own_port_7,
            principal: Some("User:worker".into()),
        };
        let anon = connectd_security::ANONYMOUS;
        let stranger: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let own: SocketAddr = "127.0.0.1:7".parse().unwrap();
        assert!(reserved.refuses_topic_to(anon, stranger, "connectd-configs"));
        assert!(!reserved.refuses_topic_to(anon, stranger, "connectd-configs2"));
        assert!(!reserved.refuses_topic_to(anon, stranger, "events"));
        assert!(reserved.refuses_group_to(anon, stranger, "connectd-cluster"));
        assert!(reserved.refuses_group_to(anon, stranger, "connect-sink"));
        assert!(!reserved.refuses_group_to(anon, stranger, "analytics"));
        for trusted in [peer, own] {
            assert!(!reserved.refuses_topic_to(anon, trusted, "connectd-configs"));
            assert!(!reserved.refuses_group_to(anon, trusted, "connect-sink"));
            // An authenticated user is not trusted for its address.
            assert!(reserved.refuses_topic_to("User:alice", trusted, "connectd-configs"));
        }
        assert!(!reserved.refuses_topic_to("User:worker", stranger, "connectd-configs"));
        let nobody = Reserved {
            own: never,
            ..reserved
        };
        assert!(nobody.refuses_topic_to(anon, own, "connectd-configs"));
    }
}
