//! The shape check: walks a request body over its wire layout before kafka-protocol decodes it,
//! so that counts and lengths a client claims are held against the bytes it actually sent.
//!
//! kafka-protocol's decoder reserves `Vec` capacity from an array's count before it reads a
//! single element. A 20-byte frame that claims two billion entries would make it ask for
//! hundreds of gigabytes, and a failed allocation aborts the process: the broker and every
//! connector with it. Every element of every array takes at least one byte on the wire (at
//! least its type's minimum, which the walk knows), so a count larger than the remaining bytes
//! can afford is malformed, and the walk refuses it with the field's name before anything is
//! allocated. Strings, bytes and tagged fields are length-checked the same way, so the walk
//! costs one pass over the structure and allocates nothing.
//!
//! The layouts in [`table`] are generated from kafka-protocol's own decoders by
//! `tools/request-shapes.py`, so the walk reads exactly what the decoder will; the tests encode
//! a request of every supported version with kafka-protocol and check the walk ends where the
//! encoding does.

mod table;

#[cfg(test)]
pub(crate) mod samples;

use kafka_protocol::messages::ApiKey;

/// What one field is on the wire. Nullability needs no variant: a null is a length or count
/// of -1 (0 in the compact forms), which the walk accepts wherever a length or count goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A fixed-width value of this many bytes (ints, booleans, floats, UUIDs).
    Fixed(usize),
    /// A string: an `i16` length, or an unsigned varint of length + 1 in flexible versions.
    Str,
    /// Bytes (and record batches): an `i32` length, or a varint of length + 1.
    Bytes,
    /// An array of the element kind: an `i32` count, or a varint of count + 1.
    Array(&'static Kind),
    /// A struct with these fields (and, in flexible versions, its tagged fields).
    Struct(&'static [Field]),
}

/// One field of a request struct and the versions it is on the wire in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    name: &'static str,
    min: i16,
    max: i16,
    kind: Kind,
}

impl Field {
    pub(crate) const fn new(name: &'static str, min: i16, max: i16, kind: Kind) -> Field {
        Field {
            name,
            min,
            max,
            kind,
        }
    }

    fn present(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// The layout of one API's request body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    key: ApiKey,
    /// The first version that uses compact encodings and tagged fields.
    flexible: i16,
    fields: &'static [Field],
}

impl Shape {
    pub(crate) const fn new(key: ApiKey, flexible: i16, fields: &'static [Field]) -> Shape {
        Shape {
            key,
            flexible,
            fields,
        }
    }
}

/// Why a request body does not fit its layout. `field` is the path to the field, such as
/// `topic_data.partition_data.records`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub(crate) struct ShapeError {
    pub field: String,
    pub reason: String,
}

/// Walks `body` (the request after its header) as `key` at `version`. `Ok` means every count
/// and length in it fits in the bytes that follow it, so decoding allocates in proportion to
/// the frame. An API with no layout in the table is refused: the broker never decodes what
/// it cannot check.
pub(crate) fn check(key: ApiKey, version: i16, body: &[u8]) -> Result<(), ShapeError> {
    let Some(shape) = table::SHAPES.iter().find(|s| s.key == key) else {
        return Err(ShapeError {
            field: String::new(),
            reason: format!("no request layout for {key:?}"),
        });
    };
    let mut walk = Walk {
        buf: body,
        version,
        flexible: version >= shape.flexible,
        path: Vec::new(),
    };
    walk.fields(shape.fields)
}

struct Walk<'a> {
    buf: &'a [u8],
    version: i16,
    flexible: bool,
    path: Vec<&'static str>,
}

impl Walk<'_> {
    fn fields(&mut self, fields: &'static [Field]) -> Result<(), ShapeError> {
        let version = self.version;
        for field in fields.iter().filter(|f| f.present(version)) {
            self.path.push(field.name);
            self.kind(field.kind)?;
            self.path.pop();
        }
        if self.flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }

    fn kind(&mut self, kind: Kind) -> Result<(), ShapeError> {
        match kind {
            Kind::Fixed(n) => self.skip(n, "a fixed-width value"),
            Kind::Str => {
                let len = if self.flexible {
                    self.compact_len()?
                } else {
                    let n = i16::from_be_bytes(self.take::<2>("a string length")?);
                    self.legacy_len(i32::from(n))?
                };
                self.skip(len.unwrap_or(0), "string bytes")
            }
            Kind::Bytes => {
                let len = if self.flexible {
                    self.compact_len()?
                } else {
                    let n = i32::from_be_bytes(self.take::<4>("a bytes length")?);
                    self.legacy_len(n)?
                };
                self.skip(len.unwrap_or(0), "bytes")
            }
            Kind::Array(element) => {
                let count = if self.flexible {
                    self.compact_len()?
                } else {
                    let n = i32::from_be_bytes(self.take::<4>("an array count")?);
                    self.legacy_len(n)?
                };
                let Some(count) = count else { return Ok(()) };
                let each = self.min_size(*element).max(1);
                if count > self.buf.len() / each {
                    return Err(self.error(format!(
                        "array claims {count} entries of at least {each} bytes, but only {} bytes remain",
                        self.buf.len()
                    )));
                }
                for _ in 0..count {
                    self.kind(*element)?;
                }
                Ok(())
            }
            Kind::Struct(fields) => self.fields(fields),
        }
    }

    /// Tagged fields: a count, then (tag, size, bytes) each. The decoder reads the known tags
    /// of the supported versions in place; none of them holds an array (the generator checks).
    fn tagged_fields(&mut self) -> Result<(), ShapeError> {
        let count = self.varint("a tagged-field count")?;
        for _ in 0..count {
            self.varint("a tag")?;
            let size = self.varint("a tagged-field size")?;
            self.skip(size as usize, "tagged-field bytes")?;
        }
        Ok(())
    }

    /// The fewest bytes a value of `kind` takes in this version.
    fn min_size(&self, kind: Kind) -> usize {
        match kind {
            Kind::Fixed(n) => n,
            Kind::Str | Kind::Bytes | Kind::Array(_) if self.flexible => 1,
            Kind::Str => 2,
            Kind::Bytes | Kind::Array(_) => 4,
            Kind::Struct(fields) => {
                let own: usize = fields
                    .iter()
                    .filter(|f| f.present(self.version))
                    .map(|f| self.min_size(f.kind))
                    .sum();
                own + usize::from(self.flexible)
            }
        }
    }

    /// A non-compact length or count: -1 is null; other negatives are malformed.
    fn legacy_len(&self, n: i32) -> Result<Option<usize>, ShapeError> {
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(self.error(format!("negative length {n}"))),
            n => Ok(Some(n as usize)),
        }
    }

    /// A compact length or count: a varint of n + 1, 0 is null.
    fn compact_len(&mut self) -> Result<Option<usize>, ShapeError> {
        let n = self.varint("a compact length")?;
        Ok(n.checked_sub(1).map(|n| n as usize))
    }

    fn varint(&mut self, what: &str) -> Result<u32, ShapeError> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.take::<1>(what)?;
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(format!("{what} is a varint longer than 5 bytes")))
    }

    fn take<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ShapeError> {
        let Some((head, rest)) = self.buf.split_first_chunk::<N>() else {
            return Err(self.short(N, what));
        };
        self.buf = rest;
        Ok(*head)
    }

    fn skip(&mut self, n: usize, what: &str) -> Result<(), ShapeError> {
        if n > self.buf.len() {
            return Err(self.short(n, what));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    fn short(&self, n: usize, what: &str) -> ShapeError {
        self.error(format!(
            "needs {n} bytes for {what}, but only {} remain",
            self.buf.len()
        ))
    }

    fn error(&self, reason: String) -> ShapeError {
        ShapeError {
            field: self.path.join("."),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::supported_versions;

    fn encode(key: ApiKey, version: i16) -> Vec<u8> {
        samples::sample(key, version)
    }

    /// Every version the broker serves: a request with an entry in each of its arrays, encoded
    /// by kafka-protocol, walks to exactly its end. A layout that is off by one field fails.
    #[test]
    fn the_walk_ends_where_kafka_protocol_encoding_ends() {
        let mut checked = 0;
        for shape in table::SHAPES {
            let (min, max) = supported_versions(shape.key).expect("every shape is served");
            for version in min..=max {
                let body = encode(shape.key, version);
                let mut walk = Walk {
                    buf: &body,
                    version,
                    flexible: version >= shape.flexible,
                    path: Vec::new(),
                };
                walk.fields(shape.fields)
                    .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", shape.key));
                assert!(
                    walk.buf.is_empty(),
                    "{:?} v{version}: {} bytes left after the walk",
                    shape.key,
                    walk.buf.len()
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "only {checked} API versions checked");
    }

    /// Decodes `body` with kafka-protocol if the walk passes it. A walk that let a huge claim
    /// through would make the decoder ask for gigabytes and abort this test binary.
    fn check_then_decode(key: ApiKey, version: i16, body: &[u8]) -> bool {
        let passed = check(key, version, body).is_ok();
        if passed {
            let mut bytes = bytes::Bytes::copy_from_slice(body);
            let _ = kafka_protocol::messages::RequestKind::decode(key, &mut bytes, version);
        }
        passed
    }

    /// Claims of i32::MAX entries (or the largest varint) spliced in at every offset of every
    /// supported version, every truncation, and seeded random byte flips: whatever the walk
    /// passes, kafka-protocol decodes without a huge allocation. A claim put where the body's
    /// first array count is must be refused, and so must every strict prefix of a body whose
    /// fields are all required.
    #[test]
    fn hostile_bodies_are_refused_or_harmless() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut refused = 0usize;
        for shape in table::SHAPES {
            let (min, max) = supported_versions(shape.key).expect("every shape is served");
            for version in min..=max {
                let flexible = version >= shape.flexible;
                let body = encode(shape.key, version);
                let huge: &[u8] = if flexible {
                    &[0xff, 0xff, 0xff, 0xff, 0x0f]
                } else {
                    &[0x7f, 0xff, 0xff, 0xff]
                };
                for at in 0..=body.len() {
                    let mut hostile = body[..at].to_vec();
                    for _ in 0..4 {
                        hostile.extend_from_slice(huge);
                    }
                    refused += usize::from(!check_then_decode(shape.key, version, &hostile));
                    refused += usize::from(!check_then_decode(shape.key, version, &body[..at]));
                }
                for _ in 0..64 {
                    let mut flipped = body.clone();
                    for _ in 0..1 + next() % 4 {
                        let i = next() as usize % flipped.len().max(1);
                        if let Some(b) = flipped.get_mut(i) {
                            *b = next() as u8;
                        }
                    }
                    check_then_decode(shape.key, version, &flipped);
                }
                if let Some(first) = shape.fields.iter().find(|f| f.present(version))
                    && matches!(first.kind, Kind::Array(_))
                {
                    let mut hostile = huge.to_vec();
                    hostile.extend_from_slice(&body);
                    let err = check(shape.key, version, &hostile)
                        .expect_err("a first array claiming 2^31 entries");
                    assert_eq!(err.field, first.name, "{:?} v{version}", shape.key);
                    assert!(err.reason.contains("entries"), "{err}");
                }
            }
        }
        assert!(refused > 1000, "only {refused} hostile bodies refused");
    }

    /// Every API the broker serves has a layout, so none is decoded unchecked (the server
    /// refuses a request it has no layout for).
    #[test]
    fn every_served_api_has_a_layout() {
        for (key, _, _) in crate::versions::SUPPORTED {
            assert!(
                table::SHAPES.iter().any(|s| s.key == *key),
                "{key:?} is served but has no layout: add it to tools/request-shapes.py"
            );
        }
    }

    #[test]
    fn an_api_without_a_layout_is_refused() {
        let err = check(ApiKey::ElectLeaders, 0, &[]).unwrap_err();
        assert!(err.reason.contains("no request layout"), "{err}");
    }
}
