//! Huawei Cloud's `SDK-HMAC-SHA256` request signature (what the official DAS SDKs send instead of
//! a token), verified by recomputing it. Pure: no I/O, no clock; the caller supplies the secret
//! key and the current time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use time::PrimitiveDateTime;
use time::macros::format_description;

pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// How far `X-Sdk-Date` may be from the server's clock (the API gateway's rule).
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

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
    #[error("X-Sdk-Date is more than 15 minutes from the server's time")]
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

/// A request as the signer saw it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded), without the query.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header lookup by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
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
    let payload = match (req.header)("x-sdk-content-sha256") {
        Some(v) if v.trim() == "UNSIGNED-PAYLOAD" => "UNSIGNED-PAYLOAD".to_owned(),
        _ if req.body.is_empty() => EMPTY_SHA256.to_owned(),
        _ => hex::encode(Sha256::digest(req.body)),
    };
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.to_ascii_uppercase(),
        canonical_uri(req.path),
        canonical_query(req.query),
        headers,
        signed_headers.join(";"),
        payload
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

/// Checks the date, then the signature in constant time.
pub fn verify(
    req: &SignedRequest<'_>,
    auth: &SignatureHeader,
    secret: &str,
    now_unix: i64,
) -> Result<(), SignatureError> {
    if !auth.signed_headers.iter().any(|h| h == "host")
        || !auth.signed_headers.iter().any(|h| h == "x-sdk-date")
    {
        return Err(SignatureError::MissingSignedHeader);
    }
    let date = (req.header)("x-sdk-date").ok_or(SignatureError::BadDate)?;
    let at = parse_sdk_date(&date)?;
    if (now_unix - at).abs() > MAX_SKEW_SECONDS {
        return Err(SignatureError::StaleDate);
    }
    let expected = hex::decode(&auth.signature).map_err(|_| SignatureError::Mismatch)?;
    let sts = string_to_sign(date.trim(), &canonical_request(req, &auth.signed_headers));
    mac(secret.as_bytes(), &sts)
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests;
