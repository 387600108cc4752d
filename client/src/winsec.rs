//! Windows: who a process runs as (its access token's user SID), the two ends of a named pipe,
//! and owner-only ACLs for files and directories. What `SO_PEERCRED`, uids and file modes do
//! on unix, for the pipe's peer checks (both ways) and the private files.

use std::{ffi::c_void, io, os::windows::io::RawHandle, path::Path};

use windows_sys::Win32::{
    Foundation::{CloseHandle, HANDLE, LocalFree},
    Security::{
        Authorization::{
            ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
        },
        DACL_SECURITY_INFORMATION, GetLengthSid, GetTokenInformation,
        PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SetFileSecurityW, TOKEN_QUERY,
        TOKEN_USER, TokenUser,
    },
    System::{
        Pipes::{GetNamedPipeClientProcessId, GetNamedPipeServerProcessId},
        Threading::{
            GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
        },
    },
};

/// A user's security identifier, as the bytes of its binary form.
#[derive(Clone, PartialEq, Eq)]
pub struct Sid(Vec<u8>);

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for Sid {
    /// `S-1-5-21-…`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: the bytes are a SID read from a token; `text` is freed below.
        let ok = unsafe { ConvertSidToStringSidW(self.0.as_ptr() as *mut c_void, &mut text) };
        if ok == 0 || text.is_null() {
            return f.write_str("S-?");
        }
        // SAFETY: a NUL-terminated UTF-16 string allocated by the call.
        let s = unsafe {
            let len = (0..).take_while(|&i| *text.add(i) != 0).count();
            String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
        };
        // SAFETY: allocated by ConvertSidToStringSidW.
        unsafe { LocalFree(text as _) };
        f.write_str(&s)
    }
}

/// Closes a handle when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: a handle we opened and nobody else closes.
        unsafe { CloseHandle(self.0) };
    }
}

fn check(ok: i32) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The user SID of a process's primary token.
fn token_user(process: HANDLE) -> io::Result<Sid> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: a valid process handle; `token` receives a handle closed by `Owned`.
    check(unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) })?;
    let token = Owned(token);
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, the needed length comes back in `len`.
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    if len == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64s keep the TOKEN_USER at the start of the buffer aligned.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` holds at least `len` bytes.
    check(unsafe {
        GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), len, &mut len)
    })?;
    // SAFETY: the call filled a TOKEN_USER whose SID points into `buf`.
    let sid = unsafe { (*(buf.as_ptr() as *const TOKEN_USER)).User.Sid };
    // SAFETY: a valid SID; its length bounds the bytes read.
    let bytes = unsafe {
        std::slice::from_raw_parts(sid as *const u8, GetLengthSid(sid) as usize).to_vec()
    };
    Ok(Sid(bytes))
}

/// The user this process runs as.
pub fn current_user() -> io::Result<Sid> {
    // SAFETY: the pseudo handle of this process needs no closing.
    token_user(unsafe { GetCurrentProcess() })
}

/// The user process `pid` runs as.
pub fn process_user(pid: u32) -> io::Result<Sid> {
    // SAFETY: plain call; a null handle is an error.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return Err(io::Error::last_os_error());
    }
    let h = Owned(h);
    token_user(h.0)
}

/// The pid of the process that created the server end of a connected pipe (client side).
pub fn pipe_server_pid(pipe: RawHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: a pipe handle the caller owns for the duration of the call.
    check(unsafe { GetNamedPipeServerProcessId(pipe as HANDLE, &mut pid) })?;
    Ok(pid)
}

/// The pid of the client of a connected pipe instance (server side).
pub fn pipe_client_pid(pipe: RawHandle) -> io::Result<u32> {
    let mut pid = 0u32;
    // SAFETY: as above.
    check(unsafe { GetNamedPipeClientProcessId(pipe as HANDLE, &mut pid) })?;
    Ok(pid)
}

/// A security descriptor from SDDL, freed when dropped.
pub struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    pub fn from_sddl(sddl: &str) -> io::Result<Self> {
        let wide: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a NUL-terminated string; `sd` is freed in Drop.
        check(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                1,
                &mut sd,
                std::ptr::null_mut(),
            )
        })?;
        Ok(Self(sd))
    }

    pub fn as_ptr(&self) -> *mut c_void {
        self.0
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.0 as _) };
    }
}

/// SDDL of a protected DACL with full access for `sid` alone (inherited by children of a
/// directory): no group, no Everyone, no inheritance from the parent.
pub fn owner_only_sddl(sid: &Sid, dir: bool) -> String {
    let inherit = if dir { "OICI" } else { "" };
    format!("D:P(A;{inherit};FA;;;{sid})")
}

/// Replaces the DACL of `path` with one granting this user alone full access.
pub fn restrict_to_owner(path: &Path, dir: bool) -> io::Result<()> {
    let sd = Descriptor::from_sddl(&owner_only_sddl(&current_user()?, dir))?;
    let wide: Vec<u16> = path
        .as_os_str()
        .to_string_lossy()
        .encode_utf16()
        .chain(Some(0))
        .collect();
    // SAFETY: a NUL-terminated path and a valid descriptor.
    check(unsafe {
        SetFileSecurityW(
            wide.as_ptr(),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            sd.as_ptr(),
        )
    })
}

/// The user name for the default pipe: `%USERNAME%`, else `user`.
pub fn user_name() -> String {
    std::env::var("USERNAME")
        .ok()
        .filter(|u| !u.is_empty() && !u.contains('\\'))
        .unwrap_or_else(|| "user".into())
}
