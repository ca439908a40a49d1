//! The adapter's standard output, written by a thread of its own with one `write(2)` for what is ready.
//!
//! Why not `tokio::io::stdout()`: it hands every write to tokio's blocking pool and goes through std's
//! line-buffered `Stdout`, which splits each DAP message in two writes at the header's blank line, so
//! every event cost two hand-offs between threads (three events per breakpoint pass: about 0.8 ms at
//! the client, measured with tests/dap/bench/passes.js). Here a message is one channel send; the thread
//! writes everything queued at once, straight to file descriptor 1.

use std::fs::File;
use std::io::Write;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use tokio::io::AsyncWrite;

pub struct ThreadedStdout {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    failed: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadedStdout {
    pub fn new() -> std::io::Result<ThreadedStdout> {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let thread = std::thread::Builder::new().name("orbit-dap-stdout".into()).spawn(move || {
            // Not closed when the thread ends: the process may still print to it (a panic message).
            let mut out = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
            while let Ok(mut buf) = rx.recv() {
                while let Ok(more) = rx.try_recv() {
                    buf.extend_from_slice(&more);
                }
                if out.write_all(&buf).is_err() {
                    flag.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })?;
        Ok(ThreadedStdout { tx: Some(tx), failed, thread: Some(thread) })
    }

    fn closed() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client closed the adapter's standard output")
    }
}

impl AsyncWrite for ThreadedStdout {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.failed.load(Ordering::Relaxed) {
            return Poll::Ready(Err(Self::closed()));
        }
        match &self.tx {
            Some(tx) if tx.send(buf.to_vec()).is_ok() => Poll::Ready(Ok(buf.len())),
            _ => Poll::Ready(Err(Self::closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for ThreadedStdout {
    /// Everything sent is written before the adapter goes on to exit.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
