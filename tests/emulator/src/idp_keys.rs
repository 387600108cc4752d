//! The emulated IdP's signing keys (one RSA 2048 and one EC P-256, generated at first use
//! with aws-lc-rs, plus a "rogue" RSA key that is never published), JWT signing (RS256 and
//! ES256) and verification against the published keys (for STS and Cognito).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

pub(crate) const RSA_KID: &str = "emu-rsa-1";
pub(crate) const EC_KID: &str = "emu-ec-1";
/// The key id of the key that signs when `sign_with_unknown_key` is on (not in the JWKS).
pub(crate) const ROGUE_KID: &str = "emu-rogue";

pub(crate) struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
    rogue: RsaKeyPair,
}

/// Which key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningKey {
    Rsa,
    Ec,
    /// An RSA key that is not in the JWKS (its kid is unknown there).
    Rogue,
    /// The RSA key, but the token is signed as if it were the EC key's kid: a bad signature.
    Mislabelled,
}

impl Keys {
    pub fn generate() -> Keys {
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        Keys {
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
            ec: EcdsaKeyPair::generate(alg).expect("EC key"),
            rogue: RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"),
        }
    }

    /// The JWKS document: the RSA and EC public keys.
    pub fn jwks(&self) -> Value {
        let rsa = RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key());
        let point = self.ec.public_key().as_ref();
        // Uncompressed SEC1: 0x04 || x || y.
        let (x, y) = point[1..].split_at(32);
        json!({"keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": RSA_KID,
             "n": B64.encode(&rsa.n), "e": B64.encode(&rsa.e)},
            {"kty": "EC", "use": "sig", "alg": "ES256", "kid": EC_KID, "crv": "P-256",
             "x": B64.encode(x), "y": B64.encode(y)},
        ]})
    }

    /// A compact JWS of `claims`.
    pub fn sign(&self, key: SigningKey, claims: &Value) -> String {
        let (alg, kid) = match key {
            SigningKey::Rsa => ("RS256", RSA_KID),
            SigningKey::Ec => ("ES256", EC_KID),
            SigningKey::Rogue => ("RS256", ROGUE_KID),
            SigningKey::Mislabelled => ("RS256", RSA_KID),
        };
        let header = json!({"alg": alg, "typ": "JWT", "kid": kid});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let sig = match key {
            SigningKey::Ec => self
                .ec
                .sign(&rng, input.as_bytes())
                .expect("EC sign")
                .as_ref()
                .to_vec(),
            SigningKey::Rsa | SigningKey::Rogue | SigningKey::Mislabelled => {
                let kp = match key {
                    SigningKey::Rsa => &self.rsa,
                    _ => &self.rogue,
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut sig,
                )
                .expect("RSA sign");
                sig
            }
        };
        format!("{input}.{}", B64.encode(sig))
    }

    /// The claims of `token` if its signature verifies with a published key (by kid).
    pub fn verify(&self, token: &str) -> Result<Value, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT".into());
        };
        let decode = |x: &str| B64.decode(x).map_err(|_| "bad base64url".to_string());
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|e| e.to_string())?;
        let sig = decode(s)?;
        let input = format!("{h}.{p}");
        let ok = match (header["alg"].as_str(), header["kid"].as_str()) {
            (Some("RS256"), Some(RSA_KID)) => {
                RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public_key())
                    .verify(
                        &signature::RSA_PKCS1_2048_8192_SHA256,
                        input.as_bytes(),
                        &sig,
                    )
                    .is_ok()
            }
            (Some("ES256"), Some(EC_KID)) => signature::UnparsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                self.ec.public_key().as_ref(),
            )
            .verify(input.as_bytes(), &sig)
            .is_ok(),
            _ => return Err("the token's key is not in the IdP's JWKS".into()),
        };
        if !ok {
            return Err("the token's signature does not verify".into());
        }
        serde_json::from_slice(&decode(p)?).map_err(|e| e.to_string())
    }
}
