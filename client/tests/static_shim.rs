//! `ssoagent-cred` is statically linked on Linux/glibc (see build.rs): no program interpreter
//! and no shared library, read from the ELF file the way `readelf -d -l` shows them.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;

struct Elf {
    bytes: Vec<u8>,
}

impl Elf {
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes[at..at + 2].try_into().unwrap())
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    /// (type, file offset, file size) of every program header.
    fn program_headers(&self) -> Vec<(u32, usize, usize)> {
        assert_eq!(&self.bytes[..4], b"\x7fELF");
        assert_eq!(self.bytes[4], 2, "a 64-bit ELF");
        assert_eq!(self.bytes[5], 1, "little-endian");
        let (phoff, phentsize, phnum) = (
            self.u64(0x20) as usize,
            self.u16(0x36) as usize,
            self.u16(0x38) as usize,
        );
        (0..phnum)
            .map(|i| {
                let h = phoff + i * phentsize;
                (
                    self.u32(h),
                    self.u64(h + 8) as usize,
                    self.u64(h + 32) as usize,
                )
            })
            .collect()
    }

    /// The ELF type: 2 = EXEC, 3 = DYN (a PIE, static or not).
    fn kind(&self) -> u16 {
        self.u16(0x10)
    }

    /// How many DT_NEEDED entries the dynamic section has.
    fn needed(&self) -> usize {
        let mut n = 0;
        for (ty, off, size) in self.program_headers() {
            if ty != PT_DYNAMIC {
                continue;
            }
            for e in (off..off + size).step_by(16) {
                match self.u64(e) {
                    DT_NULL => break,
                    DT_NEEDED => n += 1,
                    _ => {}
                }
            }
        }
        n
    }
}

#[test]
fn the_shim_is_a_static_pie() {
    let path = env!("CARGO_BIN_EXE_ssoagent-cred");
    let elf = Elf {
        bytes: std::fs::read(path).unwrap(),
    };
    let interp = elf
        .program_headers()
        .iter()
        .filter(|(ty, ..)| *ty == PT_INTERP)
        .count();
    assert_eq!(
        interp, 0,
        "{path} asks for a program interpreter (linked dynamically; see client/build.rs and cargo's warnings)"
    );
    assert_eq!(elf.needed(), 0, "{path} needs shared libraries");
    assert_eq!(elf.kind(), 3, "{path} is position-independent");

    let out = std::process::Command::new(path)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ssoagent-cred "));
}
