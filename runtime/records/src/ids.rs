//! The ids records and tasks carry, as newtypes where tuples and bare integers stood: a
//! [`TopicPartition`] and an [`Offset`] name a place in a topic, a [`ConnectorName`] and a
//! [`TaskId`] name who runs. A [`ConnectorName`] is checked where it is made.

use std::fmt;

use crate::Error;

/// One partition of one topic (Kafka's `TopicPartition`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number, from 0.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    /// `topic-partition`, as Kafka prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A position in a partition: the offset of a record, or of the next record to read (what a
/// consumer group commits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub i64);

impl Offset {
    /// The first offset of a new partition.
    pub const ZERO: Offset = Offset(0);

    /// The offset `n` records later.
    pub fn plus(self, n: i64) -> Offset {
        Offset(self.0 + n)
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A connector's name (Kafka Connect's `name`): not empty, at most 249 characters, no
/// control characters and no `/` or `\`, and not `.` or `..`, so that it can name a file, a
/// consumer group (`connect-<name>`) and a REST path segment safely.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectorName(String);

impl ConnectorName {
    /// Longest name accepted (Kafka's limit for topic names, which a name often becomes).
    pub const MAX_LEN: usize = 249;

    /// Checks `name`; the error says what is wrong with it.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let bad = |reason: &str| {
            Err(Error::InvalidName {
                name: name.clone(),
                reason: reason.to_string(),
            })
        };
        if name.is_empty() {
            return bad("it is empty");
        }
        if name.chars().count() > Self::MAX_LEN {
            return bad("it is longer than 249 characters");
        }
        if name == "." || name == ".." {
            return bad("`.` and `..` are not names");
        }
        if name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
        {
            return bad("it holds `/`, `\\` or a control character");
        }
        Ok(ConnectorName(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ConnectorName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// One task of a connector (Kafka Connect's `ConnectorTaskId`): task `task` of `tasks.max`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId {
    /// The connector.
    pub connector: ConnectorName,
    /// The task's number, from 0.
    pub task: u32,
}

impl fmt::Display for TaskId {
    /// `connector-task`, as Kafka Connect prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.connector, self.task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_names_that_could_escape_a_path_are_refused() {
        for bad in ["", ".", "..", "a/b", "..\\x", "tab\there", &"n".repeat(250)] {
            let err = ConnectorName::new(bad).unwrap_err().to_string();
            assert!(err.contains("connector name"), "{bad:?}: {err}");
        }
        for good in [
            "orders",
            "Orders Export 2",
            "a.b-c_d",
            "ünïcode",
            &"n".repeat(249),
        ] {
            assert_eq!(ConnectorName::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn ids_print_as_kafka_does() {
        assert_eq!(TopicPartition::new("t", 3).to_string(), "t-3");
        let task = TaskId {
            connector: ConnectorName::new("c").unwrap(),
            task: 2,
        };
        assert_eq!(task.to_string(), "c-2");
        assert_eq!(Offset(7).plus(3), Offset(10));
    }
}
