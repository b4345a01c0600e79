//! The message side of routing: what script functions do to a SIP message, and the
//! per-worker `Router` pipeline (parse, run routes, forward, reply).
