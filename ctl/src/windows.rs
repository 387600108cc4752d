//! Windows: ending the daemon (no signals: `TerminateProcess` on the process the system names
//! as the pipe's server, already checked to run as this user) and recognising it by name.

use windows_sys::Win32::{
    Foundation::{CloseHandle, HANDLE},
    System::Threading::{
        OpenProcess, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE,
        QueryFullProcessImageNameW, TerminateProcess,
    },
};

fn open(pid: u32, access: u32) -> std::io::Result<HANDLE> {
    // SAFETY: plain call; a null handle is an error.
    let h = unsafe { OpenProcess(access, 0, pid) };
    if h.is_null() {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(h)
    }
}

/// Ends process `pid` (the daemon keeps nothing that needs a clean exit: its files are written
/// atomically, and the pipe and mutex go with the process).
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let h = open(pid, PROCESS_TERMINATE)?;
    // SAFETY: a handle opened above with PROCESS_TERMINATE, closed right after.
    let ok = unsafe { TerminateProcess(h, 0) };
    let err = std::io::Error::last_os_error();
    // SAFETY: as above.
    unsafe { CloseHandle(h) };
    if ok == 0 { Err(err) } else { Ok(()) }
}

/// A live process of this user whose executable is named `ssoagentd`.
pub fn is_our_daemon(pid: u32) -> bool {
    let same_user = ssoagent_client::winsec::process_user(pid).ok()
        == ssoagent_client::winsec::current_user().ok();
    let Ok(h) = open(pid, PROCESS_QUERY_LIMITED_INFORMATION) else {
        return false;
    };
    let mut buf = [0u16; 1024];
    let mut len = buf.len() as u32;
    // SAFETY: `buf` holds `len` UTF-16 units; the handle is closed right after.
    let ok =
        unsafe { QueryFullProcessImageNameW(h, PROCESS_NAME_WIN32, buf.as_mut_ptr(), &mut len) };
    // SAFETY: as above.
    unsafe { CloseHandle(h) };
    let image = String::from_utf16_lossy(&buf[..len as usize]);
    let named = image
        .rsplit(['\\', '/'])
        .next()
        .is_some_and(|n| n.to_ascii_lowercase().starts_with("ssoagentd"));
    same_user && ok != 0 && named
}
