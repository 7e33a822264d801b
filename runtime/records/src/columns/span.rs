//! Where a batch's byte strings lie in its one `data` buffer, and the helpers that put them
//! there and read them back.

use crate::Header;

/// Where one byte string lies in a batch's `data`: `len` bytes from `start`; `len == -1` is an
/// absent key or a null value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte in `data`.
    pub start: u32,
    /// Length in bytes, or -1 for none.
    pub len: i32,
}

impl Span {
    /// An absent key, or a null value.
    pub const NONE: Span = Span { start: 0, len: -1 };

    /// The bytes this span covers in `data`; `None` for [`Span::NONE`] or a span outside
    /// `data` (a malformed batch).
    pub fn get(self, data: &[u8]) -> Option<&[u8]> {
        let len = usize::try_from(self.len).ok()?;
        let start = self.start as usize;
        data.get(start..start.checked_add(len)?)
    }
}

/// A header of a batched record: key (UTF-8) and value, in the batch's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpan {
    /// Header key.
    pub key: Span,
    /// Header value.
    pub value: Span,
}

/// Appends `bytes` to `data`, returning where they went.
pub(crate) fn put(data: &mut Vec<u8>, bytes: Option<&[u8]>) -> Span {
    match bytes {
        None => Span::NONE,
        Some(b) => {
            let span = Span {
                start: data.len() as u32,
                len: b.len() as i32,
            };
            data.extend_from_slice(b);
            span
        }
    }
}

pub(crate) fn put_headers<'a>(
    data: &mut Vec<u8>,
    headers: &mut Vec<HeaderSpan>,
    items: impl Iterator<Item = (&'a [u8], &'a [u8])>,
) -> (u32, u32) {
    let start = headers.len();
    for (key, value) in items {
        let key = put(data, Some(key));
        let value = put(data, Some(value));
        headers.push(HeaderSpan { key, value });
    }
    (start as u32, (headers.len() - start) as u32)
}

/// The index of `topic` in `topics`, added if new.
pub(crate) fn intern(topics: &mut Vec<String>, topic: &str) -> usize {
    match topics.iter().rposition(|t| t == topic) {
        Some(i) => i,
        None => {
            topics.push(topic.to_string());
            topics.len() - 1
        }
    }
}

pub(crate) fn header_list(
    data: &[u8],
    headers: &[HeaderSpan],
    start: u32,
    len: u32,
) -> Vec<Header> {
    header_spans(headers, start, len)
        .iter()
        .map(|h| Header {
            key: String::from_utf8_lossy(h.key.get(data).unwrap_or_default()).into_owned(),
            value: h.value.get(data).unwrap_or_default().to_vec(),
        })
        .collect()
}

pub(crate) fn header_spans(headers: &[HeaderSpan], start: u32, len: u32) -> &[HeaderSpan] {
    let start = start as usize;
    headers
        .get(start..start.saturating_add(len as usize))
        .unwrap_or_default()
}

/// `a == b`, eight bytes at a time. Slice equality calls `memcmp`, which in a WebAssembly
/// guest is wasi-libc's byte-by-byte loop, once per record for the source partition.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tails = a8.remainder() == b8.remainder();
    tails
        && a8.zip(b8).all(|(x, y)| {
            u64::from_ne_bytes(x.try_into().unwrap()) == u64::from_ne_bytes(y.try_into().unwrap())
        })
}
