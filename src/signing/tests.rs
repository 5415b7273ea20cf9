//! The test vectors of `das-reference.md` §7 (computed with the SDK's own signer), then
//! canonicalisation edge cases.

use super::*;

const AK: &str = "AKTESTVECTOR0000000";
const SK: &str = "SKTESTVECTOR0000000000000000000000000000";
const DATE: &str = "20240101T000000Z";
const PROJECT: &str = "054e292c9880d4992f02c0196d3ea468";

fn headers(name: &str) -> Option<String> {
    match name {
        "content-type" => Some("application/json".into()),
        "host" => Some("das.example.local".into()),
        "x-project-id" => Some(PROJECT.into()),
        "x-sdk-date" => Some(DATE.into()),
        _ => None,
    }
}

fn signed() -> Vec<String> {
    ["content-type", "host", "x-project-id", "x-sdk-date"]
        .map(String::from)
        .to_vec()
}

fn sign_request(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let req = SignedRequest {
        method,
        path,
        query,
        header: &headers,
        payload: PayloadHash::of(body),
    };
    sign(
        SK,
        &string_to_sign(DATE, &canonical_request(&req, &signed())),
    )
}

#[test]
fn the_sdk_vector_for_a_kill_session_delete() {
    let body = br#"{"db_user_id": "2c250598-1e3c-4d31-bc19-be1d866247e6", "process_ids": ["11212", "3423222"]}"#;
    assert_eq!(
        hex::encode(Sha256::digest(body)),
        "d89c9511d4a65c20a97a9f2adfa9bd7c272144862a94e5665b730a40db58fe94"
    );
    let path = format!("/v3/{PROJECT}/instances/da304cd5bbb944de828759bc7be3d3fein01/process");
    assert_eq!(
        sign_request("DELETE", &path, "", body),
        "9a95f710aa1e5378e8d5ba34f506cf8e14a38301124694c3503695eb374a9141"
    );
}

#[test]
fn the_sdk_vector_for_a_list_processes_get() {
    let path = format!("/v3/{PROJECT}/instances/da304cd5bbb944de828759bc7be3d3fein01/processes");
    assert_eq!(
        sign_request(
            "GET",
            &path,
            "db_user_id=2c250598-1e3c-4d31-bc19-be1d866247e6&limit=10&offset=0",
            b""
        ),
        "c1d0e51f1d38912cab6a4322f280c9724a9d2f7de1e16d1a0e79169a2de18273"
    );
}

#[test]
fn the_huawei_doc_vector_for_the_hmac_step() {
    let sts = "SDK-HMAC-SHA256\n20191115T033655Z\nb25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a";
    assert_eq!(
        sign("MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", sts),
        "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
    );
}

/// Both steps, as a server runs them: the date, then the signature.
fn verify(
    req: &SignedRequest<'_>,
    auth: &SignatureHeader,
    secret: &str,
    now: i64,
) -> Result<[u8; 32], SignatureError> {
    check_freshness(auth, (req.header)("x-sdk-date").as_deref(), now, 300)?;
    check_signature(req, auth, secret)
}

#[test]
fn verify_accepts_the_vector_and_names_each_failure() {
    let body = br#"{"db_user_id": "2c250598-1e3c-4d31-bc19-be1d866247e6", "process_ids": ["11212", "3423222"]}"#;
    let path = format!("/v3/{PROJECT}/instances/da304cd5bbb944de828759bc7be3d3fein01/process");
    let signature = "9a95f710aa1e5378e8d5ba34f506cf8e14a38301124694c3503695eb374a9141";
    let auth = SignatureHeader::parse(&format!(
        "SDK-HMAC-SHA256 Access={AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, \
         Signature={signature}"
    ))
    .unwrap();
    assert_eq!(auth.access, AK);
    let now = parse_sdk_date(DATE).unwrap();
    let req = SignedRequest {
        method: "DELETE",
        path: &path,
        query: "",
        header: &headers,
        payload: PayloadHash::of(body),
    };
    assert_eq!(
        verify(&req, &auth, SK, now + 60).map(hex::encode),
        Ok(signature.to_owned()),
        "the verified signature's bytes are returned"
    );
    assert_eq!(
        verify(&req, &auth, SK, now + 301),
        Err(SignatureError::StaleDate)
    );
    assert_eq!(
        verify(&req, &auth, SK, now - 301),
        Err(SignatureError::StaleDate)
    );
    assert_eq!(
        check_freshness(&auth, Some(DATE), now + 899, 900),
        Ok(now),
        "the window is the caller's"
    );
    assert_eq!(
        verify(&req, &auth, "wrong-secret", now),
        Err(SignatureError::Mismatch)
    );
    let tampered = SignedRequest {
        payload: PayloadHash::of(br#"{"db_user_id": "x"}"#),
        ..req
    };
    assert_eq!(
        verify(&tampered, &auth, SK, now),
        Err(SignatureError::Mismatch)
    );
    let unsigned = SignedRequest {
        payload: PayloadHash::Unsigned,
        ..req
    };
    assert_eq!(
        verify(&unsigned, &auth, SK, now),
        Err(SignatureError::Mismatch)
    );
    let other_path = SignedRequest {
        path: "/v3/other/instances/x/process",
        ..req
    };
    assert_eq!(
        verify(&other_path, &auth, SK, now),
        Err(SignatureError::Mismatch)
    );
    let mut no_host = auth.clone();
    no_host.signed_headers.retain(|h| h != "host");
    assert_eq!(
        verify(&req, &no_host, SK, now),
        Err(SignatureError::MissingSignedHeader)
    );
    let mut short = auth.clone();
    short.signature.truncate(62);
    assert_eq!(verify(&req, &short, SK, now), Err(SignatureError::Mismatch));
}

#[test]
fn the_hash_of_an_empty_body_is_the_sdks_constant() {
    assert_eq!(
        PayloadHash::of(b"").canonical(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert!(PayloadHash::declared_unsigned(Some(" UNSIGNED-PAYLOAD ")));
    assert!(!PayloadHash::declared_unsigned(Some("e3b0c442")));
    assert!(!PayloadHash::declared_unsigned(None));
}

#[test]
fn authorization_headers_parse_strictly() {
    for bad in [
        "",
        "Bearer x",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SHA256Access=a, SignedHeaders=host, Signature=00",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=00",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;;x, Signature=00",
        "SDK-HMAC-SHA256 Access=a, SignedHeaders=host, Signature=00, Extra=1",
    ] {
        assert_eq!(
            SignatureHeader::parse(bad),
            Err(SignatureError::Malformed),
            "{bad:?}"
        );
    }
    assert!(parse_sdk_date("2024-01-01T00:00:00Z").is_err());
    assert!(parse_sdk_date("20241301T000000Z").is_err());
}

#[test]
fn canonical_uris_re_encode_segments_and_end_with_a_slash() {
    assert_eq!(canonical_uri("/v3/p/instances"), "/v3/p/instances/");
    assert_eq!(canonical_uri("/v3/p/instances/"), "/v3/p/instances/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(canonical_uri("/a b/c%2fd/é"), "/a%20b/c%2Fd/%C3%A9/");
    assert_eq!(canonical_uri("/a%20b/~x_y.z-"), "/a%20b/~x_y.z-/");
    assert_eq!(canonical_uri("/100%/x"), "/100%25/x/");
}

#[test]
fn canonical_queries_sort_and_encode_reserved_characters() {
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1"), "a=1&b=2");
    assert_eq!(canonical_query("a=2&a=1"), "a=1&a=2");
    assert_eq!(canonical_query("k=a/b c"), "k=a%2Fb%20c");
    assert_eq!(canonical_query("k=a%2fb&e="), "e=&k=a%2Fb");
    assert_eq!(canonical_query("flag"), "flag=");
    assert_eq!(canonical_query("q=%E4%B8%AD+x"), "q=%E4%B8%AD%20x");
}

#[test]
fn header_values_are_trimmed_and_unsigned_payloads_honoured() {
    let spaced = |name: &str| match name {
        "host" => Some("  das.example.local  ".into()),
        "x-sdk-date" => Some(DATE.into()),
        _ => None,
    };
    let req = SignedRequest {
        method: "post",
        path: "/x",
        query: "",
        header: &spaced,
        payload: PayloadHash::Unsigned,
    };
    let cr = canonical_request(&req, &["host".into(), "x-sdk-date".into()]);
    assert_eq!(
        cr,
        format!(
            "POST\n/x/\n\nhost:das.example.local\nx-sdk-date:{DATE}\n\nhost;x-sdk-date\nUNSIGNED-PAYLOAD"
        )
    );
}
