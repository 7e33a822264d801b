//! Names that only trusted clients may use through the Kafka port: a worker's internal topics
//! (configs, offsets, status), its Connect group and its sinks' groups.
//!
//! Until the broker authenticates clients (SASL), trust is by connection: this process's own
//! connections (the worker's group membership joins over the wire) and clients from listed
//! addresses (peer workers). Anyone else gets Kafka's authorization errors
//! (`TOPIC_AUTHORIZATION_FAILED`, `GROUP_AUTHORIZATION_FAILED`) for requests that name a
//! reserved topic or group, and does not see them in Metadata or ListGroups answers, as a
//! Kafka broker with ACLs answers a client without permission.

use std::net::{IpAddr, SocketAddr};

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
}

impl Reserved {
    fn trusts(&self, peer: SocketAddr) -> bool {
        self.clients.contains(&peer.ip()) || (self.own)(peer)
    }

    /// Whether `peer` must be refused the topic `name`.
    pub(crate) fn refuses_topic(&self, peer: SocketAddr, name: &str) -> bool {
        self.topics.iter().any(|t| t == name) && !self.trusts(peer)
    }

    /// Whether `peer` must be refused the group `name`.
    pub(crate) fn refuses_group(&self, peer: SocketAddr, name: &str) -> bool {
        let reserved = self.groups.iter().any(|g| g == name)
            || self
                .group_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()));
        reserved && !self.trusts(peer)
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
        };
        let stranger: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let peer: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let own: SocketAddr = "127.0.0.1:7".parse().unwrap();
        assert!(reserved.refuses_topic(stranger, "connectd-configs"));
        assert!(!reserved.refuses_topic(stranger, "connectd-configs2"));
        assert!(!reserved.refuses_topic(stranger, "events"));
        assert!(reserved.refuses_group(stranger, "connectd-cluster"));
        assert!(reserved.refuses_group(stranger, "connect-sink"));
        assert!(!reserved.refuses_group(stranger, "analytics"));
        for trusted in [peer, own] {
            assert!(!reserved.refuses_topic(trusted, "connectd-configs"));
            assert!(!reserved.refuses_group(trusted, "connect-sink"));
        }
        let nobody = Reserved {
            own: never,
            ..reserved
        };
        assert!(nobody.refuses_topic(own, "connectd-configs"));
    }
}
