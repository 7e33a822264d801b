//! One request frame decoded: the header, the [`crate::shape`] check, then the body. No I/O
//! and no broker, so the fuzz tests drive exactly what the server runs on every frame.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::{shape, versions};

/// A frame the broker will answer.
#[derive(Debug)]
pub(crate) enum Frame {
    /// A request of a served API and version.
    Request {
        header: RequestHeader,
        key: ApiKey,
        version: i16,
        request: Box<RequestKind>,
    },
    /// ApiVersions at a version we do not speak: KIP-511 says answer in v0 with
    /// UNSUPPORTED_VERSION and our version table, so the client can retry.
    UnsupportedApiVersions { correlation_id: i32 },
}

/// Why a frame closes its connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    #[error("frame of {0} bytes is too short for a request header")]
    Short(usize),
    #[error("unknown API key {0}")]
    UnknownKey(i16),
    #[error("unsupported API version {key:?} v{version}")]
    UnsupportedVersion { key: ApiKey, version: i16 },
    #[error("malformed request header ({key:?} v{version}): {reason}")]
    Header {
        key: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("request does not fit its layout ({key:?} v{version}): {error}")]
    Shape {
        key: ApiKey,
        version: i16,
        error: shape::ShapeError,
    },
    #[error("malformed request body ({key:?} v{version}): {reason}")]
    Body {
        key: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Decodes one frame (the bytes after its size prefix). Trailing bytes after the body are
/// ignored, as Kafka does.
pub(crate) fn decode(frame: &mut Bytes) -> Result<Frame, Refused> {
    if frame.len() < 8 {
        return Err(Refused::Short(frame.len()));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let key = ApiKey::try_from(api_key).map_err(|_| Refused::UnknownKey(api_key))?;
    let supported = versions::supported_versions(key);
    if supported.is_none_or(|(min, max)| version < min || version > max) {
        if key == ApiKey::ApiVersions {
            return Ok(Frame::UnsupportedApiVersions { correlation_id });
        }
        return Err(Refused::UnsupportedVersion { key, version });
    }
    let header =
        RequestHeader::decode(frame, key.request_header_version(version)).map_err(|e| {
            Refused::Header {
                key,
                version,
                reason: e.to_string(),
            }
        })?;
    // Counts and lengths are held against the frame before the decoder reserves memory for
    // them: a few bytes claiming two billion entries are refused instead of aborting the
    // process.
    shape::check(key, version, frame).map_err(|error| Refused::Shape {
        key,
        version,
        error,
    })?;
    let request = RequestKind::decode(key, frame, version).map_err(|e| Refused::Body {
        key,
        version,
        reason: e.to_string(),
    })?;
    if frame.has_remaining() {
        tracing::debug!(api = ?key, trailing = frame.remaining(), "ignoring trailing bytes after request body");
    }
    Ok(Frame::Request {
        header,
        key,
        version,
        request: Box::new(request),
    })
}
