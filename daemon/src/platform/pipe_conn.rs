//! Windows: one accepted pipe client, with the [`Caller`] identified at accept time
//! (`platform::windows::incoming`) as its connect info.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::windows::named_pipe::NamedPipeServer,
};

use crate::caller::Caller;

/// What the interceptor reads from the request's extensions: the client process, or `None`
/// when the system could not say who it is (then the request is refused).
#[derive(Clone, Copy, Debug)]
pub struct PipeClient(pub Option<Caller>);

/// One accepted client connection.
pub struct PipeConn {
    pipe: NamedPipeServer,
    caller: Option<Caller>,
}

impl PipeConn {
    pub fn new(pipe: NamedPipeServer, caller: Option<Caller>) -> Self {
        Self { pipe, caller }
    }
}

impl tonic::transport::server::Connected for PipeConn {
    type ConnectInfo = PipeClient;
    fn connect_info(&self) -> Self::ConnectInfo {
        PipeClient(self.caller)
    }
}

impl AsyncRead for PipeConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().pipe).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().pipe).poll_shutdown(cx)
    }
}
