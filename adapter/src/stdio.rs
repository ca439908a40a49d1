//! The adapter's standard input and output when they are pipes or sockets (as every DAP client spawns it):
//! read and written straight from the session's own thread, non-blocking, through the runtime's epoll.
//!
//! Why: `tokio::io::stdin()` reads on tokio's blocking pool and [`ThreadedStdout`](crate::stdout) writes
//! from a thread of its own, so each request in and each message out crossed threads, and on a small VM a
//! thread's wake-up is tens of microseconds. Here a `continue` read and the next `stopped` written cost
//! one system call each (measured with tests/dap/bench/passes.js, see docs/benchmarks.md). A terminal or a
//! file keeps the threaded paths: making a terminal non-blocking would change it for the shell as well.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A descriptor Orbit does not own (0 or 1): never closed here.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// `fd` in non-blocking mode under the runtime's watch, its flags put back when dropped.
struct Watched {
    fd: AsyncFd<Fd>,
    flags: libc::c_int,
}

impl Watched {
    /// `None` where `fd` is not a pipe or a socket.
    fn new(fd: RawFd, interest: Interest) -> io::Result<Option<Watched>> {
        // SAFETY: fstat and fcntl only read or set the flags of a descriptor this process has open.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Ok(None);
        }
        let kind = st.st_mode & libc::S_IFMT;
        if kind != libc::S_IFIFO && kind != libc::S_IFSOCK {
            return Ok(None);
        }
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: descriptors 0 and 1 stay open for the whole life of the process and are never closed or
        // replaced by Orbit, so they refer to the same file description as long as the AsyncFd lives.
        match unsafe { AsyncFd::register_with_interest(Fd(fd), interest) } {
            Ok(fd) => Ok(Some(Watched { fd, flags })),
            Err(e) => {
                unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
                Err(e.into())
            }
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { libc::fcntl(self.fd.get_ref().0, libc::F_SETFL, self.flags) };
    }
}

/// What `read(2)`/`write(2)` returned: the bytes moved, or the error `errno` holds.
fn byte_count(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Standard input as a pipe or socket.
pub struct PipeStdin(Watched);

impl PipeStdin {
    pub fn new() -> io::Result<Option<PipeStdin>> {
        Ok(Watched::new(0, Interest::READABLE)?.map(PipeStdin))
    }
}

impl AsyncRead for PipeStdin {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let fd = &self.get_mut().0.fd;
        loop {
            let mut guard = ready!(fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let read = guard.try_io(|inner| {
                // SAFETY: reads at most `unfilled.len()` bytes into memory `unfilled` owns.
                byte_count(unsafe { libc::read(inner.get_ref().0, unfilled.as_mut_ptr().cast(), unfilled.len()) })
            });
            match read {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Standard output as a pipe or socket.
pub struct PipeStdout(Watched);

impl PipeStdout {
    pub fn new() -> io::Result<Option<PipeStdout>> {
        Ok(Watched::new(1, Interest::WRITABLE)?.map(PipeStdout))
    }
}

impl AsyncWrite for PipeStdout {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = &self.get_mut().0.fd;
        loop {
            let mut guard = ready!(fd.poll_write_ready(cx))?;
            let written = guard.try_io(|inner| {
                // SAFETY: writes at most `buf.len()` bytes from `buf`.
                byte_count(unsafe { libc::write(inner.get_ref().0, buf.as_ptr().cast(), buf.len()) })
            });
            match written {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
