//! The `ferrosip-bench` command: see the library's documentation.

use clap::Parser;
use ferrosip_bench::cli::{self, Args, Scenario, TransportMode};
use ferrosip_bench::report::{self, RunResult};
use ferrosip_bench::sip::Setup;
use ferrosip_bench::stats::{self, Kind, Totals};
use ferrosip_bench::users::Users;
use ferrosip_bench::{uac, worker};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::Relaxed);
}

fn install_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn main() {
    let args = Args::parse_from(cli::sipp_compat(std::env::args()));
    install_signals();
    match real_main(&args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ferrosip-bench: {e}");
            std::process::exit(2);
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; port 5060 by default.
fn resolve(remote: &str) -> Result<SocketAddr, String> {
    let has_port = match remote.rsplit_once(':') {
        Some((h, p)) => p.parse::<u16>().is_ok() && (h.ends_with(']') || !h.contains(':')),
        None => false,
    };
    let with_port = if has_port {
        remote.to_string()
    } else if remote.starts_with('[') || !remote.contains(':') {
        format!("{remote}:5060")
    } else {
        format!("[{remote}]:5060")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {remote}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {remote}"))
}

fn main_kind(s: Scenario) -> Kind {
    match s {
        Scenario::Uac | Scenario::Uas => Kind::Invite,
        Scenario::Register => Kind::Register,
        Scenario::Options => Kind::Options,
        Scenario::Message => Kind::Message,
    }
}

fn real_main(args: &Args) -> Result<i32, String> {
    if args.workers == 0 || args.workers > 1024 {
        return Err("-n must be 1..=1024".into());
    }
    if (args.rate.is_nan() || args.rate <= 0.0) && args.scenario != Scenario::Uas {
        return Err("-r must be positive".into());
    }
    let users = if let Some(p) = &args.inf {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        Some(Arc::new(
            Users::from_csv(&text).map_err(|e| format!("{}: {e}", p.display()))?,
        ))
    } else if let Some(u) = &args.users {
        Some(Arc::new(
            Users::from_template(&u[0], &u[1], &args.password).map_err(|e| e.to_string())?,
        ))
    } else {
        None
    };
    if args.scenario == Scenario::Register && users.is_none() {
        return Err("-sn register needs --users TEMPLATE RANGE or --inf FILE".into());
    }
    if args.find_max {
        return find_max(args, users);
    }
    let r = run_once(args, users, args.rate, args.max_calls, args.duration, true)?;
    finish(args, &r, None)?;
    Ok(if r.totals.counters.failed > 0 { 1 } else { 0 })
}

fn finish(args: &Args, r: &RunResult, extra: Option<serde_json::Value>) -> Result<(), String> {
    print!("{}", report::summary(r));
    if let Some(p) = &args.json {
        let v = report::json(r, extra);
        let text = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
        std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &args.report {
        std::fs::write(p, report::html(r)).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// Binds the sockets, runs the workers to their end, gathers their reports.
fn run_once(
    args: &Args,
    users: Option<Arc<Users>>,
    rate: f64,
    max_calls: Option<u64>,
    duration: Option<f64>,
    live: bool,
) -> Result<RunResult, String> {
    let n = args.workers;
    let client = args.scenario != Scenario::Uas;
    let remote = match &args.remote {
        Some(r) => Some(resolve(r)?),
        None if client => return Err("the remote host is missing (e.g. 127.0.0.1:5060)".into()),
        None => None,
    };
    let ip: std::net::IpAddr = match &args.ip {
        Some(i) => i.parse().map_err(|_| format!("bad -i {i}"))?,
        None => worker::local_ip_for(remote),
    };
    let tcp = args.transport == TransportMode::T1;
    let run_id = (std::process::id() ^ (Instant::now().elapsed().as_nanos() as u32))
        .wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    let t1_us = args.t1_ms.max(1) * 1000;
    let share = |v: u64, w: usize| v / n as u64 + u64::from((w as u64) < v % n as u64);
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let mut handles = Vec::new();
    for w in 0..n {
        let port = args.port.unwrap_or(if client { 0 } else { 5060 });
        let port = if client && port != 0 {
            port.checked_add(w as u16).ok_or("port overflow")?
        } else {
            port
        };
        let bind = SocketAddr::new(ip, port);
        let (io, local) = if tcp && client {
            let remote = remote.expect("client has a remote");
            let s = std::net::TcpStream::connect_timeout(&remote, Duration::from_secs(5))
                .map_err(|e| format!("cannot connect to {remote}: {e}"))?;
            let local = s.local_addr().map_err(|e| e.to_string())?;
            (worker::Io::TcpClient(s), local)
        } else if tcp {
            let s = ferrosip_transports::sock::bind_tcp_listener(bind)
                .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
            let local = ferrosip_transports::sock::local_addr(&s).map_err(|e| e.to_string())?;
            (worker::Io::TcpListener(s), local)
        } else {
            let s = ferrosip_transports::sock::bind_udp(bind)
                .map_err(|e| format!("cannot bind {bind}: {e}"))?;
            if args.buffer > 0 {
                worker::force_buffers(&s, args.buffer);
            }
            let local = ferrosip_transports::sock::local_addr(&s).map_err(|e| e.to_string())?;
            (worker::Io::Udp(s), local)
        };
        let per = |v: f64| v / n as f64;
        let setup = Setup {
            worker: w,
            workers: n,
            scenario: args.scenario,
            remote: remote.unwrap_or(local),
            local,
            tcp,
            rate: per(rate),
            rate_increase: per(args.rate_increase),
            rate_max: per(args.rate_max.unwrap_or(f64::MAX)),
            rate_interval: args.rate_interval,
            limit: args
                .limit
                .map(|l| share(l, w).max(1))
                .unwrap_or(uac::MAX_CALLS_PER_WORKER)
                .min(uac::MAX_CALLS_PER_WORKER),
            max_calls: max_calls.map(|m| share(m, w)).unwrap_or(u64::MAX),
            duration,
            hold_us: args.hold_ms * 1000,
            service: args.service.clone(),
            users: users.clone(),
            reg_then: args.reg_then,
            expires: args.expires,
            qop: args.qop,
            trying: args.trying,
            t1_us,
            t2_us: args.t2_ms.max(args.t1_ms) * 1000,
            timeout_us: args.timeout_ms.map(|t| t * 1000).unwrap_or(64 * t1_us),
            run_id,
            pin: !args.no_pin,
            gso: !args.no_gso,
        };
        if w == 0 && live {
            eprintln!(
                "ferrosip-bench: -sn {:?} on {local}{}, {} worker(s){}",
                args.scenario,
                if tcp { " (tcp)" } else { "" },
                n,
                remote.map(|r| format!(", remote {r}")).unwrap_or_default()
            );
        }
        handles.push(
            worker::spawn(setup, io, stop.clone(), tx.clone(), start).map_err(|e| e.to_string())?,
        );
    }
    drop(tx);
    let mut totals = Totals::new(n, main_kind(args.scenario));
    let mut done = 0;
    let show = live && (args.progress || std::io::stdout().is_terminal());
    let mut last_line = Instant::now();
    let mut shown = stats::Counters::default();
    while done < n {
        if SIGNALLED.load(Ordering::Relaxed) {
            stop.store(true, Ordering::Relaxed);
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(r) => {
                if r.done {
                    done += 1;
                }
                totals.add(&r);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if show && last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            let c = &totals.counters;
            let p99 = totals.hists.get(totals.main_kind);
            let p99 = if p99.is_empty() {
                0
            } else {
                p99.value_at_quantile(0.99)
            };
            println!(
                "[{:>5.0}s] rate {:>8.1}/s (offered {:>8.1}) active {:>6} completed {:>9} failed {:>6} retrans {:>6} p99 {:>8} µs",
                start.elapsed().as_secs_f64(),
                (c.completed + c.answered - shown.completed - shown.answered) as f64,
                totals.rate.iter().sum::<f64>(),
                totals.active_calls(),
                c.completed,
                c.failed,
                c.retransmissions,
                p99
            );
            let _ = std::io::stdout().flush();
            shown = *c;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    for h in handles {
        let _ = h.join();
    }
    Ok(RunResult {
        scenario: format!("{:?}", args.scenario).to_lowercase(),
        transport: if tcp { "tcp".into() } else { "udp".into() },
        workers: n,
        offered: rate,
        elapsed,
        totals,
    })
}

/// `--find-max`: doubles the rate from -r until a step fails, then bisects; each step runs
/// `rate × --step-secs` calls.
fn find_max(args: &Args, users: Option<Arc<Users>>) -> Result<i32, String> {
    let mut steps = Vec::new();
    let mut best: Option<RunResult> = None;
    let mut lo = 0.0f64;
    let mut hi: Option<f64> = None;
    let mut rate = args.rate;
    let mut bisect_left = args.bisect;
    println!(
        "find-max: steps of {} s; a step passes with failed <= {}%, {} p99 <= {} ms, achieved >= 95% of offered",
        args.step_secs,
        args.max_fail_pct,
        main_kind(args.scenario).name(),
        args.max_p99_ms
    );
    loop {
        if SIGNALLED.load(Ordering::Relaxed) {
            break;
        }
        let calls = (rate * args.step_secs).round().max(1.0) as u64;
        let r = run_once(args, users.clone(), rate, Some(calls), None, false)?;
        let c = &r.totals.counters;
        let fail_pct = if c.started > 0 {
            c.failed as f64 * 100.0 / c.started as f64
        } else {
            100.0
        };
        let p99_ms = r.main_p99_us() as f64 / 1000.0;
        let achieved = r.rate_achieved();
        let pass = c.started == calls
            && fail_pct <= args.max_fail_pct
            && p99_ms <= args.max_p99_ms
            && achieved >= 0.95 * rate;
        println!(
            "step {:>10.1}/s: {} (completed {}, failed {} = {:.3}%, retrans {}, p99 {:.3} ms, achieved {:.1}/s)",
            rate,
            if pass { "pass" } else { "FAIL" },
            c.completed,
            c.failed,
            fail_pct,
            c.retransmissions,
            p99_ms,
            achieved
        );
        steps.push(json!({"rate": rate, "pass": pass, "completed": c.completed, "failed": c.failed,
            "retransmissions": c.retransmissions, "p99_us": r.main_p99_us(), "rate_achieved": achieved}));
        if pass {
            lo = rate;
            best = Some(r);
        } else {
            hi = Some(rate);
        }
        // Let the peer drain before the next step.
        std::thread::sleep(Duration::from_millis(500));
        rate = match hi {
            None if rate * 2.0 <= args.find_max_limit => rate * 2.0,
            None => break,
            Some(h) => {
                if bisect_left == 0 || lo == 0.0 {
                    break;
                }
                bisect_left -= 1;
                ((lo + h) / 2.0).round()
            }
        };
        if let Some(h) = hi {
            if rate <= lo || rate >= h {
                break;
            }
        }
    }
    println!(
        "max sustainable rate: {lo:.1}/s{}",
        hi.map(|h| format!(" (first failing: {h:.1}/s)"))
            .unwrap_or_default()
    );
    let extra = json!({"max_rate": lo, "first_failing": hi, "steps": steps});
    match best {
        Some(b) => finish(args, &b, Some(extra))?,
        None => {
            if let Some(p) = &args.json {
                std::fs::write(
                    p,
                    serde_json::to_string_pretty(&json!({"find_max": extra})).unwrap_or_default(),
                )
                .map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(if lo > 0.0 { 0 } else { 1 })
}
