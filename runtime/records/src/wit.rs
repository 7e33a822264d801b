//! The record model's side of the WIT boundary. A WIT binding generator makes its own copy of
//! `connectd:connector/types` (wasmtime's `bindgen!` on the host, `wit-bindgen` in a guest):
//! the same shapes under other names. [`wit_conversions!`](crate::wit_conversions) writes the
//! conversions between them and this crate's types once, for both sides.

/// Writes, in the calling module, the conversions between this crate's records and a
/// generated `connectd:connector/types` module in scope as `$w` (`use ...::types as w;`
/// first): `connect_record_in`/`_out`, `headers_in`/`_out` and `descriptor_in`/`_out`, where
/// `in` is from the generated type to the model. Each side uses some of them.
#[macro_export]
macro_rules! wit_conversions {
    ($w:ident) => {
        #[allow(dead_code)]
        pub fn headers_in(h: Vec<$w::Header>) -> Vec<$crate::Header> {
            h.into_iter()
                .map(|h| $crate::Header {
                    key: h.key,
                    value: h.value,
                })
                .collect()
        }

        #[allow(dead_code)]
        pub fn headers_out(h: Vec<$crate::Header>) -> Vec<$w::Header> {
            h.into_iter()
                .map(|h| $w::Header {
                    key: h.key,
                    value: h.value,
                })
                .collect()
        }

        #[allow(dead_code)]
        pub fn connect_record_in(r: $w::ConnectRecord) -> $crate::ConnectRecord {
            $crate::ConnectRecord {
                topic: r.topic,
                partition: r.partition,
                offset: r.offset,
                key: r.key,
                value: r.value,
                headers: headers_in(r.headers),
                timestamp_ms: r.timestamp_ms,
            }
        }

        #[allow(dead_code)]
        pub fn connect_record_out(r: $crate::ConnectRecord) -> $w::ConnectRecord {
            $w::ConnectRecord {
                topic: r.topic,
                partition: r.partition,
                offset: r.offset,
                key: r.key,
                value: r.value,
                headers: headers_out(r.headers),
                timestamp_ms: r.timestamp_ms,
            }
        }

        #[allow(dead_code)]
        pub fn descriptor_in(d: $w::Descriptor) -> $crate::Descriptor {
            $crate::Descriptor {
                name: d.name,
                version: d.version,
                kind: match d.kind {
                    $w::Kind::Source => $crate::Kind::Source,
                    $w::Kind::Sink => $crate::Kind::Sink,
                    $w::Kind::Transform => $crate::Kind::Transform,
                },
                config_schema: d.config_schema,
            }
        }

        #[allow(dead_code)]
        pub fn descriptor_out(d: $crate::Descriptor) -> $w::Descriptor {
            $w::Descriptor {
                name: d.name,
                version: d.version,
                kind: match d.kind {
                    $crate::Kind::Source => $w::Kind::Source,
                    $crate::Kind::Sink => $w::Kind::Sink,
                    $crate::Kind::Transform => $w::Kind::Transform,
                },
                config_schema: d.config_schema,
            }
        }
    };
}
