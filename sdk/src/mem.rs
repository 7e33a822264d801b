//! `memcmp` for components. wasi-libc's compares one byte at a time, and every slice or string
//! comparison in a connector ends there (Parquet's dictionary lookups compare whole values
//! with it: 18% of lake-sink's time). These compare eight or sixteen bytes at a time; a strong
//! definition here is linked instead of libc's (in components only: natively, libc's
//! is used and this one only runs in its tests).

/// Reads 8 bytes at `p + i`.
///
/// # Safety
/// `p + i .. p + i + 8` must be readable.
#[inline(always)]
unsafe fn word(p: *const u8, i: usize) -> u64 {
    // SAFETY: the caller's contract.
    unsafe { (p.add(i) as *const u64).read_unaligned() }
}

/// The sign of the first byte that differs between two little-endian words that differ.
#[inline(always)]
fn first_difference(x: u64, y: u64) -> i32 {
    let shift = (x ^ y).trailing_zeros() & !7;
    i32::from((x >> shift) as u8) - i32::from((y >> shift) as u8)
}

/// Compares `n` bytes at `a` and `b`: negative, zero or positive as in C.
///
/// # Safety
/// `a` and `b` must be valid for reads of `n` bytes.
#[cfg_attr(target_arch = "wasm32", unsafe(no_mangle))]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n < 8 {
        for i in 0..n {
            // SAFETY: i < n.
            let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
            if x != y {
                return i32::from(x) - i32::from(y);
            }
        }
        return 0;
    }
    let mut i = 0;
    // Sixteen bytes a step while they are equal (Parquet's statistics compare equal values).
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, and the caller guarantees n readable bytes at both.
        let (x0, y0, x1, y1) = unsafe { (word(a, i), word(b, i), word(a, i + 8), word(b, i + 8)) };
        if (x0 ^ y0) | (x1 ^ y1) != 0 {
            return if x0 != y0 {
                first_difference(x0, y0)
            } else {
                first_difference(x1, y1)
            };
        }
        i += 16;
    }
    while i + 8 <= n {
        // SAFETY: i + 8 <= n.
        let (x, y) = unsafe { (word(a, i), word(b, i)) };
        if x != y {
            return first_difference(x, y);
        }
        i += 8;
    }
    if i == n {
        return 0;
    }
    // The last 8 bytes, overlapping ones already found equal.
    // SAFETY: n >= 8.
    let (x, y) = unsafe { (word(a, n - 8), word(b, n - 8)) };
    if x == y { 0 } else { first_difference(x, y) }
}

/// `bcmp`: whether `n` bytes at `a` and `b` differ (LLVM calls it for equality tests, such as
/// every `==` of strings and slices). Sixteen bytes a step, and the tail as one overlapping
/// load rather than byte by byte.
///
/// # Safety
/// As [`memcmp`].
#[cfg_attr(target_arch = "wasm32", unsafe(no_mangle))]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY (every read below): each range lies within the first n bytes.
    let differ = unsafe {
        if n >= 16 {
            let mut i = 0;
            while i + 16 <= n {
                if (word(a, i) ^ word(b, i)) | (word(a, i + 8) ^ word(b, i + 8)) != 0 {
                    return 1;
                }
                i += 16;
            }
            i != n && (word(a, n - 16) ^ word(b, n - 16)) | (word(a, n - 8) ^ word(b, n - 8)) != 0
        } else if n >= 8 {
            (word(a, 0) ^ word(b, 0)) | (word(a, n - 8) ^ word(b, n - 8)) != 0
        } else if n >= 4 {
            let half = |p: *const u8, i: usize| (p.add(i) as *const u32).read_unaligned();
            (half(a, 0) ^ half(b, 0)) | (half(a, n - 4) ^ half(b, n - 4)) != 0
        } else {
            (0..n).any(|i| *a.add(i) != *b.add(i))
        }
    };
    i32::from(differ)
}

#[cfg(test)]
mod tests {
    #[test]
    fn orders_like_libc_at_every_length_and_position() {
        for n in 0..70 {
            let a: Vec<u8> = (0..n as u8).collect();
            // SAFETY: both slices hold n bytes.
            let same = a.clone();
            assert_eq!(unsafe { super::memcmp(a.as_ptr(), same.as_ptr(), n) }, 0);
            assert_eq!(unsafe { super::bcmp(a.as_ptr(), same.as_ptr(), n) }, 0);
            for at in 0..n {
                for delta in [1i16, -1, 200] {
                    let mut b = a.clone();
                    b[at] = (i16::from(b[at]) + delta).rem_euclid(256) as u8;
                    // SAFETY: as above.
                    let got = unsafe { super::memcmp(a.as_ptr(), b.as_ptr(), n) };
                    assert_eq!(
                        got.signum(),
                        a.cmp(&b) as i32,
                        "n {n} at {at} delta {delta}"
                    );
                    assert_ne!(unsafe { super::bcmp(a.as_ptr(), b.as_ptr(), n) }, 0);
                }
            }
        }
    }
}
