//! Windows: the daemon's end of the named pipe `\\.\pipe\ssoagent-<user>` — the counterpart of
//! the unix socket in server.rs, with the same guarantees: only the owner may connect (a DACL
//! granting access to the owner alone, in place of the peer-uid check), remote clients are
//! rejected, and `first_pipe_instance` makes a second daemon fail instead of sharing the name.
//!
//! NOT EXERCISED: these machines build and test Linux only; the rest of the daemon (signals,
//! file modes, core-dump hardening) is unix-only today, so a Windows build needs more than this
//! module.

use std::{
    ffi::c_void,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::windows::named_pipe::{NamedPipeServer, ServerOptions},
};
use tokio_stream::Stream;
use windows_sys::Win32::{
    Foundation::LocalFree,
    Security::{
        Authorization::ConvertStringSecurityDescriptorToSecurityDescriptorW, SECURITY_ATTRIBUTES,
    },
};

/// SDDL: protected DACL, generic-all for the owner (OW) only.
const OWNER_ONLY: &str = "D:P(A;;GA;;;OW)";

/// One accepted client connection.
pub struct PipeConn(NamedPipeServer);

impl tonic::transport::server::Connected for PipeConn {
    type ConnectInfo = ();
    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for PipeConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PipeConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

fn create(name: &str, first: bool) -> io::Result<NamedPipeServer> {
    let sddl: Vec<u16> = OWNER_ONLY.encode_utf16().chain(Some(0)).collect();
    let mut descriptor: *mut c_void = std::ptr::null_mut();
    // SAFETY: a NUL-terminated SDDL string; the descriptor is freed below.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut attrs = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    // SAFETY: attrs points at a valid descriptor for the duration of the call.
    let server = unsafe {
        ServerOptions::new()
            .first_pipe_instance(first)
            .reject_remote_clients(true)
            .create_with_security_attributes_raw(name, &mut attrs as *mut _ as *mut c_void)
    };
    // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
    unsafe { LocalFree(descriptor as _) };
    server
}

/// The incoming connections, for `serve_with_incoming_shutdown`. Fails at once if another
/// daemon owns the name.
pub fn incoming(name: String) -> io::Result<impl Stream<Item = io::Result<PipeConn>>> {
    let first = create(&name, true)?;
    Ok(async_stream::try_stream! {
        let mut server = first;
        loop {
            server.connect().await?;
            let next = create(&name, false)?;
            yield PipeConn(std::mem::replace(&mut server, next));
        }
    })
}
