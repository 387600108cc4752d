//! MFA for AssumeRole: roles named in [`Config::mfa_roles`](crate::Config) are assumed only
//! with `SerialNumber` = the emulated device's serial and a `TokenCode` that is that device's
//! TOTP code (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) for the current step or one step
//! either side, each code accepted once, as AWS does.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sha1::{Digest, Sha1};

use crate::Config;

/// The emulated device's serial (an IAM virtual MFA device of the SSO role's account).
pub const DEFAULT_MFA_SERIAL: &str = "arn:aws:iam::111111111111:mfa/tester";
/// Its TOTP secret: RFC 6238's SHA-1 test secret.
pub const DEFAULT_MFA_SECRET: &[u8] = b"12345678901234567890";
/// TOTP time step.
const STEP: u64 = 30;

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha1::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha1::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The 6-digit HOTP code (RFC 4226) of `secret` for `counter`.
pub fn hotp(secret: &[u8], counter: u64) -> String {
    let h = hmac_sha1(secret, &counter.to_be_bytes());
    let off = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The TOTP step of `t`.
pub fn step(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / STEP
}

/// The TOTP code (RFC 6238) of `secret` at time `t`.
pub fn totp(secret: &[u8], t: SystemTime) -> String {
    hotp(secret, step(t))
}

/// Why an AssumeRole of an MFA-protected role is refused: `(missing, message)`; `missing`
/// when no MFA was presented at all (AWS then answers as for any role the caller may not
/// assume).
pub(crate) fn check(
    config: &Config,
    used: &mut HashMap<String, u64>,
    serial: Option<&str>,
    code: Option<&str>,
    now: SystemTime,
) -> Result<(), (bool, &'static str)> {
    let (Some(serial), Some(code)) = (serial, code) else {
        return Err((true, ""));
    };
    if serial != config.mfa_serial {
        return Err((
            false,
            "MultiFactorAuthentication failed, unable to validate MFA code.",
        ));
    }
    let now = step(now);
    let matched = [now.saturating_sub(1), now, now + 1]
        .into_iter()
        .find(|&c| hotp(&config.mfa_secret, c) == code);
    let Some(counter) = matched else {
        return Err((
            false,
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
        ));
    };
    // A code is spent once used: the same or an older step is refused.
    if used.get(serial).is_some_and(|&last| counter <= last) {
        return Err((
            false,
            "MultiFactorAuthentication failed, unable to validate MFA code.",
        ));
    }
    used.insert(serial.to_string(), counter);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, the last 6 of the 8 digits.
        for (t, code) in [
            (59u64, "287082"),
            (1111111109, "081804"),
            (2000000000, "279037"),
        ] {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(t);
            assert_eq!(totp(DEFAULT_MFA_SECRET, at), code, "t={t}");
        }
    }

    #[test]
    fn codes_are_checked_and_spent() {
        let c = Config::default();
        let now = SystemTime::now();
        let mut used = HashMap::new();
        let code = totp(&c.mfa_secret, now);
        let serial = Some(c.mfa_serial.as_str());
        assert_eq!(check(&c, &mut used, None, None, now), Err((true, "")));
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert!(check(&c, &mut used, serial, Some(wrong), now).is_err());
        assert!(
            check(
                &c,
                &mut used,
                Some("arn:aws:iam::1:mfa/x"),
                Some(&code),
                now
            )
            .is_err()
        );
        assert_eq!(check(&c, &mut used, serial, Some(&code), now), Ok(()));
        assert!(
            check(&c, &mut used, serial, Some(&code), now).is_err(),
            "replayed"
        );
    }
}
