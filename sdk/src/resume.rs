//! Where a source task resumes (Kafka Connect's `OffsetStorageReader`).

/// The last stored position of each source partition, handed to [`crate::Source::open`].
/// Empty on a task's first start. A position is stored once the records before it are
/// durable in their topics, so resuming after it loses and repeats nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    positions: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Resume {
    /// Positions by source partition: (partition, position) pairs.
    pub fn new(positions: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Resume { positions }
    }

    /// Where to resume `source_partition`: the position of the last of its records that
    /// reached a topic; `None` if none has yet.
    pub fn position(&self, source_partition: &[u8]) -> Option<&[u8]> {
        self.positions
            .iter()
            .find(|(p, _)| p == source_partition)
            .map(|(_, position)| position.as_slice())
    }

    /// Every (source partition, position) pair.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.positions
            .iter()
            .map(|(p, position)| (p.as_slice(), position.as_slice()))
    }

    /// Whether nothing was stored: a first start.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

impl From<Vec<(Vec<u8>, Vec<u8>)>> for Resume {
    fn from(positions: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        Resume::new(positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_resumes_at_its_own_position() {
        let resume = Resume::from(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec()),
        ]);
        assert_eq!(resume.position(b"b"), Some(&b"2"[..]));
        assert_eq!(resume.position(b"c"), None);
        assert_eq!(resume.iter().count(), 2);
        assert!(Resume::default().is_empty());
    }
}
