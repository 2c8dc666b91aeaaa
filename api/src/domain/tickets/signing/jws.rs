//! The compact JWS form of a payload (RFC 7515, EdDSA over Ed25519 per RFC 8037):
//! `base64url(header) . base64url(claims) . base64url(signature)`, written and read here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::{Forged, TicketClaims};

/// Longest payload looked at: anything longer is not ours.
const MAX_PAYLOAD: usize = 1024;
/// The JWS header's `typ`, so that a payload is never mistaken for another kind of token.
const TYP: &str = "curtain-ticket";

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Header {
    alg: String,
    pub(super) kid: String,
    typ: String,
}

pub(super) fn sign_with(kid: &str, key: &SigningKey, claims: &TicketClaims) -> String {
    let header = Header {
        alg: "EdDSA".into(),
        kid: kid.into(),
        typ: TYP.into(),
    };
    let signed = format!("{}.{}", json_base64(&header), json_base64(claims));
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

pub(super) fn json_base64(value: &impl Serialize) -> String {
    // Plain structs of strings and integers always serialise.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

pub(super) struct Parts<'a> {
    pub(super) header: Header,
    signed: &'a str,
    claims: &'a str,
    signature: Signature,
}

impl Parts<'_> {
    pub(super) fn verify(&self, key: &VerifyingKey) -> Result<TicketClaims, Forged> {
        key.verify_strict(self.signed.as_bytes(), &self.signature)
            .map_err(|_| Forged::BadSignature)?;
        let claims = URL_SAFE_NO_PAD.decode(self.claims).map_err(|_| Forged::Malformed)?;
        serde_json::from_slice(&claims).map_err(|_| Forged::Malformed)
    }
}

/// The three parts of a payload, with its header read and checked: only EdDSA and our `typ`.
pub(super) fn split(payload: &str) -> Option<Parts<'_>> {
    let payload = payload.trim();
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let (signed, signature) = payload.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "EdDSA" || header.typ != TYP {
        return None;
    }
    Some(Parts {
        header,
        signed,
        claims,
        signature: decode_signature(signature)?,
    })
}

pub(super) fn decode_signature(text: &str) -> Option<Signature> {
    let bytes: [u8; 64] = URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

pub(super) fn decode_seed(text: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(text).ok()?.try_into().ok()
}
