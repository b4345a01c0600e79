//! JSON-RPC 2.0 as Kamailio's `jsonrpcs` module speaks it.
//!
//! A request is one JSON object: `method`, optional `params` (an array of positional values,
//! or an object whose values are taken in order), optional `id`, and on the FIFO transport
//! `reply_name`: the reply FIFO, a file name in `fifo_reply_dir`. The reply carries `jsonrpc`,
//! then `result` or `error` (`code`, `message`), then `id` when the request had one. A command
//! that adds nothing replies `{}`; several values are an array. `pretty_format` indents with
//! tabs, as Kamailio does.
//!
//! Errors: a document that is not JSON gets `-32700 Parse error`, one without a method
//! `-32600 Invalid Request`; command errors keep their code (500 `Method Not Found` for an
//! unknown command, as Kamailio answers).

use ferrosip_routing::rpc::{RpcEnv, RpcResult, RpcValue};
use serde_json::{Map, Value};

/// What handling one request produced.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// `reply_name` from the request (FIFO transport), if any.
    pub(crate) reply_name: Option<String>,
    /// The reply document.
    pub(crate) text: String,
}

fn to_rpc(v: &Value) -> RpcValue {
    match v {
        Value::Null => RpcValue::str(""),
        Value::Bool(b) => RpcValue::Int(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => RpcValue::Int(i),
            None => RpcValue::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => RpcValue::str(s.clone()),
        Value::Array(a) => RpcValue::Array(a.iter().map(to_rpc).collect()),
        Value::Object(o) => {
            RpcValue::Struct(o.iter().map(|(k, v)| (k.clone(), to_rpc(v))).collect())
        }
    }
}

/// An RPC value as JSON (duplicate struct member names: the last wins).
pub(crate) fn to_json(v: &RpcValue) -> Value {
    match v {
        RpcValue::Int(i) => Value::from(*i),
        RpcValue::Double(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        RpcValue::Str(s) => Value::String(s.clone()),
        RpcValue::Struct(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        RpcValue::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        RpcValue::Nothing => Value::Object(Map::new()),
    }
}

fn render(v: &Value, pretty: bool) -> String {
    if !pretty {
        return v.to_string();
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

fn error(code: i64, message: &str, id: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), Value::from("2.0"));
    let mut e = Map::new();
    e.insert("code".into(), Value::from(code));
    e.insert("message".into(), Value::from(message));
    m.insert("error".into(), Value::Object(e));
    m.insert("id".into(), id.cloned().unwrap_or(Value::Null));
    Value::Object(m)
}

/// The reply document for a command's result.
fn reply_doc(result: &RpcResult, id: Option<&Value>) -> Value {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), Value::from("2.0"));
    match result {
        Ok(v) => {
            m.insert("result".into(), to_json(v));
        }
        Err(e) => {
            let mut err = Map::new();
            err.insert("code".into(), Value::from(e.code));
            let msg = if e.message.starts_with("command ") && e.message.ends_with(" not found") {
                "Method Not Found"
            } else {
                &e.message
            };
            err.insert("message".into(), Value::from(msg));
            m.insert("error".into(), Value::Object(err));
        }
    }
    if let Some(id) = id {
        m.insert("id".into(), id.clone());
    }
    Value::Object(m)
}

/// Handles one parsed JSON document.
pub(crate) fn handle_value(env: &RpcEnv, doc: &Value, pretty: bool) -> Reply {
    let reply_name = doc
        .get("reply_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = doc.get("id");
    let Some(method) = doc.get("method").and_then(Value::as_str) else {
        return Reply {
            reply_name,
            text: render(&error(-32600, "Invalid Request", id), pretty),
        };
    };
    let params: Vec<RpcValue> = match doc.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(to_rpc).collect(),
        Some(Value::Object(o)) => o.values().map(to_rpc).collect(),
        Some(other) => vec![to_rpc(other)],
    };
    let result = env.call(method, &params);
    Reply {
        reply_name,
        text: render(&reply_doc(&result, id), pretty),
    }
}

/// Handles one request document (the datagram transport: one per datagram).
pub(crate) fn handle(env: &RpcEnv, doc: &[u8], pretty: bool) -> Reply {
    match serde_json::from_slice::<Value>(doc) {
        Ok(v) => handle_value(env, &v, pretty),
        Err(_) => Reply {
            reply_name: None,
            text: render(&error(-32700, "Parse error", None), pretty),
        },
    }
}

/// What [`split`] found at the start of a FIFO's buffered bytes.
#[derive(Debug)]
pub(crate) enum Next {
    /// A whole document and the bytes it used.
    Doc(Value, usize),
    /// Not a whole document yet.
    More,
    /// Bytes that are not JSON: drop this many (through the end of the line).
    Garbage(usize),
}

/// Takes the first JSON document from bytes read from the FIFO (documents may span lines and
/// reads, and several may arrive in one write).
pub(crate) fn split(buf: &[u8]) -> Next {
    let start = buf
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(buf.len());
    if start == buf.len() {
        return if buf.is_empty() {
            Next::More
        } else {
            Next::Garbage(buf.len())
        };
    }
    let mut it = serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) => Next::Doc(v, start + it.byte_offset()),
        Some(Err(e)) if e.is_eof() => Next::More,
        _ => {
            let nl = buf[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(buf.len(), |p| start + p + 1);
            Next::Garbage(nl)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_routing::cfg::Config;
    use ferrosip_routing::rpc::WorkerBoard;
    use ferrosip_routing::sip::ProcessState;
    use std::sync::Arc;

    fn env() -> RpcEnv {
        let cfg = Config::parse_str(
            "t.cfg",
            "loadmodule \"kex.so\"\nloadmodule \"jsonrpcs.so\"\nloadmodule \"cfg_rpc.so\"\ndebug=3\nrequest_route { exit; }\n",
            &[],
        )
        .unwrap();
        let p = ProcessState::new(&cfg, 1).unwrap();
        RpcEnv::new(Arc::new(cfg), p, Arc::new(WorkerBoard::new(1)), Vec::new())
    }

    fn parse(r: &Reply) -> Value {
        serde_json::from_str(&r.text).unwrap()
    }

    #[test]
    fn answers_requests_with_results_and_ids() {
        let e = env();
        let r = handle(
            &e,
            br#"{"jsonrpc":"2.0","method":"cfg.get","params":["core","debug"],"reply_name":"r1","id":7}"#,
            false,
        );
        assert_eq!(r.reply_name.as_deref(), Some("r1"));
        assert_eq!(r.text, r#"{"jsonrpc":"2.0","result":3,"id":7}"#);
        let v = parse(&handle(&e, br#"{"jsonrpc":"2.0","method":"stats.get_statistics","params":["rcv_requests"],"id":"x"}"#, true));
        assert_eq!(v["result"], serde_json::json!(["core:rcv_requests = 0"]));
        assert_eq!(v["id"], "x");
        // Nothing added: {}; no id: none in the reply.
        let v = parse(&handle(
            &e,
            br#"{"method":"stats.reset_statistics","params":["all"]}"#,
            false,
        ));
        assert_eq!(v["result"], serde_json::json!({}));
        assert!(v.get("id").is_none());
        // Pretty output is indented with tabs.
        let r = handle(&e, br#"{"method":"core.uptime","id":1}"#, true);
        assert!(r.text.contains("\n\t\"result\""));
    }

    #[test]
    fn errors_are_json_rpc_errors() {
        let e = env();
        let v = parse(&handle(
            &e,
            br#"{"jsonrpc":"2.0","method":"nope","id":1}"#,
            false,
        ));
        assert_eq!(v["error"]["code"], 500);
        assert_eq!(v["error"]["message"], "Method Not Found");
        let v = parse(&handle(&e, b"garbage", false));
        assert_eq!(v["error"]["code"], -32700);
        let v = parse(&handle(&e, br#"{"id":3}"#, false));
        assert_eq!(
            (v["error"]["code"].as_i64(), v["id"].as_i64()),
            (Some(-32600), Some(3))
        );
        let v = parse(&handle(&e, br#"[1,2]"#, false));
        assert_eq!(v["error"]["code"], -32600);
        let v = parse(&handle(
            &e,
            br#"{"method":"cfg.get","params":"core"}"#,
            false,
        ));
        assert_eq!(v["error"]["code"], 400);
    }

    #[test]
    fn splits_fifo_streams() {
        let buf = b"{\n \"method\": \"a\"\n}\n{\"method\":\"b\"}{\"met";
        let Next::Doc(v, n) = split(buf) else {
            panic!()
        };
        assert_eq!(v["method"], "a");
        let Next::Doc(v, m) = split(&buf[n..]) else {
            panic!()
        };
        assert_eq!(v["method"], "b");
        assert!(matches!(split(&buf[n + m..]), Next::More));
        assert!(matches!(split(b""), Next::More));
        assert!(matches!(split(b"  \n"), Next::Garbage(3)));
        assert!(matches!(split(b"xx yy\n{}"), Next::Garbage(6)));
    }
}
