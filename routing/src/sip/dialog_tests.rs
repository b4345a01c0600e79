//! The dialog module through the whole router on a simulated clock: a call's five states,
//! profiles and their sizes as the script sees them, failure, timeout, a full table and the
//! configuration errors.

use ferrosip_state::{parse_profiles, DialogConfig, Dialogs, DlgState};

use super::super::ctx_tests::{INVITE, SRC};
use super::super::tm_tests::{is_to, net_with, response, status, text, Net};
use super::state_of;
use crate::api::Transmit;
use crate::cfg::Config;

const MODULES: &str = "loadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\n\
loadmodule \"textops.so\"\nloadmodule \"pv.so\"\nloadmodule \"siputils.so\"\n\
loadmodule \"dialog.so\"\n\
modparam(\"tm\", \"fr_timer\", 2000)\nmodparam(\"tm\", \"fr_inv_timer\", 6000)\n\
modparam(\"dialog\", \"profiles_with_value\", \"caller\")\n\
modparam(\"dialog\", \"profiles_no_value\", \"inbound\")\n\
modparam(\"dialog\", \"default_timeout\", 5)\n";

/// A call-limiting script in the usual Kamailio shape: at most 2 calls per caller.
const CFG: &str = "request_route {\n\
  if (is_method(\"CANCEL\")) { if (t_check_trans()) { t_relay(); } exit; }\n\
  if (has_totag()) {\n\
    append_hf(\"X-Dlg: $dlg(state) known=$var(k)\\r\\n\");\n\
    if (is_method(\"ACK\")) { $du = \"sip:127.0.0.1:5070\"; forward(); exit; }\n\
    $du = \"sip:127.0.0.1:5070\"; t_relay(); exit;\n\
  }\n\
  if (t_precheck_trans()) { t_check_trans(); exit; }\n\
  t_check_trans();\n\
  if (!dlg_manage()) { sl_send_reply(\"503\", \"Dialog table full\"); exit; }\n\
  get_profile_size(\"caller\", \"$fU\", \"$var(n)\");\n\
  if ($var(n) >= 2) { sl_send_reply(\"486\", \"Too many calls\"); exit; }\n\
  set_dlg_profile(\"caller\", \"$fU\");\n\
  set_dlg_profile(\"inbound\");\n\
  get_profile_size(\"caller\", \"$fU\", \"$var(n)\");\n\
  get_profile_size(\"inbound\", $var(all));\n\
  $dlg_var(who) = $fU;\n\
  append_hf(\"X-Calls: $var(n)/$var(all) state=$dlg(state) who=$dlg_var(who)\\r\\n\");\n\
  t_on_failure(\"RTF\");\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  if (!t_relay()) { sl_reply_error(); }\n\
  exit;\n}\n\
failure_route[RTF] {\n\
  if ($avp(retry) == \"no\" && t_check_status(\"503\")) {\n\
    $avp(retry) = \"yes\";\n\
    $du = \"sip:127.0.0.1:5071\";\n\
    t_relay();\n\
  }\n\
}\n";

const CALL_ID: &str = "a84b4c76e66710@pc33.example.com";
const FTAG: &str = "1928301774";
const UAS1: &str = "127.0.0.1:5070";

fn net(body: &str) -> Net {
    net_with(MODULES, "dlg.cfg", body)
}

fn cfg_error(body: &str) -> String {
    let text = format!("{MODULES}{body}");
    match Config::parse_str("dlg.cfg", &text, &[]) {
        Ok(_) => panic!("compiled: {body}"),
        Err(e) => e.to_string(),
    }
}

impl Net {
    fn state(&mut self, call_id: &str) -> Option<DlgState> {
        state_of(self.r.dialogs(), call_id, FTAG)
    }

    fn size(&mut self, profile: &str, value: Option<&str>) -> usize {
        let t = &self.r.dialogs().table;
        t.profile_id(profile)
            .map_or(usize::MAX, |p| t.profile_size(p, value))
    }
}

/// The test INVITE with another Call-ID and, so tm sees a new transaction, another branch.
fn invite(call_id: &str) -> String {
    INVITE
        .replace(CALL_ID, call_id)
        .replace("z9hG4bK776asdhds", &format!("z9hG4bK-{call_id}"))
}

/// An in-dialog request from the caller (`up`: from the callee) with the dialog's tags.
fn in_dialog(method: &str, cseq: u32, branch: &str, up: bool) -> String {
    let (from, to) = if up {
        (
            "From: Bob <sip:bob@example.com>;tag=uas-1",
            "To: Alice <sip:alice@example.com>;tag=1928301774",
        )
    } else {
        (
            "From: Alice <sip:alice@example.com>;tag=1928301774",
            "To: Bob <sip:bob@example.com>;tag=uas-1",
        )
    };
    format!(
        "{method} sip:bob@192.0.2.9 SIP/2.0\r\n\
Via: SIP/2.0/UDP client.example.com:5062;branch=z9hG4bK{branch};rport\r\n\
Max-Forwards: 70\r\n{from}\r\n{to}\r\nCall-ID: {CALL_ID}\r\nCSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn relayed<'a>(out: &'a [Transmit], to: &str) -> &'a Transmit {
    out.iter()
        .find(|t| is_to(t, to))
        .unwrap_or_else(|| panic!("nothing sent to {to}: {out:#?}"))
}

#[test]
fn call_walks_invite_180_200_ack_bye_with_profiles() {
    let mut n = net(CFG);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    assert!(
        text(&inv).contains("X-Calls: 1/1 state=1 who=alice\r\n"),
        "{}",
        text(&inv)
    );
    assert_eq!(n.state(CALL_ID), Some(DlgState::Unconfirmed));
    assert_eq!(n.size("caller", Some("alice")), 1);
    // A retransmitted INVITE is absorbed by tm and finds the same dialog.
    n.recv(INVITE, SRC);
    assert_eq!(n.r.dialog_stats().created, 1);
    // 100 has no To-tag: still unconfirmed. 180 with a tag: early.
    n.recv(&response(&inv, 100, "Trying"), UAS1);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Unconfirmed));
    let r180 = n.recv(&response(&inv, 180, "Ringing"), UAS1);
    assert_eq!(status(&r180[0]), 180);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Early));
    let ok = n.recv(&response(&inv, 200, "OK"), UAS1);
    assert_eq!(status(&ok[0]), 200);
    assert_eq!(n.state(CALL_ID), Some(DlgState::ConfirmedNoAck));
    assert_eq!(n.size("caller", Some("alice")), 1);
    // The ACK is matched before the script: the script already sees state 4.
    let out = n.recv(&in_dialog("ACK", 314159, "ack1", false), SRC);
    assert!(
        text(relayed(&out, UAS1)).contains("X-Dlg: 4 "),
        "{}",
        text(&out[0])
    );
    assert_eq!(n.state(CALL_ID), Some(DlgState::Confirmed));
    assert_eq!(n.size("inbound", None), 1);
    // A re-INVITE from the callee (upstream) matches too and keeps the state.
    let out = n.recv(&in_dialog("INFO", 1, "up1", true), UAS1);
    assert!(text(relayed(&out, UAS1)).contains("X-Dlg: 4 "));
    assert_eq!(n.state(CALL_ID), Some(DlgState::Confirmed));
    // BYE: deleted at once, out of every profile; the BYE's script sees state 5.
    let out = n.recv(&in_dialog("BYE", 314160, "bye1", false), SRC);
    assert!(text(relayed(&out, UAS1)).contains("X-Dlg: 5 "));
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
    assert_eq!(n.size("caller", Some("alice")), 0);
    assert_eq!(n.size("inbound", None), 0);
    let st = n.r.dialog_stats();
    assert_eq!((st.created, st.early, st.confirmed, st.ended), (1, 1, 1, 1));
    // The deleted dialog lingers a while, then leaves the table.
    n.advance(60_000);
    assert_eq!(n.state(CALL_ID), None);
    assert!(n.r.dialogs().table.is_empty());
}

#[test]
fn profile_limit_refuses_the_third_call() {
    let mut n = net(CFG);
    for i in 0..2 {
        let out = n.recv(&invite(&format!("call-{i}")), SRC);
        let inv = relayed(&out, UAS1);
        let want = format!("X-Calls: {}/{} ", i + 1, i + 1);
        assert!(text(inv).contains(&want), "{}", text(inv));
    }
    assert_eq!(n.size("caller", Some("alice")), 2);
    assert_eq!(n.size("caller", Some("bob")), 0);
    let out = n.recv(&invite("call-2"), SRC);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(status(&out[0]), 486);
    // The refused call's dialog is gone (nothing will ever answer it).
    assert_eq!(n.state("call-2"), None);
    assert_eq!(n.r.dialogs().table.len(), 2);
}

#[test]
fn failure_response_deletes_the_dialog() {
    let mut n = net(CFG);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    n.recv(&response(&inv, 180, "Ringing"), UAS1);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Early));
    let out = n.recv(&response(&inv, 486, "Busy Here"), UAS1);
    assert!(out.iter().any(|t| status(t) == 486), "{out:#?}");
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
    assert_eq!(n.size("caller", Some("alice")), 0);
    assert_eq!(n.r.dialog_stats().failed, 1);
}

#[test]
fn failure_route_retry_keeps_the_dialog_until_the_final_answer() {
    let cfg = CFG.replace("$avp(retry) == \"no\"", "$avp(retry) != \"yes\"");
    let mut n = net(&cfg);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    // 503 from the first UAS: the failure route tries the second one.
    let out = n.recv(&response(&inv, 503, "Unavailable"), UAS1);
    let inv2 = relayed(&out, "127.0.0.1:5071").clone();
    assert_eq!(n.state(CALL_ID), Some(DlgState::Unconfirmed));
    assert_eq!(n.size("caller", Some("alice")), 1);
    n.recv(&response(&inv2, 200, "OK"), "127.0.0.1:5071");
    assert_eq!(n.state(CALL_ID), Some(DlgState::ConfirmedNoAck));
}

#[test]
fn local_timeout_deletes_the_dialog() {
    let mut n = net(CFG);
    n.recv(INVITE, SRC);
    // No answer at all: Timer B (fr_timer 2 s) → 408 sent upstream by tm.
    let out = n.advance(2_100);
    assert!(out.iter().any(|t| status(t) == 408), "{out:#?}");
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
    assert_eq!(n.size("inbound", None), 0);
}

#[test]
fn dialog_timeout_deletes_a_confirmed_call() {
    let mut n = net(CFG);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    n.recv(&response(&inv, 200, "OK"), UAS1);
    n.recv(&in_dialog("ACK", 314159, "ack1", false), SRC);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Confirmed));
    // default_timeout is 5 s (from the 2xx); the deadline is what the router reports.
    n.advance(4_900);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Confirmed));
    assert_eq!(n.size("caller", Some("alice")), 1);
    n.advance(200);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
    assert_eq!(n.size("caller", Some("alice")), 0);
    assert_eq!(n.r.dialog_stats().expired, 1);
}

#[test]
fn unacked_2xx_times_out_with_noack_timeout() {
    let body = format!("modparam(\"dialog\", \"noack_timeout\", 1)\n{CFG}");
    let mut n = net(&body);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    n.recv(&response(&inv, 200, "OK"), UAS1);
    n.advance(1_100);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
}

#[test]
fn full_table_makes_dlg_manage_fail() {
    let mut n = net(CFG);
    let profiles = parse_profiles("caller", "inbound").expect("profiles");
    n.r.dialogs().table = Dialogs::new(
        DialogConfig {
            capacity: 1,
            ..DialogConfig::default()
        },
        profiles,
        [5, 6, 7, 8],
    );
    let out = n.recv(&invite("first"), SRC);
    relayed(&out, UAS1);
    let out = n.recv(&invite("second"), SRC);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(status(&out[0]), 503);
    assert_eq!(n.r.dialog_stats().refused_full, 1);
    assert_eq!(n.state("second"), None);
}

#[test]
fn dlg_flag_manages_without_dlg_manage() {
    let body = "modparam(\"dialog\", \"dlg_flag\", 4)\n\
request_route {\n\
  if (has_totag()) { $du = \"sip:127.0.0.1:5070\"; t_relay(); exit; }\n\
  setflag(4);\n\
  $du = \"sip:127.0.0.1:5070\";\n\
  t_relay();\n}\n";
    let mut n = net(body);
    let out = n.recv(INVITE, SRC);
    let inv = relayed(&out, UAS1).clone();
    assert_eq!(n.state(CALL_ID), Some(DlgState::Unconfirmed));
    n.recv(&response(&inv, 486, "Busy Here"), UAS1);
    assert_eq!(n.state(CALL_ID), Some(DlgState::Deleted));
}

#[test]
fn config_errors_are_reported_at_compile_time() {
    let e = cfg_error("request_route { dlg_manage(); set_dlg_profile(\"nosuch\"); }\n");
    assert!(e.contains("dialog profile 'nosuch' is not declared"), "{e}");
    assert!(e.starts_with("dlg.cfg:"), "{e}");
    let e = cfg_error(
        "request_route { if (get_profile_size(\"caller\", \"$fU\", \"$var(n)\")) { exit; } }\n",
    );
    assert!(e.contains("must be a statement of its own"), "{e}");
    let e = cfg_error("request_route { get_profile_size(\"caller\", \"x\", \"text\"); }\n");
    assert!(e.contains("writable variable"), "{e}");
    let e = cfg_error("request_route { $var(x) = $dlg(bogus); }\n");
    assert!(e.contains("unknown dialog attribute"), "{e}");
    let e = cfg_error("request_route { set_dlg_profile($var(p)); }\n");
    assert!(e.contains("constant profile name"), "{e}");
    let e = cfg_error(
        "modparam(\"dialog\", \"profiles_no_value\", \"caller\")\nrequest_route { exit; }\n",
    );
    assert!(e.contains("declared twice"), "{e}");
    let e = cfg_error("modparam(\"dialog\", \"no_such_param\", 1)\nrequest_route { exit; }\n");
    assert!(e.contains("no parameter"), "{e}");
}

#[test]
fn every_documented_modparam_is_accepted() {
    let params = "modparam(\"dialog\", \"enable_stats\", 1)\n\
modparam(\"dialog\", \"hash_size\", 4096)\nmodparam(\"dialog\", \"rr_param\", \"did\")\n\
modparam(\"dialog\", \"dlg_flag\", 4)\nmodparam(\"dialog\", \"timeout_avp\", \"$avp(t)\")\n\
modparam(\"dialog\", \"dlg_extra_hdrs\", \"X: y\\r\\n\")\n\
modparam(\"dialog\", \"dlg_match_mode\", 1)\nmodparam(\"dialog\", \"db_url\", \"x\")\n\
modparam(\"dialog\", \"db_mode\", 0)\nmodparam(\"dialog\", \"table_name\", \"dialog\")\n\
modparam(\"dialog\", \"bridge_controller\", \"sip:c@x\")\n\
modparam(\"dialog\", \"initial_cbs_inscript\", 1)\nmodparam(\"dialog\", \"send_bye\", 0)\n\
modparam(\"dialog\", \"wait_ack\", 1)\nmodparam(\"dialog\", \"ka_timer\", 0)\n\
modparam(\"dialog\", \"ka_interval\", 0)\nmodparam(\"dialog\", \"timeout_noreset\", 0)\n\
modparam(\"dialog\", \"track_cseq_updates\", 0)\n\
modparam(\"dialog\", \"lreq_callee_headers\", \"TH: dlh\\r\\n\")\n\
modparam(\"dialog\", \"lreq_caller_headers\", \"TH: dlh\\r\\n\")\n\
modparam(\"dialog\", \"event_callback\", \"ksr_dialog_event\")\n\
modparam(\"dialog\", \"h_id_start\", 0)\nmodparam(\"dialog\", \"h_id_step\", 1)\n\
modparam(\"dialog\", \"keep_proxy_rr\", 0)\nmodparam(\"dialog\", \"dlg_filter_mode\", 0)\n\
modparam(\"dialog\", \"enable_dmq\", 0)\n\
request_route { exit; }\n";
    net(params);
}

#[test]
fn dlg_pvs_without_a_dialog_are_null_and_functions_fail() {
    let body = "request_route {\n\
  if (is_known_dlg()) { sl_send_reply(\"500\", \"known\"); exit; }\n\
  if (set_dlg_profile(\"inbound\")) { sl_send_reply(\"500\", \"set\"); exit; }\n\
  if (is_in_profile(\"inbound\")) { sl_send_reply(\"500\", \"in\"); exit; }\n\
  if ($dlg(state) != $null) { sl_send_reply(\"500\", \"state\"); exit; }\n\
  dlg_manage();\n\
  if (!is_known_dlg()) { sl_send_reply(\"500\", \"unknown\"); exit; }\n\
  set_dlg_profile(\"inbound\");\n\
  if (!is_in_profile(\"inbound\")) { sl_send_reply(\"500\", \"not in\"); exit; }\n\
  unset_dlg_profile(\"inbound\");\n\
  if (is_in_profile(\"inbound\")) { sl_send_reply(\"500\", \"still in\"); exit; }\n\
  sl_send_reply(\"404\", \"h_id=$dlg(h_id) ci=$dlg(callid) ft=$dlg(from_tag)\");\n}\n";
    let mut n = net(body);
    let out = n.recv(INVITE, SRC);
    assert_eq!(status(&out[0]), 404, "{}", text(&out[0]));
    assert!(
        text(&out[0]).starts_with(&format!("SIP/2.0 404 h_id=1 ci={CALL_ID} ft={FTAG}\r\n")),
        "{}",
        text(&out[0])
    );
}

/// A caller's calls have different Call-IDs, so they land on different workers: the profile
/// limit counts them over all workers (the shared board), and a call that ends frees its
/// place on every worker.
#[test]
fn profile_sizes_are_process_wide() {
    use super::super::tm_tests::Net;
    let text_cfg = format!("{MODULES}{CFG}");
    let cfg = Config::parse_str("dlg.cfg", &text_cfg, &[]).unwrap();
    let board = super::ProfileBoard::new(&cfg, 2);
    let mut w: Vec<Net> = (0..2)
        .map(|i| Net {
            r: super::super::Router::with_board(
                &cfg,
                crate::api::WorkerEnv {
                    worker: i,
                    workers: 2,
                    sockets: super::super::ctx_tests::test_sockets(),
                },
                board.clone(),
            ),
            now: std::time::Instant::now(),
        })
        .collect();
    let out = w[0].recv(&invite("call-a"), SRC);
    assert!(text(relayed(&out, UAS1)).contains("X-Calls: 1/1 "));
    let out = w[1].recv(&invite("call-b"), SRC);
    let b = relayed(&out, UAS1).clone();
    assert!(text(&b).contains("X-Calls: 2/2 "), "{}", text(&b));
    // The third call is refused, on either worker.
    let out = w[0].recv(&invite("call-c"), SRC);
    assert_eq!(status(&out[0]), 486, "{out:#?}");
    // call-b fails: worker 0 sees the place free again.
    w[1].recv(&response(&b, 486, "Busy Here"), UAS1);
    let out = w[0].recv(&invite("call-d"), SRC);
    assert!(
        text(relayed(&out, UAS1)).contains("X-Calls: 2/2 "),
        "{out:#?}"
    );
}
