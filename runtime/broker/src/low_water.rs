//! The socket's receive low-water mark (`SO_RCVLOWAT`) while a large frame's body arrives.
//!
//! A client writes a produce request of a megabyte in many small writes: librdkafka writes
//! one TLS record (about 2 KB) at a time. On Linux each write that lands in a reader's
//! socket wakes the reader's epoll, and on loopback that wakeup is paid by the writer, in its
//! own system time. Once the frame's size is known, the broker knows how many bytes are still
//! to come, and lets the kernel wake it only when a good part of them is queued: fewer, larger
//! reads, and fewer wakeups for the client to pay for.
//!
//! Linux only: elsewhere a non-blocking read may not return bytes below the mark.
//!
//! The mark never asks for more than the frame still owes: bytes already above the socket (in
//! the connection's read buffer, or in rustls's record buffers, decrypted or not) are covered
//! by [`SLACK`]. The kernel also wakes the reader when the receive window is nearly full, and
//! a read takes whatever is queued (a non-blocking read does not wait for the mark), so a mark
//! set too high delays a read; it never loses one. Between frames the mark is 1, as a socket
//! starts: a small request is read the moment it lands. Nor does the mark change the
//! receive window: Linux grows a socket's receive buffer to fit a mark larger than it allows,
//! and clamps the window to the mark when it does, so a mark is at most an eighth of the
//! buffer the socket has.

use std::os::fd::{AsRawFd, RawFd};

/// The highest mark set: a quarter of a megabyte a wakeup.
const MAX_MARK: usize = 256 * 1024;

/// What may already sit above the socket when a mark is set: the connection's read buffer
/// (16 KiB), and rustls's buffers (a record's ciphertext being read, up to 18 KiB, and the
/// plaintext of the records decrypted and not yet taken, up to one read's worth).
const SLACK: usize = 128 * 1024;

/// Marks below this are not worth two system calls.
const MIN_MARK: usize = 32 * 1024;

/// The low-water mark of one connection's socket.
pub(crate) struct LowWater {
    /// `None` where no mark is set (a socket that is not a TCP one, or one it failed on).
    fd: Option<RawFd>,
    /// The mark now set.
    mark: usize,
    /// The mark last asked for, before the buffer's cap: the buffer is read only when it moves.
    wanted: usize,
    /// No mark for the rest of this frame (the frame stall timer found bytes held under it).
    paused: bool,
}

impl LowWater {
    /// The mark of `socket`, which must outlive every [`LowWater::expect`] call (the
    /// connection that owns the socket owns this too).
    pub(crate) fn of(socket: &impl AsRawFd) -> Self {
        LowWater {
            fd: cfg!(target_os = "linux").then(|| socket.as_raw_fd()),
            mark: 1,
            wanted: 1,
            paused: false,
        }
    }

    /// `remaining` bytes of the frame now being read are not yet in hand.
    pub(crate) fn expect(&mut self, remaining: usize) {
        let wanted = mark_for(remaining);
        if self.paused || wanted == self.wanted {
            return;
        }
        self.wanted = wanted;
        if wanted == 1 {
            return self.set(1);
        }
        // The buffer grows as the kernel tunes it: read it each time the mark moves. An eighth
        // of it leaves the kernel room however it accounts for a packet's overhead.
        let mark = match self.option(libc::SO_RCVBUF) {
            Some(buffer) => wanted.min(buffer / 8),
            None => 1,
        };
        self.set(if mark < MIN_MARK { 1 } else { mark });
    }

    /// No mark for the rest of this frame: the bytes held under it are read now. Lowering the
    /// mark wakes the reader only if the mark stays low until it reads (epoll checks
    /// readiness again as it reports), so it stays low until [`LowWater::reset`].
    pub(crate) fn pause(&mut self) {
        self.set(1);
        self.paused = true;
    }

    /// Bytes that arrived and wait under the mark, unread: a client that trickles a frame in
    /// slower than the mark fills is still sending (the frame stall timer asks this before it
    /// closes a connection).
    pub(crate) fn held(&mut self) -> bool {
        let Some(fd) = self.fd.filter(|_| self.mark > 1) else {
            return false;
        };
        let mut queued: libc::c_int = 0;
        // SAFETY: as in `set_option`; FIONREAD writes one c_int.
        let result = unsafe { libc::ioctl(fd, libc::FIONREAD, &raw mut queued) };
        result == 0 && queued > 0
    }

    /// The frame is read: wake at the next byte again.
    pub(crate) fn reset(&mut self) {
        self.set(1);
        (self.wanted, self.paused) = (1, false);
    }

    /// A socket option's value, `None` if the socket refused to tell.
    fn option(&self, name: libc::c_int) -> Option<usize> {
        let fd = self.fd?;
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: as in `set_option`; `value` and `len` are valid for the call.
        let result = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        (result == 0).then_some(value.max(0) as usize)
    }

    fn set(&mut self, mark: usize) {
        let Some(fd) = self.fd else { return };
        if mark == self.mark {
            return;
        }
        match set_option(fd, libc::SO_RCVLOWAT, mark as libc::c_int) {
            Ok(()) => self.mark = mark,
            Err(error) => {
                // Nothing is lost without the mark; stop trying on this socket.
                tracing::debug!(%error, "SO_RCVLOWAT refused");
                self.fd = None;
            }
        }
    }
}

/// Sets a socket-level option that takes a c_int. `fd` must be an open socket (the
/// connection's, while it is served; see [`LowWater::of`]).
fn set_option(fd: RawFd, name: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: `fd` is an open socket (above); the value is a c_int, as `name` takes.
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match result {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The mark for a frame with `remaining` bytes not yet in hand: what certainly still has to
/// cross the socket, rounded down to 64 KiB steps (so a mark is set a few times a frame, not
/// at every read), at most [`MAX_MARK`]; 1 where that is too little to matter.
fn mark_for(remaining: usize) -> usize {
    let owed = remaining.saturating_sub(SLACK) & !(64 * 1024 - 1);
    match owed.min(MAX_MARK) {
        m if m < MIN_MARK => 1,
        m => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_never_exceeds_what_the_frame_still_owes_past_the_buffers() {
        for remaining in (0..4 * 1024 * 1024).step_by(997) {
            let mark = mark_for(remaining);
            assert!(
                mark == 1 || mark + SLACK <= remaining,
                "{remaining}: {mark}"
            );
            assert!(mark <= MAX_MARK);
        }
    }

    #[test]
    fn small_frames_and_frame_ends_wake_at_every_byte() {
        assert_eq!(mark_for(0), 1);
        assert_eq!(mark_for(100), 1);
        assert_eq!(mark_for(SLACK + 1000), 1);
        assert_eq!(mark_for(SLACK + 64 * 1024), 64 * 1024);
        assert_eq!(mark_for(1024 * 1024), MAX_MARK);
    }

    /// Grows a socket's receive buffer as a busy connection's grows (a new socket's, 128 KiB,
    /// caps the mark below [`MIN_MARK`]).
    #[cfg(target_os = "linux")]
    fn grow_buffer(socket: &impl AsRawFd) {
        set_option(socket.as_raw_fd(), libc::SO_RCVBUF, 4 * 1024 * 1024).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_real_socket_takes_the_mark_and_a_read_still_returns_what_is_queued() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        grow_buffer(&server);
        let mut mark = LowWater::of(&server);
        let buffer = mark.option(libc::SO_RCVBUF).unwrap();
        mark.expect(1024 * 1024);
        assert!(mark.mark > 1, "the kernel refused SO_RCVLOWAT");
        assert!(
            mark.mark <= MAX_MARK.min(buffer / 8),
            "{} against a buffer of {buffer}",
            mark.mark
        );
        assert_eq!(
            mark.option(libc::SO_RCVLOWAT),
            Some(mark.mark),
            "the socket holds the mark"
        );
        assert_eq!(
            mark.option(libc::SO_RCVBUF),
            Some(buffer),
            "the buffer did not move"
        );
        client.write_all(b"hello").unwrap();
        server.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        // A non-blocking read takes the 5 queued bytes though the mark is far above them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let n = loop {
            match server.read(&mut buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no bytes arrived");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hello");
        client.write_all(b"more").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !mark.held() {
            assert!(std::time::Instant::now() < deadline, "held bytes not seen");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        mark.reset();
        assert_eq!(mark.option(libc::SO_RCVLOWAT), Some(1));
        assert!(!mark.held(), "without a mark nothing is held back");
    }

    /// The stall timer's way out: bytes held under the mark wake a reader that waits in
    /// tokio (epoll, edge-triggered) once the mark is paused, and the mark stays paused.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_paused_mark_wakes_the_reader_for_the_bytes_it_held() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut mark = LowWater::of(&server);
        grow_buffer(&server);
        // As the server reads: a frame's size first, at any byte.
        let mut buf = [0u8; 200];
        client.write_all(&[0, 1, 0, 0]).await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);
        mark.expect(1024 * 1024);
        assert!(mark.mark >= MIN_MARK, "mark {}", mark.mark);
        client.write_all(&[7u8; 100]).await.unwrap();
        let wait = std::time::Duration::from_millis(300);
        let early = tokio::time::timeout(wait, server.read(&mut buf)).await;
        assert!(
            early.is_err(),
            "100 bytes woke a reader whose mark is {}: {early:?}",
            mark.mark
        );
        assert!(mark.held());
        mark.pause();
        mark.expect(1024 * 1024); // the frame loop asks again before it reads: no effect now
        assert_eq!(mark.option(libc::SO_RCVLOWAT), Some(1));
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), server.read(&mut buf))
            .await
            .expect("the held bytes never woke the reader")
            .unwrap();
        assert_eq!(n, 100);
        mark.reset();
        mark.expect(1024 * 1024);
        assert!(mark.mark > 1, "a new frame sets the mark again");
    }
}
