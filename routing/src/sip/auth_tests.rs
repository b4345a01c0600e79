//! Tests of the auth and auth_db modules: configuration text in, transmits out; the client
//! side of the digest (RFC 2617 §3.2.2) is computed here with `md-5`, independently of
//! `ferrosip_state::digest`.

use std::net::SocketAddr;

use ferrosip_parser::Proto;
use md5::{Digest, Md5};

use super::ctx_tests::SRC;
use super::Router;
use crate::api::{Inbound, Transmit};
use crate::cfg::Config;

const SECRET: &str = "bench-anchor-secret";

fn router(modules: &str, body: &str) -> Router {
    let modules = format!(
        "loadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"auth.so\"\n{modules}modparam(\"auth\", \"secret\", \"{SECRET}\")\n"
    );
    super::tm_tests::net_with(&modules, "test.cfg", body).r
}

fn handle(r: &mut Router, data: &str) -> Vec<Transmit> {
    let mut out = Vec::new();
    let inb = Inbound {
        data: data.as_bytes(),
        src: SRC.parse().unwrap(),
        local: 0,
        proto: Proto::Udp,
        conn: None,
    };
    r.handle(&inb, &mut out);
    out
}

fn text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.data).into_owned()
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of parameter `name` in a challenge header line.
fn param(line: &str, name: &str) -> Option<String> {
    let i = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[i..];
    let v = match rest.strip_prefix('"') {
        Some(q) => &q[..q.find('"')?],
        None => rest.split([',', '\r']).next()?,
    };
    Some(v.to_string())
}

fn register(user: &str, auth: Option<&str>) -> String {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.7:40000;branch=z9hG4bKreg1\r\n\
         From: <sip:{user}@127.0.0.1>;tag=f1\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: auth-test-1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:{user}@192.0.2.7:40000>\r\n\
         {auth}Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// `Digest ...` credentials for `user`/`password` against a challenge `line`, with
/// `qop=auth` when the challenge offers it.
fn answer(line: &str, user: &str, password: &str, method: &str, uri: &str) -> String {
    let realm = param(line, "realm").expect("realm");
    let nonce = param(line, "nonce").expect("nonce");
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    match param(line, "qop") {
        Some(q) if q == "auth" => {
            let (nc, cnonce) = ("00000001", "0a4f113b");
            let r = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
            format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", algorithm=MD5")
        }
        _ => {
            let r = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
            format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\", algorithm=MD5")
        }
    }
}

fn header<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    t.split("\r\n").find(|l| {
        l.len() > name.len()
            && l[..name.len()].eq_ignore_ascii_case(name)
            && l[name.len()..].starts_with(':')
    })
}

/// registrar_auth_ht.cfg's shape: challenge without credentials, HA1 from a variable
/// (flag 1), stale nonces re-challenged, consume_credentials before relaying.
fn ht_router() -> Router {
    let ha1 = md5_hex("u1:127.0.0.1:pw1");
    router(
        "",
        &format!(
            "request_route {{\n\
  if (!is_present_hf(\"Authorization\")) {{ www_challenge(\"$td\", \"0\"); exit; }}\n\
  $var(ha1) = \"{ha1}\";\n\
  if (!pv_www_authenticate(\"$td\", \"$var(ha1)\", \"1\")) {{\n\
    $var(rc) = $rc;\n\
    if ($var(rc) == -4) {{ www_challenge(\"$td\", \"1\"); exit; }}\n\
    sl_send_reply(\"403\", \"rc=$var(rc)\");\n\
    exit;\n\
  }}\n\
  consume_credentials();\n\
  append_hf(\"X-User: $au@$ar $aU $adu $aa\\r\\n\");\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  forward();\n\
}}\n"
        ),
    )
}

#[test]
fn register_challenge_then_correct_digest_passes_and_credentials_are_consumed() {
    let mut r = ht_router();
    let out = handle(&mut r, &register("u1", None));
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert!(t.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{t}");
    let ch = header(&t, "WWW-Authenticate")
        .expect("challenge")
        .to_string();
    assert!(
        ch.starts_with("WWW-Authenticate: Digest realm=\"127.0.0.1\", nonce=\""),
        "{ch}"
    );
    assert!(ch.ends_with(", algorithm=MD5"), "{ch}");
    assert!(!ch.contains("qop") && !ch.contains("stale"), "{ch}");
    assert_eq!(param(&ch, "nonce").unwrap().len(), 48);

    let cred = answer(&ch, "u1", "pw1", "REGISTER", "sip:127.0.0.1");
    let out = handle(&mut r, &register("u1", Some(&cred)));
    assert_eq!(out.len(), 1);
    let t = text(&out[0]);
    assert_eq!(
        out[0].dst,
        "127.0.0.1:5070".parse::<SocketAddr>().unwrap(),
        "{t}"
    );
    assert!(t.starts_with("REGISTER sip:127.0.0.1 SIP/2.0\r\n"), "{t}");
    assert!(
        header(&t, "Authorization").is_none(),
        "credentials consumed: {t}"
    );
    assert!(
        t.contains("\r\nX-User: u1@127.0.0.1 u1 sip:127.0.0.1 MD5\r\n"),
        "{t}"
    );
}

#[test]
fn wrong_password_tampered_and_expired_nonces_fail() {
    let mut r = ht_router();
    let t = text(&handle(&mut r, &register("u1", None))[0]);
    let ch = header(&t, "WWW-Authenticate").unwrap().to_string();

    // Wrong password: AUTH_INVALID_PASSWORD.
    let bad = answer(&ch, "u1", "nope", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u1", Some(&bad)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-2\r\n"), "{t}");

    // A nonce with its expiry changed (MAC no longer matches): AUTH_ERROR.
    let nonce = param(&ch, "nonce").unwrap();
    let mut n = nonce.clone().into_bytes();
    n[7] = if n[7] == b'f' { b'e' } else { b'f' };
    let tampered = ch.replace(&nonce, std::str::from_utf8(&n).unwrap());
    let cred = answer(&tampered, "u1", "pw1", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u1", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-1\r\n"), "{t}");

    // A genuine nonce that expired: AUTH_STALE_NONCE, re-challenged with stale=true.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let old = ferrosip_state::NonceKey::new(SECRET.as_bytes()).make(now - 1000, 300);
    let old = std::str::from_utf8(&old).unwrap();
    let expired = ch.replace(&nonce, old);
    let cred = answer(&expired, "u1", "pw1", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u1", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{t}");
    let ch2 = header(&t, "WWW-Authenticate").unwrap();
    assert!(
        ch2.contains(", stale=true, qop=\"auth\", algorithm=MD5"),
        "{ch2}"
    );

    // A nonce made with another secret: AUTH_ERROR.
    let foreign = ferrosip_state::NonceKey::new(b"other").make(now, 300);
    let forged = ch.replace(&nonce, std::str::from_utf8(&foreign).unwrap());
    let cred = answer(&forged, "u1", "pw1", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u1", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-1\r\n"), "{t}");

    // Credentials for another realm: AUTH_NO_CREDENTIALS.
    let other = answer(
        &ch.replace("realm=\"127.0.0.1\"", "realm=\"elsewhere\""),
        "u1",
        "pw1",
        "REGISTER",
        "sip:127.0.0.1",
    );
    let t = text(&handle(&mut r, &register("u1", Some(&other)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-5\r\n"), "{t}");
}

#[test]
fn malformed_credentials_get_400() {
    let mut r = ht_router();
    for bad in [
        "Digest username=\"u1\", realm=\"127.0.0.1\", nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"short\"",
        "Digest username=\"u1, realm=\"127.0.0.1\"",
        "Digest username=\"u1\", realm=\"127.0.0.1\", nonce=\"x\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\", qop=auth",
    ] {
        let out = handle(&mut r, &register("u1", Some(bad)));
        let t = text(&out[0]);
        assert!(t.starts_with("SIP/2.0 400 Bad Request\r\n"), "{bad}: {t}");
    }
}

#[test]
fn qop_auth_with_plain_password_and_proxy_challenge() {
    let mut r = router(
        "",
        "request_route {\n\
  if (is_method(\"REGISTER\")) {\n\
    if (!pv_www_authenticate(\"$td\", \"pw1\", \"0\")) { www_challenge(\"$td\", \"1\"); exit; }\n\
    sl_send_reply(\"200\", \"OK $au\");\n\
    exit;\n\
  }\n\
  if (!has_credentials(\"$fd\")) { auth_challenge(\"$fd\", \"1\"); exit; }\n\
  if (!pv_auth_check(\"$fd\", \"pw1\", \"0\", \"1\")) {\n\
    sl_send_reply(\"403\", \"rc=$rc\");\n\
    exit;\n\
  }\n\
  sl_send_reply(\"200\", \"OK $au\");\n\
}\n",
    );
    let t = text(&handle(&mut r, &register("u1", None))[0]);
    let ch = header(&t, "WWW-Authenticate").unwrap().to_string();
    assert!(ch.contains(", qop=\"auth\""), "{ch}");
    let cred = answer(&ch, "u1", "pw1", "REGISTER", "sip:127.0.0.1");
    assert!(cred.contains("qop=auth, nc=00000001"));
    let t = text(&handle(&mut r, &register("u1", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 200 OK u1\r\n"), "{t}");

    // INVITE: auth_challenge answers 407 with Proxy-Authenticate.
    let invite = |user: &str, auth: Option<&str>| {
        let auth = auth.map_or(String::new(), |a| format!("Proxy-Authorization: {a}\r\n"));
        format!(
            "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.7:40000;branch=z9hG4bKinv1\r\n\
             From: <sip:{user}@127.0.0.1>;tag=f1\r\n\
             To: <sip:bob@127.0.0.1>\r\n\
             Call-ID: auth-test-2\r\n\
             CSeq: 1 INVITE\r\n\
             {auth}Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let t = text(&handle(&mut r, &invite("u1", None))[0]);
    assert!(
        t.starts_with("SIP/2.0 407 Proxy Authentication Required\r\n"),
        "{t}"
    );
    let ch = header(&t, "Proxy-Authenticate").unwrap().to_string();
    let cred = answer(&ch, "u1", "pw1", "INVITE", "sip:bob@127.0.0.1");
    let t = text(&handle(&mut r, &invite("u1", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 200 OK u1\r\n"), "{t}");
    // The same credentials in a request From another user: AUTH_USER_MISMATCH.
    let t = text(&handle(&mut r, &invite("u2", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-8\r\n"), "{t}");
}

#[test]
fn auth_db_www_authorize_against_a_db_text_subscriber_table() {
    let dir = std::env::temp_dir().join(format!("ferrosip-auth-db-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ha1 = md5_hex("u000001:127.0.0.1:pw000001");
    let ha1b = md5_hex("u000001@127.0.0.1:127.0.0.1:pw000001");
    std::fs::write(
        dir.join("subscriber"),
        format!(
            "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n\
             1:u000001:127.0.0.1:pw000001:{ha1}:{ha1b}\n"
        ),
    )
    .unwrap();
    let body = format!(
        "modparam(\"auth_db\", \"db_url\", \"text://{}\")\n\
         modparam(\"auth_db\", \"calculate_ha1\", 0)\n\
         modparam(\"auth_db\", \"password_column\", \"ha1\")\n\
         modparam(\"auth_db\", \"load_credentials\", \"\")\n\
         modparam(\"auth_db\", \"use_domain\", 0)\n\
         request_route {{\n\
  if (!www_authorize(\"$td\", \"subscriber\")) {{\n\
    $var(rc) = $rc;\n\
    if ($var(rc) == -5) {{ www_challenge(\"$td\", \"0\"); exit; }}\n\
    sl_send_reply(\"403\", \"rc=$var(rc)\");\n\
    exit;\n\
  }}\n\
  consume_credentials();\n\
  sl_send_reply(\"200\", \"OK $au\");\n\
}}\n",
        dir.display()
    );
    let mut r = router(
        "loadmodule \"db_text.so\"\nloadmodule \"auth_db.so\"\n",
        &body,
    );
    let t = text(&handle(&mut r, &register("u000001", None))[0]);
    assert!(t.starts_with("SIP/2.0 401 Unauthorized\r\n"), "{t}");
    let ch = header(&t, "WWW-Authenticate").unwrap().to_string();
    let cred = answer(&ch, "u000001", "pw000001", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u000001", Some(&cred)))[0]);
    assert!(t.starts_with("SIP/2.0 200 OK u000001\r\n"), "{t}");
    let bad = answer(&ch, "u000001", "pw2", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u000001", Some(&bad)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-2\r\n"), "{t}");
    let unknown = answer(&ch, "u000002", "pw000002", "REGISTER", "sip:127.0.0.1");
    let t = text(&handle(&mut r, &register("u000002", Some(&unknown)))[0]);
    assert!(t.starts_with("SIP/2.0 403 rc=-3\r\n"), "{t}");
    // user@domain usernames use the ha1b column.
    let at = answer(
        &ch,
        "u000001@127.0.0.1",
        "pw000001",
        "REGISTER",
        "sip:127.0.0.1",
    );
    let t = text(&handle(&mut r, &register("u000001", Some(&at)))[0]);
    assert!(t.starts_with("SIP/2.0 200 OK u000001\r\n"), "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auth_db_table_that_does_not_load_stops_the_start() {
    let text = "loadmodule \"sl.so\"\nloadmodule \"db_text.so\"\nloadmodule \"auth.so\"\n\
loadmodule \"auth_db.so\"\nmodparam(\"auth_db\", \"db_url\", \"text:///nonexistent/ferrosip\")\n\
request_route { if (!www_authorize(\"\", \"subscriber\")) { www_challenge(\"\", \"0\"); } }\n";
    let cfg = Config::parse_str("test.cfg", text, &[]).unwrap();
    let e = super::ProcessState::new(&cfg, 1).unwrap_err();
    assert!(e.contains("subscriber"), "{e}");
}
