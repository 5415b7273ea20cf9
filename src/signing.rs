//! Huawei Cloud's `SDK-HMAC-SHA256` request signature (what the official DAS SDKs send instead of
//! a token), verified by recomputing it. Pure: no I/O, no clock; the caller supplies the secret
//! key, the body's hash and the current time. Verification comes in two steps so that a server
//! can refuse a stale or malformed signature before it reads the body: [`check_freshness`] on the
//! headers alone, then [`check_signature`] once the body's hash is known.

pub mod replay;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::PrimitiveDateTime;
use time::macros::format_description;

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The `X-Sdk-Content-Sha256` value that leaves the body out of the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The parts of an `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    pub access: String,
    /// Lowercase header names, as signed, in their order.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Why a signature was refused; each names the part that failed, never the expected value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Authorization header is not an SDK-HMAC-SHA256 signature")]
    Malformed,
    #[error("the signed headers must include host and x-sdk-date")]
    MissingSignedHeader,
    #[error("X-Sdk-Date is missing or not in YYYYMMDDTHHMMSSZ form")]
    BadDate,
    #[error("X-Sdk-Date is too far from the server's time")]
    StaleDate,
    #[error("the signature does not match the request")]
    Mismatch,
}

impl SignatureHeader {
    pub fn parse(value: &str) -> Result<Self, SignatureError> {
        let rest = value
            .trim()
            .strip_prefix(ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or(SignatureError::Malformed)?;
        let (mut access, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match k.trim() {
                "Access" => access = Some(v.trim().to_owned()),
                "SignedHeaders" => {
                    signed = Some(
                        v.trim()
                            .split(';')
                            .map(|h| h.trim().to_ascii_lowercase())
                            .collect::<Vec<_>>(),
                    )
                }
                "Signature" => signature = Some(v.trim().to_ascii_lowercase()),
                _ => return Err(SignatureError::Malformed),
            }
        }
        match (access, signed, signature) {
            (Some(a), Some(h), Some(s))
                if !a.is_empty() && !s.is_empty() && h.iter().all(|x| !x.is_empty()) =>
            {
                Ok(Self {
                    access: a,
                    signed_headers: h,
                    signature: s,
                })
            }
            _ => Err(SignatureError::Malformed),
        }
    }
}

/// What a signature says of the body: its SHA-256, or nothing (`UNSIGNED-PAYLOAD`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadHash {
    Unsigned,
    Sha256([u8; 32]),
}

impl PayloadHash {
    /// The hash of a whole body (a server that streams the body hashes it as it comes instead).
    pub fn of(body: &[u8]) -> Self {
        Self::Sha256(Sha256::digest(body).into())
    }

    /// Whether an `X-Sdk-Content-Sha256` value asks for the body to be left unsigned.
    pub fn declared_unsigned(content_sha256: Option<&str>) -> bool {
        content_sha256.is_some_and(|v| v.trim() == UNSIGNED_PAYLOAD)
    }

    fn canonical(&self) -> String {
        match self {
            Self::Unsigned => UNSIGNED_PAYLOAD.to_owned(),
            Self::Sha256(hash) => hex::encode(hash),
        }
    }
}

/// A request as the signer saw it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header lookup by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub payload: PayloadHash,
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` → byte; anything else is kept as it is (a lone `%` too).
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// RFC 3986 unreserved characters stay; everything else becomes `%XX` (uppercase hex).
fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|seg| encode(&percent_decode(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            // `+` is a space in form encoding, which the SDK never sends unencoded.
            let dec = |x: &str| encode(&percent_decode(&x.replace('+', "%20")));
            (dec(k), dec(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn canonical_request(req: &SignedRequest<'_>, signed_headers: &[String]) -> String {
    let mut headers = String::new();
    for name in signed_headers {
        let value = (req.header)(name).unwrap_or_default();
        headers.push_str(name);
        headers.push(':');
        headers.push_str(value.trim());
        headers.push('\n');
    }
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        headers,
        signed_headers.join(";"),
        req.payload.canonical()
    )
}

pub fn string_to_sign(date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{date}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn mac(secret: &[u8], msg: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(msg.as_bytes());
    mac
}

pub fn sign(secret: &str, string_to_sign: &str) -> String {
    hex::encode(
        mac(secret.as_bytes(), string_to_sign)
            .finalize()
            .into_bytes(),
    )
}

/// Parses `X-Sdk-Date` into Unix seconds.
pub fn parse_sdk_date(value: &str) -> Result<i64, SignatureError> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(value.trim(), &fmt)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| SignatureError::BadDate)
}

/// The checks that need no body: the signed headers include `host` and `x-sdk-date`, and the
/// date (`X-Sdk-Date`, as sent) is within `max_skew_secs` of `now_unix`. Returns the date in Unix
/// seconds.
pub fn check_freshness(
    auth: &SignatureHeader,
    date: Option<&str>,
    now_unix: i64,
    max_skew_secs: i64,
) -> Result<i64, SignatureError> {
    if !auth.signed_headers.iter().any(|h| h == "host")
        || !auth.signed_headers.iter().any(|h| h == "x-sdk-date")
    {
        return Err(SignatureError::MissingSignedHeader);
    }
    let at = parse_sdk_date(date.ok_or(SignatureError::BadDate)?)?;
    if (now_unix - at).abs() > max_skew_secs {
        return Err(SignatureError::StaleDate);
    }
    Ok(at)
}

/// Recomputes the signature of `req` with `secret` and compares it in constant time. Returns the
/// signature's bytes: the same bytes mean the same request signed at the same second.
pub fn check_signature(
    req: &SignedRequest<'_>,
    auth: &SignatureHeader,
    secret: &str,
) -> Result<[u8; 32], SignatureError> {
    let expected: [u8; 32] = hex::decode(&auth.signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SignatureError::Mismatch)?;
    let date = (req.header)("x-sdk-date").ok_or(SignatureError::BadDate)?;
    let sts = string_to_sign(date.trim(), &canonical_request(req, &auth.signed_headers));
    mac(secret.as_bytes(), &sts)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)?;
    Ok(expected)
}

#[cfg(test)]
mod tests;
