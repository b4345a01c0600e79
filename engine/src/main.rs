//! `ferrosip`: a thread-per-core, shared-nothing SIP proxy driven by a Kamailio-style config.
//!
//! The binary parses Kamailio's command line, compiles the configuration once, binds one
//! SO_REUSEPORT socket per worker and listen address, steers datagrams to the worker that owns
//! their call (eBPF, or a hand-off over the worker mesh), and runs one pinned event loop
//! per worker (ARCHITECTURE.md). Protocol logic lives in the library crates; this crate owns
//! the I/O, the workers and the process.

mod cli;
mod ctl;
mod listen;
mod mesh;
mod poller;
mod signals;
mod tcp;
mod worker;

/// The process allocator (see `engine/Cargo.toml` for why not glibc's).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use cli::{Cli, SteeringMode};
use ferrosip_routing::cfg::Config;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("version: ferrosip {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let defines = cli.define_pairs();
    let mut cfg = match Config::load(&cli.file, &defines) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("ERROR: bad config file ({})", cli.file.display());
            return ExitCode::from(1);
        }
    };
    if cli.cfg_print {
        print!("{}", cfg.preprocessed);
        return ExitCode::SUCCESS;
    }
    let debug = cli.debug_level(cfg.core.debug);
    init_logging(debug, cli.color);
    // The effective level, as `cfg.get core debug` reports it.
    cfg.core.debug = debug;
    for notice in &cfg.notices {
        tracing::info!("{notice}");
    }
    cfg.core.aliases.extend(cli.alias.iter().cloned());
    if cli.no_tcp {
        cfg.core.disable_tcp = true;
    }
    // -m (MiB) bounds the transaction tables like Kamailio's shared memory (decision 4).
    if let Some(m) = cli.shm_mb {
        cfg.core.shm_mem = Some(m);
    }
    // -M (MiB, Kamailio's private memory per process; 0 means its default) bounds each
    // worker's TCP receive buffers.
    if let Some(m) = cli.pkg_mb {
        cfg.core.pkg_mem = Some(m);
    }
    let plan = match listen::plan(&cli, &cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}: {e}", cli.file.display());
            return ExitCode::from(1);
        }
    };
    if cli.check {
        eprintln!("config file ok, exiting...");
        return ExitCode::SUCCESS;
    }
    match run(cli, cfg, plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Maps Kamailio's debug levels onto `tracing` (L_ALERT -5 .. L_ERR -1, L_WARN 0, L_NOTICE 1,
/// L_INFO 2, L_DBG 3; 4 and above also enables per-message traces).
fn init_logging(debug: i32, color: bool) {
    let level = match debug {
        i32::MIN..=-1 => "error",
        0 => "warn",
        1 | 2 => "info",
        3 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROSIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_thread_names(true)
        .try_init();
}

fn run(cli: Cli, cfg: Config, plan: listen::Plan) -> Result<(), String> {
    signals::block_stop_signals();
    let workers = plan.workers;
    let bound = listen::bind_all(&plan).map_err(|e| format!("cannot bind: {e}"))?;
    let steering = listen::steer(&bound, workers, cli.steering)?;
    match (&steering, cli.steering) {
        (listen::SteerState::Bpf(_), _) => tracing::warn!(
            "call steering: eBPF reuseport program, {workers} workers (datagrams land on the worker owning their Call-ID)"
        ),
        (listen::SteerState::Mesh(why), SteeringMode::Mesh) => {
            tracing::warn!("call steering: user-space hand-off over the worker mesh ({why})")
        }
        (listen::SteerState::Single, _) => {
            tracing::warn!("call steering: not needed with one worker")
        }
        (listen::SteerState::Mesh(why), _) => tracing::warn!(
            "call steering: eBPF not available ({why}); user-space hand-off over the worker mesh"
        ),
    }
    if let Some(pid_file) = &cli.pid_file {
        std::fs::write(pid_file, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pid file {}: {e}", pid_file.display()))?;
    }
    for s in &bound.sockets {
        tracing::warn!("listening on {}:{}", s.proto, s.addr);
    }
    let cfg = Arc::new(cfg);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Dialog profile sizes, location and htables are process-wide (a caller's calls land
    // on several workers). A table that fails to load stops the start.
    let process = ferrosip_routing::sip::ProcessState::new(&cfg, workers)?;
    // The figures each worker publishes for the control interface.
    let board = Arc::new(ferrosip_routing::rpc::WorkerBoard::new(workers));
    // The control transports (jsonrpcs, ctl) start before the workers: a socket or FIFO
    // that cannot be created stops the start.
    let mut control = if ctl::wanted(&cfg) {
        let env = Arc::new(ferrosip_routing::rpc::RpcEnv::new(
            cfg.clone(),
            process.clone(),
            board.clone(),
            bound.sockets.clone(),
        ));
        env.add_proc(ctl::gettid(), "main process - attendant");
        let dir = ctl::runtime_dir(cli.runtime_dir.as_deref(), &cfg);
        Some(ctl::Control::start(&cfg, &dir, env).map_err(|e| format!("control interface: {e}"))?)
    } else {
        None
    };
    let (handles, mesh) = worker::spawn_all(&cfg, bound, workers, stop.clone(), &process, &board)?;
    let signal = signals::wait_for_stop();
    tracing::warn!("{signal} received: stopping workers");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    mesh.wake_all();
    let mut failed = false;
    for (i, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(stats)) => tracing::warn!("worker {i}: {stats}"),
            Ok(Err(e)) => {
                failed = true;
                tracing::error!("worker {i} failed: {e}");
            }
            Err(_) => {
                failed = true;
                tracing::error!("worker {i} panicked");
            }
        }
    }
    drop(steering);
    if let Some(c) = control.as_mut() {
        c.stop();
    }
    if let Some(pid_file) = &cli.pid_file {
        let _ = std::fs::remove_file(pid_file);
    }
    if failed {
        Err("a worker failed".into())
    } else {
        Ok(())
    }
}
